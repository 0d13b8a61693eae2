import assert from "node:assert/strict";
import { type AnalysisEvent, analyzeFrame } from "../../src/analysis/analyze_frame.ts";
import type { AnalysisRequest } from "../../src/analysis/model.ts";
import {
  GeminiModel,
  type GeminiModelOptions,
  thinkingBudgetFor,
} from "../../src/models/gemini.ts";
import { parseRetryAfter } from "../../src/models/retry.ts";
import { MAX_RESPONSE_BYTES } from "../../src/models/wire.ts";
import { costOf, DEFAULT_PRICES, parsePrices, priceOf } from "../../src/models/prices.ts";
import { AnalysisOutcome, ServerError, type ToolResult } from "../../src/protocol/messages.ts";
import {
  errorAnswer,
  FakeGemini,
  type FakeUsage,
  functionCallAnswer,
  type GeminiStep,
} from "../fakes/fake_gemini.ts";
import { createLogger, silentLogger } from "../../src/log.ts";

const KEY = "AIzaFAKE-key-0123456789";
const JPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDA==";

const REQUEST: AnalysisRequest = {
  frame: {
    frameId: "f1",
    appName: "Slack",
    windowTitle: "Slack | #finance",
    ocrText: "Sarah: can you send me the Q3 report by Friday?",
  },
  context: {
    active_tasks: [{
      task_id: 11,
      description: "Book flights to Lisbon",
      priority: "high",
      relevance_score: 1,
    }],
    completed_tasks: [{ task_id: 12, description: "Renew passport" }],
    deleted_tasks: [{ task_id: 13, description: "Buy a boat" }],
    goals: [{ goal_id: "g1", title: "Close the quarter", description: "Finance reporting" }],
  },
  today: "2026-11-25",
};

function model(fake: FakeGemini, options: Partial<GeminiModelOptions> = {}) {
  return new GeminiModel({
    model: "gemini-2.5-flash",
    apiKey: KEY,
    baseUrl: fake.baseUrl,
    thinkingBudget: 128,
    price: DEFAULT_PRICES["gemini-2.5-flash"],
    retryBaseMs: 10,
    retryMaxMs: 50,
    log: silentLogger,
    ...options,
  });
}

/** Runs the real loop over the provider; tool calls are answered by `answer`. */
async function analyze(
  fake: FakeGemini,
  options: {
    request?: AnalysisRequest;
    modelOptions?: Partial<GeminiModelOptions>;
    answer?: (requestId: string) => ToolResult | undefined;
    modelCallTimeoutMs?: number;
    signal?: AbortSignal;
  } = {},
) {
  const events: AnalysisEvent[] = [];
  const generator = analyzeFrame(options.request ?? REQUEST, {
    model: model(fake, options.modelOptions),
    signal: options.signal ?? new AbortController().signal,
    analysisTimeoutMs: 20_000,
    modelCallTimeoutMs: options.modelCallTimeoutMs ?? 10_000,
    toolResultTimeoutMs: 5_000,
  });
  let input: ToolResult | undefined;
  for (;;) {
    const step = await generator.next(input);
    if (step.done) break;
    events.push(step.value);
    input = step.value.kind === "tool_call"
      ? options.answer?.(step.value.message.request_id) ?? {
        type: "tool_result",
        request_id: step.value.message.request_id,
        results: [],
      }
      : undefined;
  }
  const last = events.at(-1);
  return { events, terminal: last?.kind === "terminal" ? last.message : undefined };
}

function asOutcome(message: unknown): AnalysisOutcome {
  return AnalysisOutcome.parse(message);
}

type Body = {
  contents: Array<{ role: string; parts: Array<Record<string, unknown>> }>;
  tools: Array<{ functionDeclarations: Array<{ name: string }> }>;
  toolConfig: { functionCallingConfig: { mode: string } };
  generationConfig?: { thinkingConfig?: { thinkingBudget?: number } };
  systemInstruction?: unknown;
};

