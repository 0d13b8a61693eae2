/**
 * Vertex AI through Application Default Credentials, the way GKE runs it: the real `main.ts`
 * as a child process with exactly the permission flags of `deno task start` (read from
 * deno.json, so the test breaks when they drift), no credentials file and no injected token
 * source. google-auth-library and gcp-metadata do their real lookup: the gcloud file under
 * `$HOME`, GCE residency (BIOS files, network interfaces), then the metadata server, here a
 * fake one at `GCE_METADATA_HOST`. The token it hands out must reach the fake Vertex endpoint.
 */
import assert from "node:assert/strict";
import { FakeClient } from "../fakes/fake_client.ts";
import { FakeGemini, FakeMetadataServer, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { MainProcess } from "../fakes/main_process.ts";
import { commandOf } from "../../scripts/shipped.ts";

const ROOT = new URL("../../", import.meta.url);
const PROJECT = "adc-project";
const LOCATION = "europe-west4";
const TOKEN = "ya29.fake-metadata-token-7d1c";

/** The permission flags (`--allow-*`, `--deny-*`) of a command line. */
function permissionFlags(words: string[]): string[] {
  return words.filter((word) => /^--(allow|deny)-/.test(word) || word === "-A");
}

/**
 * The shipped command lines: deno.json's start task, the commands `deno task dev` and
 * `deno task compile` run (scripts/shipped.ts), and the image's CMD.
 */
async function shipped() {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks;
  const cmd = (await Deno.readTextFile(new URL("Dockerfile", ROOT))).split("\n")
    .find((line) => line.startsWith("CMD "));
  return {
    start: String(tasks.start).split(/\s+/),
    dev: await commandOf("dev"),
    compile: await commandOf("compile"),
    image: JSON.parse(cmd?.slice(4) ?? "[]") as string[],
  };
}

/** The flags `deno task start` runs main.ts with; fails unless it is `deno run <flags> main.ts`. */
async function startFlags(): Promise<string[]> {
  const { start } = await shipped();
  const flags = start.slice(2, -1);
  assert.deepEqual([...start.slice(0, 2), start.at(-1)], ["deno", "run", "main.ts"]);
  assert.deepEqual(flags, permissionFlags(flags), "the start task has only permission flags");
  return flags;
}

/** Where this Deno keeps its caches: the child gets it as `DENO_DIR`, as the image does. */
async function denoDir(): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return JSON.parse(new TextDecoder().decode(stdout)).denoDir;
}

/**
 * The child's environment (on top of what Deno needs, `HOME` excepted): what the chart sets
 * for `model.provider=vertex` on GKE, the fakes' addresses, and no
 * `GOOGLE_APPLICATION_CREDENTIALS`. `home` is `HOME` (absent when undefined); the runtime gives
 * the image's uid 1993, which has no passwd entry, `HOME=/`.
 */
async function vertexEnv(
  vertex: FakeGemini,
  metadata: FakeMetadataServer,
  home: string | undefined,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    DENO_DIR: await denoDir(),
    MODEL_PROVIDER: "vertex",
    GOOGLE_CLOUD_PROJECT: PROJECT,
    GOOGLE_CLOUD_LOCATION: LOCATION,
    GEMINI_BASE_URL: vertex.baseUrl,
    GCE_METADATA_HOST: metadata.host,
  };
  if (home !== undefined) env.HOME = home;
  assert.ok(!("GOOGLE_APPLICATION_CREDENTIALS" in env));
  return env;
}

