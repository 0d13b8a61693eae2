/**
 * `MODEL_FALLBACKS`: the chain of real providers (Gemini's and OpenAI's SDKs) against fake
 * servers that speak their wire formats. A frame is decided by the fallback while the primary
 * answers 503; the cool-down keeps the primary out; a tool loop stays on its model; failures
 * another model would not fix are not passed on.
 */
import assert from "node:assert/strict";
import { analyzeFrame } from "../../src/analysis/analyze_frame.ts";
import { type AnalysisRequest, type Model, ModelError } from "../../src/analysis/model.ts";
import { buildModel } from "../../src/compose.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger, silentLogger } from "../../src/log.ts";
import { FallbackModel, type FallbackReason } from "../../src/models/fallback.ts";
import { GeminiModel } from "../../src/models/gemini.ts";
import { OpenAIModel } from "../../src/models/openai.ts";
import type { AnalysisOutcome, ServerError, ToolResult } from "../../src/protocol/messages.ts";
import { errorAnswer, FakeGemini, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { FakeOpenAI, toolCallAnswer } from "../fakes/fake_openai.ts";

function request(n: number): AnalysisRequest {
  return {
    frame: {
      frameId: `f${n}`,
      appName: "Slack",
      windowTitle: "#team",
      ocrText: `Sarah: can you send me the Q3 report by Friday? (${n})`,
    },
    context: { active_tasks: [{ task_id: 1, description: "Book flights", priority: "low" }] },
    today: "2026-12-03",
  };
}

function gemini(fake: FakeGemini): GeminiModel {
  return new GeminiModel({
    model: "gemini-2.5-flash",
    apiKey: "AIzaFAKE-key",
    baseUrl: fake.baseUrl,
    thinkingBudget: 0,
    maxRetries: 1,
    retryBaseMs: 5,
    log: silentLogger,
  });
}

function openai(fake: FakeOpenAI): OpenAIModel {
  return new OpenAIModel({
    model: "gpt-4.1-mini",
    baseUrl: fake.baseUrl,
    apiKey: "sk-FAKE",
    vision: true,
    maxRetries: 0,
    log: silentLogger,
  });
}

/** One frame through the real loop; searches are answered with one result. */
async function analyze(
  model: Model,
  req: AnalysisRequest,
  options: { modelCallTimeoutMs?: number; onToolCall?: () => void } = {},
): Promise<AnalysisOutcome | ServerError> {
  const run = analyzeFrame(req, {
    model,
    signal: new AbortController().signal,
    analysisTimeoutMs: 30_000,
    modelCallTimeoutMs: options.modelCallTimeoutMs ?? 10_000,
    toolResultTimeoutMs: 5_000,
  });
  let input: ToolResult | undefined;
  for (;;) {
    const step = await run.next(input);
    if (step.done) throw new Error("the loop ended without a terminal");
    if (step.value.kind === "terminal") {
      await run.return(undefined);
      return step.value.message;
    }
    options.onToolCall?.();
    input = {
      type: "tool_result",
      request_id: step.value.message.request_id,
      results: [{ task_id: 1, description: "Book flights", status: "active" }],
    };
  }
}

const EXTRACT = {
  title: "Send the Q3 report to Sarah",
  description: "Sarah asked for the Q3 report by Friday",
  priority: "high",
  confidence: 0.9,
  context_summary: "Sarah asks for the Q3 report",
  current_activity: "Reading Slack",
};

/** A chain of `models` with a 30 s cool-down, and the fallbacks it reported. */
function chainOf(models: Model[]): {
  chain: FallbackModel;
  fallbacks: Array<[string, FallbackReason]>;
} {
  const fallbacks: Array<[string, FallbackReason]> = [];
  const chain = new FallbackModel({
    models,
    cooldownMs: 30_000,
    log: silentLogger,
    onFallback: (model, reason) => fallbacks.push([model, reason]),
  });
  return { chain, fallbacks };
}

class Clock {
  ms = 1_000_000;
  now = () => this.ms;
}

Deno.test("a frame is decided by the fallback while the primary answers 503, then the cool-down skips it", async (t) => {
  await using primary = new FakeGemini([errorAnswer(503), errorAnswer(503)]);
  await using second = new FakeOpenAI([
    toolCallAnswer("extract_task", EXTRACT),
    toolCallAnswer("no_task_found", { context_summary: "Nothing", current_activity: "Slack" }),
    toolCallAnswer("no_task_found", { context_summary: "Nothing", current_activity: "Slack" }),
  ]);
  const clock = new Clock();
  const fallbacks: Array<[string, FallbackReason]> = [];
  const lines: string[] = [];
  const chain = new FallbackModel({
    models: [gemini(primary), openai(second)],
    cooldownMs: 30_000,
    log: createLogger({ level: "info", sink: (line) => lines.push(line) }),
    onFallback: (model, reason) => fallbacks.push([model, reason]),
    now: clock.now,
  });
  assert.equal(chain.name, "gemini:gemini-2.5-flash");

  await t.step("the primary's 503 (after its own retry) moves the call on", async () => {
    const outcome = await analyze(chain, request(1));
    assert.equal(outcome.type, "analysis_outcome", JSON.stringify(outcome));
    const decided = outcome as AnalysisOutcome;
    assert.equal(decided.outcome_kind, "extract_task");
    assert.equal(decided.usage.model, "openai:gpt-4.1-mini");
    assert.equal(primary.requests.length, 2, "the primary was tried with its own retry");
    assert.equal(second.requests.length, 1);
    assert.deepEqual(fallbacks, [["gemini:gemini-2.5-flash", "server_error"]]);
    assert.equal(lines.filter((l) => l.includes("model failing")).length, 1);
    assert.match(lines.find((l) => l.includes("model failing"))!, /"reason":"server_error"/);
  });

  await t.step("within the cool-down the primary is not even tried", async () => {
    clock.ms += 29_000;
    const outcome = await analyze(chain, request(2)) as AnalysisOutcome;
    assert.equal(outcome.usage.model, "openai:gpt-4.1-mini");
    assert.equal(primary.requests.length, 2, "no request reached the primary");
    assert.equal(second.requests.length, 2);
    assert.equal(fallbacks.length, 1, "skipping a cooling model is no fallback");
  });

  await t.step(
    "after the cool-down the primary is first again, and its recovery logged",
    async () => {
      clock.ms += 2_000;
      primary.push(functionCallAnswer("no_task_found", { context_summary: "Idle" }));
      const outcome = await analyze(chain, request(3)) as AnalysisOutcome;
      assert.equal(outcome.usage.model, "gemini:gemini-2.5-flash");
      assert.equal(primary.requests.length, 3);
      assert.equal(second.requests.length, 2);
      assert.equal(lines.filter((l) => l.includes("model answering again")).length, 1);
    },
  );
  for (const line of lines) assert.doesNotMatch(line, /Q3 report|AIzaFAKE|sk-FAKE/);
});

Deno.test("a tool loop stays on the model that asked for the search", async () => {
  // The primary fails the first call; the fallback asks for a search; by the second call the
  // primary would answer, but the conversation is the fallback's.
  await using primary = new FakeGemini([errorAnswer(429), errorAnswer(429)]);
  await using second = new FakeOpenAI([
    toolCallAnswer("search_similar", { query: "Q3 report" }),
    toolCallAnswer("extract_task", EXTRACT),
  ]);
  const chain = new FallbackModel({
    models: [gemini(primary), openai(second)],
    cooldownMs: 0,
    log: silentLogger,
  });
  let searches = 0;
  const outcome = await analyze(chain, request(1), { onToolCall: () => searches++ });
  assert.equal(searches, 1);
  assert.equal((outcome as AnalysisOutcome).outcome_kind, "extract_task");
  assert.equal((outcome as AnalysisOutcome).usage.model, "openai:gpt-4.1-mini");
  assert.equal((outcome as AnalysisOutcome).usage.model_calls, 2);
  assert.equal(primary.requests.length, 2, "cooldown 0 tried it again? no: the loop is pinned");
  assert.equal(second.requests.length, 2);
  // The second request carries the search's answer under the first request's call id.
  const messages = (second.requests[1]!.body as { messages: Array<{ role: string }> }).messages;
  assert.deepEqual(messages.map((m) => m.role), ["system", "user", "assistant", "tool"]);
});

Deno.test("a failure another model would not fix is the frame's answer", async () => {
  await using primary = new FakeGemini([errorAnswer(400)]);
  await using second = new FakeOpenAI([
    toolCallAnswer("no_task_found", { context_summary: "x", current_activity: "y" }),
  ]);
  const fallbacks: string[] = [];
  const chain = new FallbackModel({
    models: [gemini(primary), openai(second)],
    cooldownMs: 30_000,
    log: silentLogger,
    onFallback: (model) => fallbacks.push(model),
  });
  const outcome = await analyze(chain, request(1));
  assert.equal(outcome.type, "server_error");
  assert.equal((outcome as ServerError).code, "GEMINI_ERROR");
  assert.equal(second.requests.length, 0);
  assert.deepEqual(fallbacks, []);
});

Deno.test("a primary that hangs gets half the call's time, the fallback the rest", async () => {
  await using primary = new FakeGemini([{ hang: true }]);
  await using second = new FakeOpenAI([
    toolCallAnswer("no_task_found", { context_summary: "x", current_activity: "y" }),
  ]);
  const { chain, fallbacks } = chainOf([gemini(primary), openai(second)]);
  const started = performance.now();
  const outcome = await analyze(chain, request(1), { modelCallTimeoutMs: 3_000 });
  const elapsed = performance.now() - started;
  assert.equal((outcome as AnalysisOutcome).usage.model, "openai:gpt-4.1-mini");
  assert.deepEqual(fallbacks, [["gemini:gemini-2.5-flash", "timeout"]]);
  // Half of 3 s went to the primary: the answer came after it, well inside the call's 3 s.
  assert.ok(elapsed >= 1_400, `${elapsed} ms`);
  await primary.sawAbort();
});

Deno.test("a primary that does not honour its signal is cut at half the time all the same", async () => {
  // Stands in for a provider whose SDK waits on a timeout of its own (a credential lookup)
  // after its signal aborted.
  let sawAbort = false;
  const deaf: Model = {
    name: "gemini:deaf",
    generate: (_conversation, signal) => {
      signal.addEventListener("abort", () => sawAbort = true, { once: true });
      return new Promise((_resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("late")), 4_000);
        signal.addEventListener("abort", () => {
          // Gives up only much later, as such a provider does.
          clearTimeout(timer);
          setTimeout(() => reject(new Error("late")), 2_500);
        }, { once: true });
      });
    },
  };
  await using second = new FakeOpenAI([
    toolCallAnswer("no_task_found", { context_summary: "x", current_activity: "y" }),
  ]);
  const { chain, fallbacks } = chainOf([deaf, openai(second)]);
  const outcome = await analyze(chain, request(1), { modelCallTimeoutMs: 4_000 });
  assert.equal(
    (outcome as AnalysisOutcome).usage?.model,
    "openai:gpt-4.1-mini",
    JSON.stringify(outcome),
  );
  assert.deepEqual(fallbacks, [["gemini:deaf", "timeout"]]);
  assert.ok(sawAbort);
  // The deaf primary's late rejection is still pending: let it settle inside the test.
  await new Promise((resolve) => setTimeout(resolve, 2_600));
});

