/**
 * The developer console in headless Chromium (Debian's `/usr/bin/chromium`, driven by
 * playwright-core in a child process, `console_browser.ts`) against `main.ts` as a real
 * process: with the offline model, with the fake Gemini (a search answered by hand too), and
 * with Firebase auth on (the token in `Sec-WebSocket-Protocol`). Each run sends the README's
 * Slack example, sees the search answered from the page's list and `extract_task` with its
 * timings, sees the same screen again skipped, saves the first frame as an eval case and runs
 * it through `deno task eval`. Skipped only when Chromium is missing and
 * `PROACTIVE_REQUIRE_BROWSER` is not set.
 */
import assert from "node:assert/strict";
import { CHROMIUM, skipBrowserTest } from "../fakes/chromium.ts";
import { runDeno } from "../fakes/deno_env.ts";
import { FakeGemini } from "../fakes/fake_gemini.ts";
import { IdentityProvider } from "../fakes/identity_provider.ts";
import { MainProcess } from "../fakes/main_process.ts";
import type { FrameView, RunResult } from "./console_browser.ts";
import { consoleGeminiScript } from "./gemini_script.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const RUNNER = new URL("console_browser.ts", import.meta.url).pathname;

async function drive(
  main: MainProcess,
  dir: string,
  options: {
    token?: string;
    byHand?: boolean;
    privacy?: boolean;
    protocol?: string;
    screenshots?: boolean;
  } = {},
): Promise<RunResult> {
  const args = ["run", "--allow-all", RUNNER, `http://${main.host}`, dir, "--chromium", CHROMIUM];
  if (options.byHand) args.push("--by-hand");
  if (options.screenshots) args.push("--screenshots", dir);
  if (options.privacy) args.push("--privacy");
  if (options.protocol) args.push("--protocol", options.protocol);
  const run = await runDeno(args, {
    cwd: ROOT,
    ...(options.token ? { env: { PROACTIVE_CONSOLE_TOKEN: options.token } } : {}),
  });
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "") as RunResult;
}

/** Width and height of a PNG file, from its IHDR chunk. */
async function pngSize(path: string): Promise<{ width: number; height: number }> {
  const bytes = await Deno.readFile(path);
  assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], `${path} is not a PNG`);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

function kinds(frame: FrameView): string[] {
  return frame.steps.map((s) => s.kind);
}

