/**
 * The shipped process, end to end: `main.ts` with no configuration serves the offline model,
 * and a desktop that says "can you send me the Q3 report by Friday?" gets a search and then a
 * task; Firebase authentication in front of it; SIGTERM drains it and it exits 0.
 */
import assert from "node:assert/strict";
import { FakeClient, rawUpgrade } from "./fakes/fake_client.ts";
import { FakeGemini, functionCallAnswer, type GeminiStep } from "./fakes/fake_gemini.ts";
import { IdentityProvider } from "./fakes/identity_provider.ts";
import { denoEnv } from "./fakes/deno_env.ts";
import { MainProcess } from "./fakes/main_process.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * Runs main.ts with exactly `env` until it exits, or until it logs that it listens (then it
 * is killed and `listened` is true): a start-up that should have been refused cannot hang.
 */
async function startUp(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", MAIN],
    clearEnv: true,
    env: denoEnv({ NO_COLOR: "1", ...env }),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  let listened = false;
  const pump = async (stream: ReadableStream<Uint8Array>, into: (text: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) into(chunk);
  };
  await Promise.all([
    pump(child.stdout, (text) => {
      stdout += text;
      if (!listened && stdout.includes('"msg":"listening"')) {
        listened = true;
        child.kill("SIGKILL");
      }
    }),
    pump(child.stderr, (text) => stderr += text),
  ]);
  const { code } = await child.status;
  return { code, stdout, stderr, listened };
}

Deno.test("main.ts with no configuration serves the offline model", async () => {
  await using main = await MainProcess.start();
  {
    await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
    const ready = await client.hello({ session_context: {} });
    assert.equal(ready.protocol_version, "1.0");
    client.send({
      type: "frame_event",
      frame_number: 1,
      screenshot_id: "s1",
      app_name: "Slack",
      window_title: "Slack | #team",
      ocr_text: "Hey, can you send me the Q3 report by Friday?",
    });
    const request = await client.expect("tool_call_request");
    assert.equal(request.tool_kind, "search_keywords");
    assert.match(request.query.toLowerCase(), /q3|report/);
    client.send({ type: "tool_result", request_id: request.request_id, results: [] });
    const outcome = await client.expect("analysis_outcome");
    assert.equal(outcome.outcome_kind, "extract_task");
    if (outcome.outcome_kind === "extract_task") {
      assert.match(outcome.task.title.toLowerCase(), /report/);
      assert.match(outcome.task.inferred_deadline, /^\d{4}-\d{2}-\d{2}$/);
    }
  }
  assert.equal((await main.stop("SIGTERM")).code, 0);
});