Deno.test("with too little time for a second model, the primary gets all of it", async () => {
  await using primary = new FakeGemini([{
    ...functionCallAnswer("no_task_found", { context_summary: "x", current_activity: "y" }),
    delayMs: 1_000,
  }]);
  await using second = new FakeOpenAI([]);
  const { chain, fallbacks } = chainOf([gemini(primary), openai(second)]);
  // 1.9 s: half of it would leave the fallback under MIN_ATTEMPT_MS, so it would never run.
  const outcome = await analyze(chain, request(1), { modelCallTimeoutMs: 1_900 });
  assert.equal(
    (outcome as AnalysisOutcome).usage?.model,
    "gemini:gemini-2.5-flash",
    JSON.stringify(outcome),
  );
  assert.deepEqual(fallbacks, []);
  assert.equal(second.requests.length, 0);
});

Deno.test("when every model fails, the last failure is the frame's", async () => {
  await using primary = new FakeGemini([errorAnswer(503), errorAnswer(503)]);
  await using second = new FakeOpenAI([{ json: { error: { message: "down" } }, status: 502 }]);
  const chain = new FallbackModel({
    models: [gemini(primary), openai(second)],
    cooldownMs: 30_000,
    log: silentLogger,
  });
  const outcome = await analyze(chain, request(1)) as ServerError;
  assert.equal(outcome.type, "server_error");
  assert.equal(outcome.code, "GEMINI_ERROR");
  assert.match(outcome.message, /502/);
  assert.doesNotMatch(outcome.message, /down|127\.0\.0\.1/);
});

