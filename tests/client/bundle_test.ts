/**
 * The client runs where the README says: `deno task build` bundles `mod.ts` into one ESM file,
 * `dist/client.js`, and that file connects to a real server and analyses a frame in Node 22
 * (`npx -y node@22`) and in headless Chromium (Debian's `/usr/bin/chromium`, driven by
 * playwright-core). On a Node without a global `WebSocket` the client says so.
 *
 * Chromium runs in a child Deno process (`bundle_browser.ts`): playwright-core needs
 * `--allow-all` there. The Chromium step is skipped only when `/usr/bin/chromium` is missing and
 * `PROACTIVE_REQUIRE_BROWSER` is not set; `.ci/run` installs Chromium and sets it.
 *
 * In Chromium the client also hashes screenshots (`screen_hash`, src/client/screen_hash.ts):
 * against a server that skips unchanged screens, a sample JPEG re-encoded with a few pixels
 * changed (other bytes) must be skipped, which only a hash computed from the pixels allows.
 */
import assert from "node:assert/strict";
import { CHROMIUM, skipBrowserTest } from "../fakes/chromium.ts";
import { OfflineModel } from "../../src/models/offline.ts";
import { startTestServer } from "../fakes/test_server.ts";
import { screenHashDistance } from "../../src/client/screen_hash.ts";
import type { Scenario } from "./bundle_browser.ts";

const ROOT = new URL("../../", import.meta.url);
const BUNDLE = new URL("dist/client.js", ROOT);
const NODE_RUNNER = new URL("bundle_node.mjs", import.meta.url);
const BROWSER_RUNNER = new URL("bundle_browser.ts", import.meta.url);
const NODE = ["-y", "node@22"];

interface SmokeResult {
  ok: boolean;
  browser?: string;
  node?: string;
  webSocket?: string;
  protocolVersion?: string;
  searches?: string[];
  type?: string;
  outcomeKind?: string;
  title?: string;
  name?: string;
  code?: string;
  message?: string;
}

/** Runs a command to completion (bounded) and returns its stdout; throws on failure. */
async function run(command: string, args: string[], timeoutMs = 180_000): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const { code, stdout, stderr } = await new Deno.Command(command, {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
      env: { NO_COLOR: "1" },
    }).output();
    const out = new TextDecoder().decode(stdout);
    if (code !== 0) {
      const err = new TextDecoder().decode(stderr);
      throw new Error(`${command} ${args.join(" ")} exited ${code}:\n${out}\n${err}`);
    }
    return out;
  } finally {
    clearTimeout(timer);
  }
}

/** The bundle smoke run in Node 22; `nodeFlags` go before the script. */
async function runInNode(wsUrl: string, nodeFlags: string[] = []): Promise<SmokeResult> {
  const out = await run("npx", [
    ...NODE,
    ...nodeFlags,
    NODE_RUNNER.pathname,
    BUNDLE.pathname,
    wsUrl,
  ]);
  const line = out.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as SmokeResult;
}

/** Runs `scenario` in headless Chromium against `wsUrl`; fails on errors on the page. */
async function runInChromium<T>(wsUrl: string, scenario: Scenario): Promise<T> {
  const out = await run(Deno.execPath(), [
    "run",
    "--allow-all",
    BROWSER_RUNNER.pathname,
    BUNDLE.pathname,
    wsUrl,
    CHROMIUM,
    scenario,
  ]);
  const result = JSON.parse(out.trim().split("\n").at(-1) ?? "") as T & { pageErrors: string[] };
  assert.deepEqual(result.pageErrors, [], "no errors on the page");
  return result;
}

/** One frame of `screen_hash_browser.mjs`: its terminal and what the socket sent. */
interface HashedFrame {
  name: string;
  type: string;
  skipped: string | null;
  /** The frame's `screen_hash` on the wire, or "(absent)". */
  sentHash: string | null;
}

interface HashSession {
  protocolVersion: string;
  frames: HashedFrame[];
}