/** What every run must show, whatever the model. */
function assertCommon(r: RunResult, host: string): void {
  assert.deepEqual(r.pageErrors, [], "no errors on the page");
  assert.deepEqual(r.consoleErrors, [], "no console errors");
  for (const url of r.requests) {
    assert.ok(new URL(url).host === host, `a request left the server: ${url}`);
  }
  assert.match(r.status, /^connected/);
  const [first, second, third] = r.frames;
  assert.ok(first && second && third, "three frames shown");
  // The Slack example: a search answered from the list, then the task.
  assert.equal(first.outcome, "extract_task");
  const steps = kinds(first);
  assert.equal(steps[0], "sent");
  assert.equal(steps.at(-1), "terminal");
  assert.deepEqual(steps.filter((k) => k !== "sent" && k !== "terminal"), [
    "model_call",
    "search",
    "model_call",
  ]);
  const search = first.steps.find((s) => s.kind === "search")!;
  assert.match(search.text, /search_keywords “[^”]+” → \d+ results?/);
  for (const call of first.steps.filter((s) => s.kind === "model_call")) {
    assert.match(call.text, /^\d+ msmodel call \d \(/, call.text);
    assert.match(call.text, /\d[\d,]* in \(\d[\d,]* cached\), \d[\d,]* out, \$\d/);
  }
  assert.match(first.steps.at(-1)!.text, /^\d+ msanalysis_outcome.*outcome.*extract_task.*task/);
  assert.match(first.head, /\d+ ms · \$\d/);
  // The same screen again, with the extracted task in the list: deduped against it.
  assert.equal(second.outcome, "reject_task");
  assert.match(second.steps.find((s) => s.kind === "search")!.text, /→ \d+ results?: #2/);
  // And once more, nothing changed: answered without the model.
  assert.equal(third.outcome, "no_task_found");
  assert.deepEqual(kinds(third), ["sent", "skipped", "terminal"]);
  assert.match(third.steps[1]!.text, /unchanged screen — no model call/);
  // The extracted task joined the list, after the one typed in.
  assert.equal(r.activeTasks[0], "#1Book flights to Berlin");
  assert.match(r.activeTasks[1] ?? "", /^#2.*Q3 report/i);
  assert.equal(r.totals.frames, String(r.frames.length));
  // The raw log, both ways, in protocol order.
  const log = r.log.join(",");
  assert.match(
    log,
    /^out client_hello,in session_ready,out frame_event,in tool_call_request,out tool_result,in analysis_outcome,out frame_event,in tool_call_request,out tool_result,in analysis_outcome,out frame_event,in analysis_outcome/,
  );
  const logged = JSON.parse(r.loggedFrame) as Record<string, unknown>;
  assert.equal(logged.type, "frame_event");
  assert.equal(logged.ocr_text, "Hey, can you send me the Q3 report by Friday?");
  // Keyboard: every control of the form is reached by Tab (Connect and the version are
  // disabled while connected).
  for (
    const id of [
      "disconnect",
      "add-active",
      "app",
      "title",
      "ocr",
      "drop",
      "answer-mode",
      "send",
    ]
  ) {
    assert.ok(r.tabOrder.includes(id), `Tab never reaches #${id}: ${r.tabOrder.join(" ")}`);
  }
  assert.ok(r.narrowScrollWidth <= 390, `scrolls sideways at 390 px: ${r.narrowScrollWidth}`);
}

/** The saved case: the first frame, the context it was sent with, its outcome as `expect`. */
async function assertEvalCase(r: RunResult, dir: string): Promise<void> {
  const line = JSON.parse(r.evalCase.trim()) as {
    id: string;
    expect: string;
    frame: Record<string, string>;
    context: { active_tasks: Array<{ description: string }>; goals: Array<{ title: string }> };
  };
  assert.equal(r.evalCase.trim().split("\n").length, 1);
  assert.equal(line.expect, "extract_task");
  assert.deepEqual(line.frame, {
    app_name: "Slack",
    window_title: "#general",
    ocr_text: "Hey, can you send me the Q3 report by Friday?",
  });
  assert.deepEqual(line.context.active_tasks.map((t) => t.description), [
    "Book flights to Berlin",
  ]);
  assert.deepEqual(line.context.goals.map((g) => g.title), ["Ship the Q4 roadmap"]);
  const run = await runDeno(
    ["task", "--quiet", "eval", `${dir}/case.jsonl`, "--provider", "offline", "--fail-under", "1"],
    { cwd: ROOT },
  );
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /offline/);
}

Deno.test({
  name: "console: the offline model, auth off — a frame's whole journey, then an eval case",
  ignore: skipBrowserTest(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "console_offline_" });
    try {
      await using main = await MainProcess.start();
      const r = await drive(main, dir, { screenshots: true, privacy: true });
      assertCommon(r, main.host);
      assert.match(r.frames[0]!.steps[1]!.text, /model call 1 \(offline\) → search_keywords/);
      // The card number: redacted before the model, and the timeline says so.
      const card = r.frames[3]!;
      assert.equal(card.steps[1]!.kind, "privacy");
      assert.match(card.steps[1]!.text, /privacy guard redacted 1 card/);
      assert.doesNotMatch(JSON.stringify(card), /4111/, "the page shows no card number back");
      // The screenshots the docs show (tests/console/screenshots.ts writes those).
      assert.deepEqual(await pngSize(`${dir}/console-1280.png`), { width: 1280, height: 800 });
      const narrow = await pngSize(`${dir}/console-390.png`);
      assert.equal(narrow.width, 390);
      assert.ok(narrow.height >= 844, `${narrow.height}`);
      await assertEvalCase(r, dir);
      assert.equal((await main.stop("SIGTERM")).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "console: the fake Gemini — tokens and cost per call, a search answered by hand",
  ignore: skipBrowserTest(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "console_gemini_" });
    try {
      await using gemini = new FakeGemini(consoleGeminiScript());
      await using main = await MainProcess.start({
        GEMINI_API_KEY: "test-key",
        GEMINI_BASE_URL: gemini.baseUrl,
      });
      const r = await drive(main, dir, { byHand: true });
      assertCommon(r, main.host);
      const calls = r.frames[0]!.steps.filter((s) => s.kind === "model_call");
      assert.match(
        calls[0]!.text,
        /\(gemini:gemini-2\.5-flash\) → search_keywords: 2,400 in \(0 cached\), 12 out/,
      );
      assert.match(calls[1]!.text, /→ extract_task: 2,500 in \(2,048 cached\), 60 out/);
      const fourth = r.frames[3]!;
      assert.equal(fourth.outcome, "reject_task");
      const byHand = fourth.steps.find((s) => s.kind === "search")!;
      assert.match(
        byHand.text,
        /search_similar “send Q3 report to Sarah” \(by hand\) → 1 result: #2/,
      );
      assert.equal(gemini.requests.length, 6, "the skipped frame made no model call");
      // The screenshot was resized and encoded in the page, and sent to the model as JPEG.
      assert.equal(r.preview, "Screenshot, 1280×640");
      assert.match(fourth.steps[0]!.text, /with a screenshot/);
      const image = JSON.stringify(gemini.requests[4]!.body).match(
        /"inlineData":\{"mimeType":"image\/jpeg","data":"([^"]+)"/,
      );
      assert.ok(image, "the fourth frame's request carries the screenshot");
      assert.ok(image[1]!.startsWith("/9j/"), "a JPEG");
      // What the page answered by hand is what reached the model.
      assert.match(JSON.stringify(gemini.requests[5]!.body), /Send the Q3 report/);
      await assertEvalCase(r, dir);
      assert.equal((await main.stop("SIGTERM")).code, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "console: Firebase auth on — the token goes in Sec-WebSocket-Protocol, never a URL or a log",
  ignore: skipBrowserTest(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "console_auth_" });
    try {
      await using idp = await IdentityProvider.start("console-e2e");
      await using main = await MainProcess.start({
        FIREBASE_PROJECT_ID: idp.projectId,
        FIREBASE_JWKS_URL: idp.jwksUrl,
        CONSOLE: "on",
      });
      const token = await idp.mint();
      const r = await drive(main, dir, { token, protocol: "1.0" });
      assertCommon(r, main.host);
      assert.match(r.status, /^connected \(1\.0\)/);
      for (const url of r.requests) assert.ok(!url.includes(token), "the token is in a URL");
      await assertEvalCase(r, dir);
      assert.equal((await main.stop("SIGTERM")).code, 0);
      assert.ok(!main.output.includes(token), "the token is in the server's output");
      assert.ok(!main.output.includes(token.split(".")[2]!), "the token's signature is logged");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