Deno.test("MODEL_FALLBACKS builds the chain, each model with its provider's settings", async () => {
  await using primary = new FakeGemini([errorAnswer(503), errorAnswer(503), errorAnswer(503)]);
  await using second = new FakeOpenAI([
    toolCallAnswer("no_task_found", { context_summary: "x", current_activity: "y" }),
  ]);
  const config = loadConfig({
    GEMINI_API_KEY: "AIzaFAKE-key",
    GEMINI_BASE_URL: primary.baseUrl,
    OPENAI_BASE_URL: second.baseUrl,
    MODEL_FALLBACKS: "openai:gpt-4.1-mini, offline",
    MODEL_COOLDOWN_SEC: "5",
  });
  const reasons: string[] = [];
  const model = buildModel(config, silentLogger, { onFallback: (_m, r) => reasons.push(r) });
  assert.ok(model instanceof FallbackModel);
  assert.deepEqual(model.models.map((m) => m.name), [
    "gemini:gemini-2.5-flash",
    "openai:gpt-4.1-mini",
    "offline",
  ]);
  const outcome = await analyze(model, request(1)) as AnalysisOutcome;
  assert.equal(outcome.usage.model, "openai:gpt-4.1-mini");
  assert.deepEqual(reasons, ["server_error"]);
  // The key went to the fallback in its header only.
  assert.equal(second.requests[0]!.headers.get("authorization"), "Bearer no-key");
});