interface ScreenHashResult {
  ok: boolean;
  message?: string;
  bytesDiffer: boolean;
  hashed: HashSession;
  unhashed: HashSession;
  v10: HashSession;
}

function assertAnalysed(result: SmokeResult): void {
  assert.equal(result.ok, true, `the smoke run failed: ${JSON.stringify(result)}`);
  assert.equal(result.protocolVersion, "1.1");
  assert.equal(result.type, "analysis_outcome");
  assert.equal(result.outcomeKind, "extract_task", JSON.stringify(result));
  assert.ok(result.title, "the extracted task has a title");
}

Deno.test({
  name: "bundle: dist/client.js runs in Node 22 and headless Chromium against a real server",
  // Child processes and the browser are awaited and closed; sanitizers stay on.
  async fn(t) {
    await run(Deno.execPath(), ["task", "build"]);
    const bundle = await Deno.readTextFile(BUNDLE);
    assert.doesNotMatch(bundle, /\bDeno\./, "the bundle uses no Deno API");
    assert.doesNotMatch(bundle, /from\s*["']node:/, "the bundle imports no Node module");

    await using server = startTestServer({ model: new OfflineModel() });

    await t.step("Node 22: connects and analyses a frame", async () => {
      const result = await runInNode(server.wsUrl);
      assert.match(result.node ?? "", /^v22\./);
      assertAnalysed(result);
    });

    await t.step("Node 22 without a global WebSocket: the error says so", async () => {
      const result = await runInNode(server.wsUrl, ["--no-experimental-websocket"]);
      assert.equal(result.webSocket, "undefined");
      assert.equal(result.ok, false);
      assert.equal(result.name, "ClientError");
      assert.equal(result.code, "NO_WEBSOCKET");
      assert.match(result.message ?? "", /No WebSocket implementation is available/);
    });

    await t.step({
      name: "headless Chromium: connects and analyses a frame",
      ignore: skipBrowserTest(),
      async fn() {
        assertAnalysed(await runInChromium<SmokeResult>(server.wsUrl, "smoke"));
      },
    });

    await t.step({
      name: "headless Chromium: frames carry a screen_hash computed from the pixels",
      ignore: skipBrowserTest(),
      async fn() {
        await using skipping = startTestServer({
          model: new OfflineModel(),
          limits: { skipUnchangedMs: 60_000, skipHashDistance: 4 },
        });
        const result = await runInChromium<ScreenHashResult>(skipping.wsUrl, "screen_hash");
        assert.equal(result.ok, true, `the run failed: ${JSON.stringify(result)}`);
        assert.equal(result.bytesDiffer, true, "the re-encoded JPEG has other bytes");
        const report = JSON.stringify(result);

        const { hashed, unhashed, v10 } = result;
        assert.equal(hashed.protocolVersion, "1.1");
        const [a, a2, b] = hashed.frames;
        for (const frame of hashed.frames) {
          assert.match(frame.sentHash ?? "", /^[0-9a-f]{16}$/, report);
          assert.equal(frame.type, "analysis_outcome", report);
        }
        assert.ok(screenHashDistance(a!.sentHash!, a2!.sentHash!) <= 4, report);
        assert.ok(screenHashDistance(a!.sentHash!, b!.sentHash!) > 4, report);
        // The server skipped the retouched screen (same text, near hash), not the other one.
        assert.deepEqual(hashed.frames.map((f) => f.skipped), [null, "unchanged_screen", null]);

        // Without hashes the same two JPEGs are two screens: the skip above came from them.
        assert.equal(unhashed.protocolVersion, "1.1");
        assert.deepEqual(unhashed.frames.map((f) => [f.sentHash, f.skipped]), [
          ["(absent)", null],
          ["(absent)", null],
        ]);

        // A 1.0 session never carries the field.
        assert.equal(v10.protocolVersion, "1.0");
        assert.deepEqual(v10.frames.map((f) => f.sentHash), ["(absent)", "(absent)"]);
      },
    });
  },
});