Deno.test("GeminiModel sends the request of docs/protocol.md §5.5", async (t) => {
  await t.step("path, key header, tools forced with ANY, prompt, image", async () => {
    await using fake = new FakeGemini([
      functionCallAnswer("no_task_found", { context_summary: "chat" }),
    ]);
    const { terminal } = await analyze(fake, {
      request: { ...REQUEST, frame: { ...REQUEST.frame, jpegBase64: JPEG } },
    });
    assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
    assert.equal(fake.requests.length, 1);
    const request = fake.requests[0]!;
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert.equal(request.headers.get("x-goog-api-key"), KEY);
    assert.ok(!request.url.includes(KEY), "the key is not in the URL");
    const body = request.body as Body;
    assert.deepEqual(
      body.tools[0]!.functionDeclarations.map((d) => d.name).sort(),
      ["extract_task", "no_task_found", "reject_task", "search_keywords", "search_similar"],
    );
    assert.equal(body.toolConfig.functionCallingConfig.mode, "ANY");
    assert.equal(body.generationConfig?.thinkingConfig?.thinkingBudget, 128);
    assert.ok(body.systemInstruction, "system instruction sent");
    const parts = body.contents[0]!.parts;
    const text = `${parts[0]!.text}\n\n${parts[1]!.text}`;
    for (
      const expected of [
        "Today is 2026-11-25",
        "App: Slack",
        "Window title: Slack | #finance",
        "can you send me the Q3 report by Friday?",
        "#11 Book flights to Lisbon",
        "(rank 1)",
        "#12 Renew passport",
        "#13 Buy a boat",
        "Close the quarter",
      ]
    ) {
      assert.ok(text.includes(expected), `prompt carries ${expected}`);
    }
    assert.deepEqual(parts[2], { inlineData: { mimeType: "image/jpeg", data: JPEG } });
  });
  await t.step("no image part without a JPEG", async () => {
    await using fake = new FakeGemini([functionCallAnswer("no_task_found", {})]);
    await analyze(fake);
    const parts = (fake.requests[0]!.body as Body).contents[0]!.parts;
    assert.equal(parts.length, 2, "the context and the screen, no image");
    assert.ok(parts.every((p) => !("inlineData" in p)));
  });
});