Deno.test("what a failed model was billed goes on the call's usage, whichever model answers", async (t) => {
  const unreadable = {
    json: {
      candidates: [{ finishReason: "MALFORMED_FUNCTION_CALL" }],
      usageMetadata: { promptTokenCount: 700, candidatesTokenCount: 5 },
    },
  };
  await t.step("the fallback answers: its reply carries the primary's spend too", async () => {
    // Gemini: an unreadable reply (billed), then 503 on its retry → the fallback.
    await using primary = new FakeGemini([unreadable, errorAnswer(503)]);
    await using second = new FakeOpenAI([
      toolCallAnswer("extract_task", EXTRACT, {
        usage: { prompt_tokens: 1000, completion_tokens: 50 },
      }),
    ]);
    const { chain } = chainOf([gemini(primary), openai(second)]);
    const outcome = await analyze(chain, request(1)) as AnalysisOutcome;
    assert.equal(outcome.outcome_kind, "extract_task");
    assert.deepEqual([outcome.usage.input_tokens, outcome.usage.output_tokens], [1700, 55]);
  });
  await t.step("every model fails: the error carries what all of them were billed", async () => {
    await using primary = new FakeGemini([unreadable, errorAnswer(503)]);
    await using second = new FakeGemini([unreadable, errorAnswer(503)]);
    const { chain } = chainOf([gemini(primary), gemini(second)]);
    const error = await chain.generate(
      { request: request(2), turns: [] },
      new AbortController().signal,
    ).then(() => undefined, (err: unknown) => err);
    assert.ok(error instanceof ModelError, String(error));
    assert.deepEqual([error.code, error.status, error.usage?.inputTokens], ["HTTP", 503, 1400]);
  });
});