/** Resolves once `test` holds, checking every 20 ms; rejects when `signal` aborts. */
async function waitFor(test: () => boolean, signal: AbortSignal): Promise<void> {
  while (!test()) {
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Sends one frame over a real WebSocket and returns the frame's terminal message. */
async function oneFrame(main: MainProcess) {
  await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
  await client.hello({ session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Terminal", ocr_text: "ls" });
  for (;;) {
    const message = await client.next();
    if (message.type === "analysis_outcome" || message.type === "server_error") return message;
  }
}

Deno.test("the shipped permissions are one narrow set: deno.json start, dev, compile and the image", async () => {
  const { dev, compile, image } = await shipped();
  const flags = await startFlags();
  assert.deepEqual(permissionFlags(dev), flags, "deno task dev");
  assert.deepEqual(permissionFlags(compile), flags, "deno task compile");
  assert.deepEqual(permissionFlags(image), flags, "the Dockerfile's CMD");
  // Narrow: no blanket grant of what the credential lookup only needs a little of.
  for (const blanket of ["-A", "--allow-all", "--allow-read", "--allow-sys", "--allow-run"]) {
    assert.ok(!flags.includes(blanket), `${blanket} is not shipped`);
  }
  assert.ok(!flags.some((flag) => flag.startsWith("--allow-write")), "nothing is written");
});

Deno.test("MODEL_PROVIDER=vertex with `deno task start`'s flags gets its token from the metadata server", async (t) => {
  const flags = await startFlags();
  const cases: Array<[string, string | undefined]> = [
    ["HOME unset", undefined],
    ["HOME=/ as in the image", "/"],
  ];
  for (const [name, home] of cases) {
    await t.step(name, async () => {
      await using metadata = new FakeMetadataServer({ accessToken: TOKEN, projectId: PROJECT });
      await using vertex = new FakeGemini([
        functionCallAnswer("no_task_found", {
          context_summary: "Listing files",
          current_activity: "Using a terminal",
        }),
      ]);
      await using main = await MainProcess.start(await vertexEnv(vertex, metadata, home), {
        permissions: flags,
        cwd: ROOT.pathname,
        // HOME is what this test is about: never this process's, only the case's own.
        omitEnv: ["HOME"],
      });
      assert.match(main.output, /"model":"vertex:gemini-2\.5-flash"/);

      const terminal = await oneFrame(main);
      assert.equal(terminal.type, "analysis_outcome", JSON.stringify(terminal));
      if (terminal.type === "analysis_outcome") {
        assert.deepEqual([terminal.outcome_kind, terminal.context_summary], [
          "no_task_found",
          "Listing files",
        ]);
      }
      assert.equal(vertex.requests.length, 1);
      const request = vertex.requests[0]!;
      assert.equal(
        request.path,
        `/v1beta1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.5-flash:generateContent`,
      );
      assert.equal(request.headers.get("authorization"), `Bearer ${TOKEN}`);
      assert.equal(request.headers.get("x-goog-api-key"), null);

      const [tokenRequest, ...more] = metadata.tokenRequests;
      assert.ok(tokenRequest, "the token came from the metadata server");
      assert.equal(more.length, 0);
      assert.equal(tokenRequest.headers.get("metadata-flavor"), "Google");
      assert.match(
        tokenRequest.path,
        /scopes=https%3A%2F%2Fwww\.googleapis\.com%2Fauth%2Fcloud-platform/,
      );
      // The project is given: google-auth-library neither asks for it nor runs `gcloud`.
      assert.ok(!metadata.requests.some((r) => r.path.includes("project-id")));

      assert.doesNotMatch(main.output, /NotCapable|permission|network error/i);
      assert.ok(!main.output.includes(TOKEN), "the token is in no log line");
      assert.equal((await main.stop()).code, 0);
    });
  }
});

Deno.test("a credential lookup the permissions stop is logged as a permission error, not a network error", async (t) => {
  const flags = await startFlags();
  const cases: Array<[string, string[], string | undefined, RegExp]> = [
    [
      "the old --allow-read=. with HOME=/: the gcloud file cannot be probed",
      ["--allow-net", "--allow-env", "--allow-read=."],
      "/",
      /Requires read access to .*\/\.config\/gcloud\/application_default_credentials\.json/,
    ],
    [
      "no --allow-sys=networkInterfaces: GCE residency cannot be checked",
      flags.filter((flag) => !flag.startsWith("--allow-sys")),
      undefined,
      /Requires sys access to .*networkInterfaces/,
    ],
  ];
  for (const [name, permissions, home, detail] of cases) {
    await t.step(name, async () => {
      await using metadata = new FakeMetadataServer({ accessToken: TOKEN, projectId: PROJECT });
      await using vertex = new FakeGemini([functionCallAnswer("no_task_found", {})]);
      await using main = await MainProcess.start(await vertexEnv(vertex, metadata, home), {
        permissions,
        cwd: ROOT.pathname,
        omitEnv: ["HOME"],
      });
      const terminal = await oneFrame(main);
      assert.equal(terminal.type, "server_error", JSON.stringify(terminal));
      if (terminal.type === "server_error") {
        assert.deepEqual([terminal.code, terminal.message, terminal.retryable], [
          "GEMINI_ERROR",
          "Model credentials could not be obtained (permission denied)",
          true,
        ]);
      }
      assert.equal(vertex.requests.length, 0, "no request went out without credentials");

      const signal = AbortSignal.timeout(5_000);
      const logged = () =>
        main.output.split("\n").filter((line) => line.startsWith("{")).map((line) =>
          JSON.parse(line) as Record<string, unknown>
        );
      await waitFor(
        () => logged().some((l) => l.msg === "model call failed: permission denied"),
        signal,
      );
      const line = logged().find((l) => l.msg === "model call failed: permission denied")!;
      assert.deepEqual([line.level, line.code, line.stage, line.error], [
        "error",
        "PERMISSION",
        "credentials",
        "NotCapable",
      ]);
      assert.match(String(line.detail), detail);
      assert.doesNotMatch(main.output, /network error/);
      assert.equal((await main.stop()).code, 0);
    });
  }
});