Deno.test("GeminiModel returns the model's content verbatim after a search", async () => {
  await using fake = new FakeGemini([
    functionCallAnswer("search_similar", { query: "Q3 report" }, {
      thoughtSignature: "c2lnbmF0dXJlLTEyMw==",
    }),
    functionCallAnswer("extract_task", {
      title: "Send Q3 report to Sarah",
      priority: "high",
      confidence: "0.9",
      inferred_deadline: "2026-11-27",
    }),
  ]);
  const { events, terminal } = await analyze(fake, {
    answer: (id) => ({
      type: "tool_result",
      request_id: id,
      results: [{
        task_id: 11,
        description: "Book flights to Lisbon",
        status: "active",
        similarity: 0.12,
      }],
    }),
  });
  assert.equal(events[0]?.kind, "tool_call");
  const outcome = asOutcome(terminal);
  assert.equal(outcome.outcome_kind, "extract_task");
  if (outcome.outcome_kind === "extract_task") assert.equal(outcome.task.confidence, 0.9);
  assert.equal(fake.requests.length, 2);
  const contents = (fake.requests[1]!.body as Body).contents;
  assert.equal(contents.length, 3);
  assert.deepEqual(contents[1], {
    role: "model",
    parts: [{
      functionCall: { name: "search_similar", args: { query: "Q3 report" } },
      thoughtSignature: "c2lnbmF0dXJlLTEyMw==",
    }],
  });
  const response = contents[2]!.parts[0]!.functionResponse as {
    name: string;
    response: { output: string };
  };
  assert.equal(contents[2]!.role, "user");
  assert.equal(response.name, "search_similar");
  assert.match(response.response.output, /#11 Book flights to Lisbon/);
  // The first turn is sent again unchanged.
  assert.deepEqual(contents[0], (fake.requests[0]!.body as Body).contents[0]);
});

Deno.test("GeminiModel answers every parallel function call of a turn", async () => {
  const parallel: GeminiStep = {
    json: {
      candidates: [{
        content: {
          role: "model",
          parts: [
            { functionCall: { name: "search_similar", args: { query: "Q3 report" } } },
            { functionCall: { name: "search_keywords", args: { query: "report" } } },
          ],
        },
        finishReason: "STOP",
      }],
    },
  };
  await using fake = new FakeGemini([
    parallel,
    functionCallAnswer("no_task_found", { context_summary: "s", current_activity: "a" }),
  ]);
  const { events } = await analyze(fake);
  assert.equal(events.filter((e) => e.kind === "tool_call").length, 1, "one search is run");
  const contents = (fake.requests[1]!.body as Body).contents;
  const responses = contents[2]!.parts.map((p) =>
    p.functionResponse as { name: string; response: { output: string } }
  );
  assert.deepEqual(responses.map((r) => r.name), ["search_similar", "search_keywords"]);
  assert.match(responses[1]!.response.output, /^Not run/);
});

Deno.test("thinkingBudgetFor() keeps the budget inside each model's range", () => {
  assert.equal(thinkingBudgetFor("gemini-2.5-flash", 128), 128);
  assert.equal(thinkingBudgetFor("gemini-2.5-flash", 0), 0);
  assert.equal(thinkingBudgetFor("gemini-2.5-flash-lite", 128), 512);
  assert.equal(thinkingBudgetFor("gemini-2.5-flash-lite", 0), 0);
  assert.equal(thinkingBudgetFor("gemini-2.5-pro", 0), 128);
  assert.equal(thinkingBudgetFor("gemini-2.5-pro", 99_999), 32_768);
});

Deno.test("GeminiModel retries what is worth retrying", async (t) => {
  await t.step("429 then 200 → success after one retry, honouring Retry-After", async () => {
    await using fake = new FakeGemini([
      errorAnswer(429, { "retry-after": "0" }),
      functionCallAnswer("no_task_found", {}),
    ]);
    const { terminal } = await analyze(fake);
    assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
    assert.equal(fake.requests.length, 2);
  });
  await t.step("the RetryInfo delay in the error body is honoured", async () => {
    await using fake = new FakeGemini([
      {
        status: 429,
        json: {
          error: {
            code: 429,
            message: "quota",
            status: "RESOURCE_EXHAUSTED",
            details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "0.3s" }],
          },
        },
      },
      functionCallAnswer("no_task_found", {}),
    ]);
    const started = performance.now();
    // Backoff alone would wait at most retryMaxMs (50 ms) here.
    const { terminal } = await analyze(fake);
    assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
    assert.ok(performance.now() - started >= 290, "waited the server's 0.3 s");
  });
  await t.step("503 three times → GEMINI_ERROR after exactly 3 requests", async () => {
    await using fake = new FakeGemini([errorAnswer(503), errorAnswer(503), errorAnswer(503)]);
    const { terminal } = await analyze(fake);
    const error = ServerError.parse(terminal);
    assert.deepEqual([error.code, error.retryable, error.message], [
      "GEMINI_ERROR",
      true,
      "Model request failed (HTTP 503)",
    ]);
    assert.equal(fake.requests.length, 3);
  });
  for (const status of [400, 401, 403, 404]) {
    await t.step(`${status} → no retry`, async () => {
      await using fake = new FakeGemini([
        errorAnswer(status),
        functionCallAnswer("no_task_found", {}),
      ]);
      const { terminal } = await analyze(fake);
      assert.equal(ServerError.parse(terminal).message, `Model request failed (HTTP ${status})`);
      assert.equal(fake.requests.length, 1);
    });
  }
  await t.step("a retry hint past the deadline gives up at once", async () => {
    await using fake = new FakeGemini([errorAnswer(429, { "retry-after": "60" })]);
    const started = performance.now();
    const { terminal } = await analyze(fake, { modelCallTimeoutMs: 5_000 });
    assert.equal(ServerError.parse(terminal).code, "GEMINI_ERROR");
    assert.equal(fake.requests.length, 1);
    assert.ok(performance.now() - started < 4_000, "did not sleep toward the deadline");
  });
  await t.step("a network error is retried", async () => {
    // Nothing listens on the base URL's port once the fake is gone.
    const gone = new FakeGemini();
    const baseUrl = gone.baseUrl;
    await gone[Symbol.asyncDispose]();
    await using fake = new FakeGemini();
    const { terminal } = await analyze(fake, { modelOptions: { baseUrl } });
    const error = ServerError.parse(terminal);
    assert.equal(error.message, "Model request failed (network error)");
  });
});