Deno.test("main.ts with AUTH_MODE=firebase runs a whole session on a verified token", async () => {
  await using idp = await IdentityProvider.start("omi-e2e");
  await using main = await MainProcess.start({
    FIREBASE_PROJECT_ID: idp.projectId,
    FIREBASE_JWKS_URL: idp.jwksUrl,
  });
  const refused = await rawUpgrade(`http://${main.host}/v1/proactive`);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();

  await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`, {
    authorization: `Bearer ${await idp.mint()}`,
  });
  await client.hello({ session_context: {} });
  client.send({
    type: "frame_event",
    frame_number: 1,
    app_name: "Mail",
    window_title: "Inbox",
    ocr_text: "Could you review the budget spreadsheet before tomorrow?",
  });
  const request = await client.expect("tool_call_request");
  client.send({ type: "tool_result", request_id: request.request_id, results: [] });
  const outcome = await client.expect("analysis_outcome");
  assert.equal(outcome.outcome_kind, "extract_task");
  assert.equal(idp.fetches, 1);
});

Deno.test("main.ts drains on SIGTERM: the running frame's outcome arrives, then 1001, exit 0", async () => {
  const MODEL_MS = 1_500;
  const slow: GeminiStep = {
    ...functionCallAnswer("no_task_found", { context_summary: "s", current_activity: "a" }),
    delayMs: MODEL_MS,
  } as GeminiStep;
  await using gemini = new FakeGemini([slow]);
  await using main = await MainProcess.start({
    GEMINI_API_KEY: "test-key",
    GEMINI_BASE_URL: gemini.baseUrl,
    DRAIN_TIMEOUT_MS: "10000",
  });
  await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
  await client.hello({ protocol_version: "1.1", session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Mail", ocr_text: "hi" });
  while (gemini.requests.length === 0) await new Promise((r) => setTimeout(r, 10));

  const stopping = main.stop("SIGTERM");
  assert.equal((await client.expect("go_away")).type, "go_away");
  const outcome = await client.expect("analysis_outcome");
  assert.equal(outcome.frame_id, "1");
  assert.equal(await client.closed, 1001);
  const { code, ms } = await stopping;
  assert.equal(code, 0);
  assert.ok(ms < 10_000, `exited within the drain budget (${Math.round(ms)} ms)`);
  assert.match(main.output, /"msg":"stopped"/);
});

Deno.test("main.ts refuses bad configuration with one line per variable", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", MAIN],
    clearEnv: true,
    env: denoEnv({ PORT: "eighty", HOST: "0.0.0.0", NO_COLOR: "1" }),
  }).output();
  assert.equal(output.code, 1);
  const stderr = new TextDecoder().decode(output.stderr).trim().split("\n");
  assert.deepEqual(stderr, [
    "proactive: configuration error: PORT must be an integer from 0 to 65535",
    "proactive: configuration error: AUTH_MODE=none is refused when HOST is not loopback " +
    "(HOST=0.0.0.0); set FIREBASE_PROJECT_ID",
  ]);
});

Deno.test("main.ts serves /metrics on METRICS_PORT only; the public port answers 404", async () => {
  await using main = await MainProcess.start();
  assert.ok(main.metricsHost, `no metrics address in the listening line: ${main.output}`);
  assert.notEqual(main.metricsHost, main.host);
  {
    await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
    await client.hello({ session_context: {} });
  }

  const publicMetrics = await fetch(`http://${main.host}/metrics`);
  assert.equal(publicMetrics.status, 404);
  const publicBody = await publicMetrics.text();
  assert.deepEqual(JSON.parse(publicBody), { error: "Not found" });
  assert.doesNotMatch(publicBody, /proactive_/);

  const scraped = await fetch(`http://${main.metricsHost}/metrics`);
  assert.equal(scraped.status, 200);
  assert.match(scraped.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await scraped.text();
  assert.match(text, /^# TYPE proactive_model_cost_usd_total counter$/m);
  assert.match(text, /^proactive_sessions_total 1$/m);

  const health = await fetch(`http://${main.metricsHost}/v1/health`);
  assert.equal(health.status, 404, "the metrics port serves nothing but /metrics");
  await health.body?.cancel();
  assert.equal((await main.stop("SIGTERM")).code, 0);
});

Deno.test("main.ts refuses a host or port it cannot listen on with one line, no stack", async (t) => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const busyPort = String((busy.addr as Deno.NetAddr).port);
  try {
    // FIREBASE_PROJECT_ID keeps the AUTH_MODE=none rule for non-loopback hosts out of the way.
    const base = { FIREBASE_PROJECT_ID: "omi-test", PORT: "0", METRICS_PORT: "0" };
    const cases: Array<{ name: string; env: Record<string, string>; line: RegExp }> = [
      {
        name: "HOST with a space",
        env: { HOST: "exa mple" },
        line:
          /^proactive: configuration error: HOST must be an IP address or a host name, got "exa mple"$/,
      },
      {
        name: "HOST with an unclosed bracket",
        env: { HOST: "[::1" },
        line:
          /^proactive: configuration error: HOST must be an IP address or a host name, got "\[::1"$/,
      },
      {
        name: "HOST that is a percent sign",
        env: { HOST: "%" },
        line:
          /^proactive: configuration error: HOST must be an IP address or a host name, got "%"$/,
      },
      {
        name: "HOST that is no address of this machine",
        env: { HOST: "192.0.2.1" },
        line: /^proactive: cannot listen: HOST=192\.0\.2\.1 is not an address of this machine/,
      },
      {
        name: "PORT in use",
        env: { HOST: "127.0.0.1", PORT: busyPort },
        line: new RegExp(
          `^proactive: cannot listen: PORT=${busyPort} is already in use on 127\\.0\\.0\\.1$`,
        ),
      },
      {
        name: "METRICS_PORT in use",
        env: { HOST: "127.0.0.1", METRICS_PORT: busyPort },
        line: new RegExp(
          `^proactive: cannot listen: METRICS_PORT=${busyPort} is already in use on 127\\.0\\.0\\.1$`,
        ),
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const { code, stdout, stderr, listened } = await startUp({ ...base, ...c.env });
        assert.equal(listened, false, `it started listening:\n${stdout}`);
        assert.equal(code, 1, stderr);
        assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
        const lines = stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
        assert.match(lines[0]!, c.line);
      });
    }
  } finally {
    busy.close();
  }
});

Deno.test("main.ts logs its WebSocket URL, IPv6 in brackets, and nothing that is not JSON", async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ["IPv4", "127.0.0.1", /^ws:\/\/127\.0\.0\.1:(\d+)\/v1\/proactive$/],
    ["IPv6", "::1", /^ws:\/\/\[::1\]:(\d+)\/v1\/proactive$/],
  ];
  for (const [name, host, ws] of cases) {
    await t.step(name, async () => {
      const { stdout, stderr, listened } = await startUp({
        HOST: host,
        PORT: "0",
        METRICS_PORT: "0",
      });
      assert.ok(listened, `did not start: ${stdout}${stderr}`);
      assert.equal(stderr, "");
      const lines = stdout.trim().split("\n").map((line) => JSON.parse(line));
      const listening = lines.find((line) => line.msg === "listening");
      const port = ws.exec(listening.ws)?.[1];
      assert.ok(port, `ws field: ${listening.ws}`);
      assert.equal(new URL(listening.url).port, port, "ws and url name the same listener");
    });
  }
});

Deno.test("main.ts --help prints its usage and exits 0 without listening", async () => {
  for (const flag of ["--help", "-h"]) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", "--allow-read", MAIN, flag],
      clearEnv: true,
      env: denoEnv({ PORT: "eighty", NO_COLOR: "1" }),
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, flag);
    assert.match(stdout, /^usage: /);
    assert.match(stdout, /ws:\/\/HOST:PORT\/v1\/proactive/);
    assert.doesNotMatch(stdout, /listening/);
  }
});
