/**
 * `MODEL_PROBE=true`: one tiny request per configured model at start, logged; `/readyz` says
 * 503 until the primary answered. Against the fake Gemini and OpenAI servers, and through
 * `main.ts` itself.
 */
import assert from "node:assert/strict";
import { createLogger, silentLogger } from "../../src/log.ts";
import { GeminiModel } from "../../src/models/gemini.ts";
import { OpenAIModel } from "../../src/models/openai.ts";
import { probeModel, startModelProbe } from "../../src/models/probe.ts";
import { errorAnswer, FakeGemini, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { FakeOpenAI, toolCallAnswer } from "../fakes/fake_openai.ts";
import { MainProcess } from "../fakes/main_process.ts";

const NO_TASK = { context_summary: "A start-up check", current_activity: "Probe" };

function gemini(fake: FakeGemini): GeminiModel {
  return new GeminiModel({
    model: "gemini-2.5-flash",
    apiKey: "AIzaFAKE-key",
    baseUrl: fake.baseUrl,
    thinkingBudget: 0,
    maxRetries: 0,
    log: silentLogger,
  });
}

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

Deno.test("the probe reports the tool_choice form an OpenAI-compatible server took", async () => {
  await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", NO_TASK)], {
    refuseRequired: true,
  });
  const model = new OpenAIModel({
    model: "qwen2.5-vl",
    baseUrl: fake.baseUrl,
    maxRetries: 0,
    log: silentLogger,
  });
  const result = await probeModel(model, 5_000);
  assert.deepEqual({ ...result, ms: 0 }, {
    model: "openai:qwen2.5-vl",
    ok: true,
    ms: 0,
    function: "no_task_found",
    toolChoice: "auto",
  });
  // The refused "required", then "auto"; no screenshot in a probe.
  assert.deepEqual(
    fake.requests.map((r) => (r.body as { tool_choice: string }).tool_choice),
    ["required", "auto"],
  );
  assert.doesNotMatch(fake.requests[1]!.raw, /image_url/);
});

Deno.test("the primary is probed until it answers; the fallbacks once each", async () => {
  await using primary = new FakeGemini([errorAnswer(503), errorAnswer(401)]);
  await using second = new FakeOpenAI([errorAnswer(404)]);
  const lines: string[] = [];
  const log = createLogger({ level: "info", sink: (line) => lines.push(line) });
  const fallback = new OpenAIModel({
    model: "gpt-4.1-mini",
    baseUrl: second.baseUrl,
    apiKey: "sk-FAKE",
    maxRetries: 0,
    log: silentLogger,
  });
  const probe = startModelProbe({
    models: [gemini(primary), fallback],
    timeoutMs: 5_000,
    log,
    retryMs: 10,
    maxRetryMs: 20,
  });
  try {
    const first = await probe.firstRound;
    assert.deepEqual(first.map((r) => [r.model, r.ok, r.error]), [
      ["gemini:gemini-2.5-flash", false, "Model request failed (HTTP 503)"],
      ["openai:gpt-4.1-mini", false, "Model request failed (HTTP 404)"],
    ]);
    assert.equal(probe.ready, false);
    // The retry gets the 401, the next one an answer.
    primary.push(functionCallAnswer("no_task_found", NO_TASK));
    await until(() => probe.ready, "the primary answered a later probe");
    assert.equal(primary.requests.length, 3);
    assert.equal(second.requests.length, 1, "a fallback is probed once");
  } finally {
    await probe.stop();
  }
  const probes = lines.filter((l) => l.includes('"msg":"model probe"'));
  assert.equal(probes.length, 4);
  assert.match(probes.at(-1)!, /"ok":true.*"function":"no_task_found"/);
  for (const line of lines) assert.doesNotMatch(line, /AIzaFAKE|sk-FAKE|start-up check/);
});

Deno.test("stop() ends a probe waiting to retry", async () => {
  await using primary = new FakeGemini([errorAnswer(500)]);
  const probe = startModelProbe({
    models: [gemini(primary)],
    timeoutMs: 5_000,
    log: silentLogger,
    retryMs: 60_000,
  });
  await probe.firstRound;
  assert.equal(probe.ready, false);
  await probe.stop(); // must not wait the minute: the sanitizers see no timer left
  assert.equal(primary.requests.length, 1);
});

Deno.test("main.ts with MODEL_PROBE=true: /readyz says 503 until the primary answered", async () => {
  await using fake = new FakeGemini([errorAnswer(503)]);
  await using main = await MainProcess.start({
    GEMINI_API_KEY: "AIzaFAKE-key",
    GEMINI_BASE_URL: fake.baseUrl,
    MODEL_PROBE: "true",
    LOG_LEVEL: "info",
  });
  const readyz = async () => {
    const response = await fetch(`http://${main.host}/readyz`);
    return { status: response.status, body: await response.json() };
  };
  await until(() => fake.requests.length >= 1, "the probe reached the model");
  // Gemini retries a 503 by itself; while it does and after, the pod is not ready.
  assert.deepEqual(await readyz(), { status: 503, body: { status: "warming_up" } });
  // Answered by Gemini's own retry, or by the probe's next round (5 s later).
  fake.push(functionCallAnswer("no_task_found", NO_TASK));
  for (let i = 0; i < 200; i++) {
    if ((await readyz()).status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(await readyz(), { status: 200, body: { status: "ready" } });
  assert.match(main.output, /"msg":"model probe".*"ok":true/);
  assert.equal((await main.stop("SIGTERM")).code, 0);
});