/** A reply whose first candidate has `parts` and `finishReason`. */
function candidateAnswer(parts: unknown[], finishReason = "STOP", usage?: FakeUsage): GeminiStep {
  return {
    json: {
      candidates: [{ content: { role: "model", parts }, finishReason }],
      ...(usage ? { usageMetadata: usage } : {}),
    },
  };
}

/** `text` gzip-compressed, as a server that compresses its replies sends it. */
async function gzip(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Replies that are no answer: docs/protocol.md §4 makes them GEMINI_ERROR, not a decision. */
const UNREADABLE: Array<[string, GeminiStep, string]> = [
  [
    "a 200 whose body is not JSON",
    { text: "<html>oops</html>", headers: { "content-type": "application/json" } },
    "body is not JSON",
  ],
  ["a 200 with JSON null", { text: "null", headers: { "content-type": "application/json" } }, ""],
  [
    "no candidates, no block reason",
    { json: { usageMetadata: { promptTokenCount: 5 } } },
    "no candidates",
  ],
  ["an empty candidates list", { json: { candidates: [] } }, "no candidates"],
  ["an empty candidate that says STOP", candidateAnswer([]), "empty candidate"],
  [
    "finish reason MALFORMED_FUNCTION_CALL",
    { json: { candidates: [{ finishReason: "MALFORMED_FUNCTION_CALL" }] } },
    "MALFORMED_FUNCTION_CALL",
  ],
  [
    "a function call without a name",
    candidateAnswer([{ functionCall: { args: { context_summary: "s" } } }]),
    "function call without a name",
  ],
  [
    "function call arguments that are not an object",
    candidateAnswer([{ functionCall: { name: "no_task_found", args: ["s", "a"] } }]),
    "function call arguments are not an object",
  ],
  [
    "a body that never ends (read no further than the cap)",
    { endless: true, prefix: '{"candidates":[{"content":{"parts":[{"text":"' },
    "body over the size cap",
  ],
  [
    "a gzip body whose declared length is small and which inflates past the cap",
    {
      text: await gzip(JSON.stringify({ candidates: [], pad: "a".repeat(MAX_RESPONSE_BYTES) })),
      headers: { "content-encoding": "gzip", "content-type": "application/json" },
    },
    "body over the size cap",
  ],
  [
    "a declared length over the cap",
    { text: JSON.stringify({ candidates: [], pad: "a".repeat(MAX_RESPONSE_BYTES) }) },
    "body over the size cap",
  ],
];

Deno.test("GeminiModel: a reply that cannot be read is GEMINI_ERROR after one retry", async (t) => {
  for (const [name, step, reason] of UNREADABLE) {
    await t.step(name, async () => {
      await using fake = new FakeGemini([step, step, functionCallAnswer("no_task_found", {})]);
      const lines: string[] = [];
      const { terminal } = await analyze(fake, {
        modelOptions: { log: createLogger({ level: "debug", sink: (line) => lines.push(line) }) },
      });
      const error = ServerError.parse(terminal);
      assert.deepEqual([error.code, error.message, error.retryable, error.frame_id], [
        "GEMINI_ERROR",
        "Model returned an unreadable response",
        true,
        "f1",
      ]);
      assert.equal(fake.requests.length, 2, "retried once, not more");
      const logged = lines.map((line) => JSON.parse(line));
      assert.deepEqual(logged.map((l) => [l.msg, l.code, l.attempt]), [
        ["model reply unreadable", "BAD_RESPONSE", 1],
        ["model reply unreadable", "BAD_RESPONSE", 2],
      ]);
      if (reason) assert.equal(logged[0].reason, reason);
    });
  }
});

Deno.test("GeminiModel: a gzip reply (length declared, inflated by fetch) is read in full", async () => {
  // Padded past one read's chunk, so the body is put together from several.
  const answer = functionCallAnswer("no_task_found", { context_summary: "compressed" });
  const padded = { ...(answer as { json: object }).json, pad: "x".repeat(1_000_000) };
  await using fake = new FakeGemini([{
    text: await gzip(JSON.stringify(padded)),
    headers: { "content-encoding": "gzip", "content-type": "application/json" },
  }]);
  const { terminal } = await analyze(fake);
  const outcome = asOutcome(terminal);
  assert.equal(outcome.outcome_kind, "no_task_found");
  assert.equal(outcome.context_summary, "compressed");
});

Deno.test("GeminiModel: a malformed reply then a good one → the good outcome, both billed", async () => {
  await using fake = new FakeGemini([
    {
      json: {
        candidates: [{ finishReason: "MALFORMED_FUNCTION_CALL" }],
        usageMetadata: { promptTokenCount: 1000, candidatesTokenCount: 40 },
      },
    },
    functionCallAnswer("reject_task", { reason: "Already tracked", context_summary: "dup" }, {
      usage: { promptTokenCount: 1000, candidatesTokenCount: 10 },
    }),
  ]);
  const { terminal } = await analyze(fake, { modelOptions: { log: silentLogger } });
  const outcome = asOutcome(terminal);
  assert.equal(outcome.outcome_kind, "reject_task");
  assert.equal(fake.requests.length, 2);
  // One model call as the loop counts them, with the tokens of both attempts.
  assert.deepEqual(
    [outcome.usage.model_calls, outcome.usage.input_tokens, outcome.usage.output_tokens],
    [1, 2000, 50],
  );
  // The retry sends the same request again.
  assert.deepEqual(fake.requests[1]!.body, fake.requests[0]!.body);
});

Deno.test("GeminiModel: an unreadable reply is not retried past the call's deadline", async () => {
  const malformed: GeminiStep = {
    json: { candidates: [{ finishReason: "MALFORMED_FUNCTION_CALL" }] },
  };
  await using fake = new FakeGemini([malformed, functionCallAnswer("no_task_found", {})]);
  const started = performance.now();
  const { terminal } = await analyze(fake, {
    modelCallTimeoutMs: 1_000,
    modelOptions: { log: silentLogger, retryBaseMs: 5_000, retryMaxMs: 5_000 },
  });
  assert.equal(ServerError.parse(terminal).message, "Model returned an unreadable response");
  assert.equal(fake.requests.length, 1);
  assert.ok(performance.now() - started < 900, "gave up at once instead of sleeping");
});

Deno.test("GeminiModel: a valid reply without a call stays no_task_found, saying why", async (t) => {
  const cases: Array<[string, GeminiStep, RegExp]> = [
    [
      "prompt blocked",
      { json: { promptFeedback: { blockReason: "SAFETY" } } },
      /prompt blocked: SAFETY/,
    ],
    ["SAFETY finish", candidateAnswer([], "SAFETY"), /finish reason SAFETY/],
    ["RECITATION finish", { json: { candidates: [{ finishReason: "RECITATION" }] } }, /RECITATION/],
    ["text only", candidateAnswer([{ text: "Looks like a task!" }]), /text only/],
    ["cut short by MAX_TOKENS", candidateAnswer([{ text: "Hmm" }], "MAX_TOKENS"), /MAX_TOKENS/],
  ];
  for (const [name, step, why] of cases) {
    await t.step(name, async () => {
      await using fake = new FakeGemini([step, functionCallAnswer("extract_task", { title: "x" })]);
      const { terminal } = await analyze(fake, { modelOptions: { log: silentLogger } });
      const outcome = asOutcome(terminal);
      assert.equal(outcome.outcome_kind, "no_task_found");
      assert.match(outcome.context_summary, /^No task analysis: the model did not call a function/);
      assert.match(outcome.context_summary, why);
      assert.equal(outcome.current_activity, "Slack");
      assert.equal(fake.requests.length, 1, "a decision is not retried");
    });
  }
});

Deno.test("GeminiModel: a Deno permission error is PERMISSION, not a network error", async () => {
  await using fake = new FakeGemini([functionCallAnswer("no_task_found", {})]);
  const lines: string[] = [];
  const denied = new Deno.errors.NotCapable(
    'Requires sys access to "networkInterfaces", run again with the --allow-sys flag',
  );
  const { terminal } = await analyze(fake, {
    modelOptions: {
      apiKey: undefined,
      vertex: {
        project: "my-project",
        location: "us-central1",
        credentials: { getAccessToken: () => Promise.reject(denied) },
      },
      log: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
    },
  });
  const error = ServerError.parse(terminal);
  assert.deepEqual([error.code, error.message, error.retryable], [
    "GEMINI_ERROR",
    "Model credentials could not be obtained (permission denied)",
    true,
  ]);
  assert.equal(fake.requests.length, 0, "nothing was sent");
  assert.equal(lines.length, 1, "logged once: a permission error is not retried");
  const line = JSON.parse(lines[0]!);
  assert.deepEqual([line.level, line.msg, line.code, line.stage, line.error], [
    "error",
    "model call failed: permission denied",
    "PERMISSION",
    "credentials",
    "NotCapable",
  ]);
  assert.match(line.detail, /--allow-sys/);
  assert.doesNotMatch(lines[0]!, /network error/);
});

Deno.test("GeminiModel deadlines and cancellation", async (t) => {
  await t.step(
    "a response slower than MODEL_CALL_TIMEOUT_MS → timed out, request aborted",
    async () => {
      await using fake = new FakeGemini([{ hang: true }]);
      const { terminal } = await analyze(fake, { modelCallTimeoutMs: 200 });
      const error = ServerError.parse(terminal);
      assert.deepEqual([error.code, error.message], ["GEMINI_ERROR", "Model request timed out"]);
      await fake.sawAbort();
      assert.equal(fake.requests.length, 1, "a timeout is not retried inside the call");
    },
  );
  await t.step(
    "a cancel mid-call aborts the HTTP request (the fake sees the connection go)",
    async () => {
      await using fake = new FakeGemini([{ hang: true }]);
      const controller = new AbortController();
      const done = analyze(fake, { signal: controller.signal });
      while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
      controller.abort(new Error("client disconnected"));
      const { terminal } = await done;
      assert.equal(terminal, undefined, "no terminal after a cancel");
      await fake.sawAbort();
      assert.equal(fake.requests[0]?.aborted, true);
    },
  );
});

Deno.test("GeminiModel usage and cost", async () => {
  await using fake = new FakeGemini([
    functionCallAnswer("search_keywords", { query: "q" }, {
      usage: { promptTokenCount: 1000, candidatesTokenCount: 20, thoughtsTokenCount: 100 },
    }),
    functionCallAnswer("no_task_found", {}, {
      usage: { promptTokenCount: 1200, candidatesTokenCount: 30, thoughtsTokenCount: 0 },
    }),
  ]);
  const { terminal } = await analyze(fake);
  const { usage } = asOutcome(terminal);
  assert.deepEqual(
    [
      usage.model_calls,
      usage.tool_calls,
      usage.input_tokens,
      usage.output_tokens,
      usage.thinking_tokens,
    ],
    [2, 1, 2200, 50, 100],
  );
  // flash: $0.30 / 1M input, $2.50 / 1M output (thinking billed as output)
  const expected = (2200 * 0.3 + 150 * 2.5) / 1e6;
  assert.ok(Math.abs(usage.cost_usd - expected) < 1e-9, `${usage.cost_usd} ≈ ${expected}`);
});

Deno.test("GeminiModel: usage counts that are no token counts are read as 0, not added", async () => {
  // The SDK passes usageMetadata through unchecked: a string would concatenate, a negative
  // would lower the spend, a fraction would fail the wire schema, a huge one would bill all.
  await using fake = new FakeGemini([
    functionCallAnswer("search_keywords", { query: "q" }, {
      usage: {
        promptTokenCount: "1000",
        candidatesTokenCount: -50,
        thoughtsTokenCount: 2.6,
        cachedContentTokenCount: 7,
      } as unknown as FakeUsage,
    }),
    functionCallAnswer("no_task_found", {}, {
      usage: {
        promptTokenCount: 1e30,
        candidatesTokenCount: Number.NaN,
        cachedContentTokenCount: 1e31,
      } as unknown as FakeUsage,
    }),
  ]);
  const { terminal } = await analyze(fake);
  const { usage } = asOutcome(terminal);
  assert.deepEqual(
    [
      usage.input_tokens,
      usage.cached_input_tokens,
      usage.output_tokens,
      usage.thinking_tokens,
    ],
    // The first call: no input, so nothing of it cached; 3 thinking tokens. The second:
    // capped at 10M, its cached share no more than its input.
    [10_000_000, 10_000_000, 0, 3],
  );
  assert.ok(Number.isFinite(usage.cost_usd) && usage.cost_usd >= 0, String(usage.cost_usd));
});

Deno.test("price table", () => {
  assert.deepEqual(priceOf(DEFAULT_PRICES, "gemini-2.5-flash-lite"), {
    input: 0.1,
    output: 0.4,
    cachedInput: 0.025,
  });
  assert.deepEqual(priceOf(DEFAULT_PRICES, "gemini-2.5-flash-preview-09"), {
    input: 0.3,
    output: 2.5,
    cachedInput: 0.075,
  });
  assert.equal(priceOf(DEFAULT_PRICES, "mystery"), undefined);
  assert.equal(costOf(undefined, { input: 1000, output: 1000 }), 0);
  const table = parsePrices('{"my-model":{"input":1,"output":2}}');
  assert.ok(
    typeof table === "object" && table["my-model"]?.output === 2 && table["gemini-2.5-pro"],
  );
  assert.match(String(parsePrices("{")), /must be JSON/);
  assert.match(String(parsePrices('{"m":{"input":-1,"output":2}}')), /must look like/);
  assert.equal(parseRetryAfter("2"), 2000);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
});

Deno.test("GeminiModel in Vertex mode uses the Vertex URL and a bearer token", async () => {
  await using fake = new FakeGemini([functionCallAnswer("no_task_found", {})]);
  await analyze(fake, {
    modelOptions: {
      apiKey: undefined,
      vertex: {
        project: "my-project",
        location: "europe-west4",
        credentials: { getAccessToken: () => Promise.resolve("ya29.fake-token") },
      },
    },
  });
  const request = fake.requests[0]!;
  assert.equal(
    request.path,
    "/v1beta1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
  );
  assert.equal(request.headers.get("authorization"), "Bearer ya29.fake-token");
  assert.equal(request.headers.get("x-goog-api-key"), null);
});
