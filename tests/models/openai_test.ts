/**
 * The OpenAI-compatible provider through the real `openai` SDK and the real `fetch`, against
 * a fake Chat Completions server (tests/fakes/fake_openai.ts) scripted to behave like OpenAI,
 * vLLM, Ollama and LM Studio do, and the real analysis loop on top.
 */
import assert from "node:assert/strict";
import { type AnalysisEvent, analyzeFrame } from "../../src/analysis/analyze_frame.ts";
import {
  type AnalysisRequest,
  type Model,
  ModelError,
  type ModelReply,
} from "../../src/analysis/model.ts";
import { SYSTEM_INSTRUCTION } from "../../src/analysis/prompt.ts";
import { buildModel } from "../../src/compose.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger, silentLogger } from "../../src/log.ts";
import { FUNCTION_DECLARATIONS } from "../../src/models/gemini.ts";
import { MAX_RESPONSE_BYTES, NOT_RUN } from "../../src/models/wire.ts";
import {
  BAD_ARGUMENTS,
  IMAGE_TOKEN_ESTIMATE,
  OPENAI_TOOLS,
  OpenAIModel,
  type OpenAIModelOptions,
  pseudoCall,
  REPAIR_PROMPT,
  retryAfter,
} from "../../src/models/openai.ts";
import { DEFAULT_PRICES } from "../../src/models/prices.ts";
import { AnalysisOutcome, ServerError, type ToolResult } from "../../src/protocol/messages.ts";
import {
  type ChatBody,
  type ContentPart,
  errorAnswer,
  FakeOpenAI,
  textAnswer,
  toolCallAnswer,
  toolCallsAnswer,
} from "../fakes/fake_openai.ts";

const KEY = "sk-proj-FAKEsecret0123456789abcdef";
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

const WITH_IMAGE: AnalysisRequest = { ...REQUEST, frame: { ...REQUEST.frame, jpegBase64: JPEG } };

const SUMMARY = { context_summary: "A chat.", current_activity: "Chatting" };

function model(fake: FakeOpenAI, options: Partial<OpenAIModelOptions> = {}) {
  return new OpenAIModel({
    model: "gpt-4.1-mini",
    apiKey: KEY,
    baseUrl: fake.baseUrl,
    price: DEFAULT_PRICES["gpt-4.1-mini"],
    retryBaseMs: 10,
    retryMaxMs: 50,
    log: silentLogger,
    ...options,
  });
}

/** Log lines, as JSON, of a logger that keeps everything. */
function recordingLogger() {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: "debug", sink: (line) => lines.push(line) }) };
}

/** Runs the real loop over the provider; tool calls are answered by `answer`. */
async function analyze(
  fake: FakeOpenAI,
  options: {
    request?: AnalysisRequest;
    model?: Model;
    modelOptions?: Partial<OpenAIModelOptions>;
    answer?: (requestId: string) => ToolResult | undefined;
    modelCallTimeoutMs?: number;
    signal?: AbortSignal;
  } = {},
) {
  const events: AnalysisEvent[] = [];
  const generator = analyzeFrame(options.request ?? REQUEST, {
    model: options.model ?? model(fake, options.modelOptions),
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

const flightsResult = (id: string): ToolResult => ({
  type: "tool_result",
  request_id: id,
  results: [{
    task_id: 11,
    description: "Book flights to Lisbon",
    status: "active",
    similarity: 0.1,
  }],
});

const TASK = {
  title: "Send Q3 report to Sarah",
  description: "Sarah asked for the Q3 report.",
  priority: "high",
  tags: ["finance"],
  source_app: "Slack",
  inferred_deadline: "2026-11-27",
  confidence: "0.9",
  source_category: "message",
  source_subcategory: "direct_request",
  relevance_score: 2,
  ...SUMMARY,
};

Deno.test("OpenAIModel sends a Chat Completions request: tools, tool_choice, prompt, image", async (t) => {
  await t.step(
    "path, bearer key, no streaming, the five tools, required, parts in order",
    async () => {
      await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)]);
      const { terminal } = await analyze(fake, { request: WITH_IMAGE });
      assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
      assert.equal(fake.requests.length, 1);
      const request = fake.requests[0]!;
      assert.equal(request.method, "POST");
      assert.equal(request.path, "/v1/chat/completions");
      assert.equal(request.headers.get("authorization"), `Bearer ${KEY}`);
      assert.match(request.headers.get("content-type") ?? "", /^application\/json/);
      const body = fake.bodies[0]!;
      assert.equal(body.model, "gpt-4.1-mini");
      assert.equal(body.stream, false);
      assert.equal(body.tool_choice, "required");
      assert.deepEqual(
        body.tools.map((t) => t.type + ":" + t.function.name).sort(),
        [
          "function:extract_task",
          "function:no_task_found",
          "function:reject_task",
          "function:search_keywords",
          "function:search_similar",
        ],
      );
      // The same JSON Schema Gemini gets, from the same zod definitions.
      for (const declaration of FUNCTION_DECLARATIONS) {
        const tool = body.tools.find((t) => t.function.name === declaration.name)!;
        assert.deepEqual(tool.function.parameters, declaration.parametersJsonSchema);
        assert.equal(tool.function.description, declaration.description);
      }
      assert.deepEqual(body.messages[0], { role: "system", content: SYSTEM_INSTRUCTION });
      const user = body.messages[1]!;
      assert.equal(user.role, "user");
      const parts = user.content as ContentPart[];
      assert.deepEqual(parts.map((p) => p.type), ["text", "text", "image_url"]);
      const [context, screen, image] = parts as unknown as [
        { text: string },
        { text: string },
        { image_url: { url: string } },
      ];
      // Stable to changing: the context lists, then the date and the screen, then the image.
      for (const expected of ["#11 Book flights to Lisbon", "(rank 1)", "#12 Renew passport"]) {
        assert.ok(context.text.includes(expected), `context carries ${expected}`);
      }
      assert.ok(
        context.text.includes("#13 Buy a boat") && context.text.includes("Close the quarter"),
      );
      assert.ok(!context.text.includes("Today is"));
      assert.match(screen.text, /^Today is 2026-11-25\./);
      assert.ok(screen.text.includes("App: Slack"));
      assert.ok(screen.text.includes("can you send me the Q3 report by Friday?"));
      assert.ok(screen.text.includes("A screenshot is attached."));
      assert.equal(image.image_url.url, `data:image/jpeg;base64,${JPEG}`);
      assert.equal(body.messages.length, 2);
    },
  );

  await t.step(
    "OPENAI_VISION=false: no image part, and the prompt does not claim one",
    async () => {
      await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)]);
      await analyze(fake, { request: WITH_IMAGE, modelOptions: { vision: false } });
      const parts = fake.bodies[0]!.messages[1]!.content as ContentPart[];
      assert.deepEqual(parts.map((p) => p.type), ["text", "text"]);
      assert.ok(!(parts[1] as { text: string }).text.includes("screenshot"));
      assert.ok(!fake.requests[0]!.raw.includes(JPEG));
    },
  );

  await t.step("an image that is not base64 cannot write JSON of its own", async () => {
    const hostile = 'abc"}],"model":"other","x":[{"y":"\\u0000é';
    await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)]);
    await analyze(fake, {
      request: { ...REQUEST, frame: { ...REQUEST.frame, jpegBase64: hostile } },
    });
    const body = fake.bodies[0]!;
    assert.equal(body.model, "gpt-4.1-mini");
    assert.equal("x" in body, false);
    const parts = body.messages[1]!.content as ContentPart[];
    assert.deepEqual(parts[2], {
      type: "image_url",
      image_url: { url: `data:image/jpeg;base64,${hostile}` },
    });
  });

  await t.step("calls of one frame in flight at once each carry the image", async () => {
    await using fake = new FakeOpenAI([
      toolCallAnswer("no_task_found", SUMMARY),
      toolCallAnswer("no_task_found", SUMMARY),
    ]);
    const m = model(fake);
    const signal = AbortSignal.timeout(5_000);
    await Promise.all([
      m.generate({ request: WITH_IMAGE, turns: [] }, signal),
      m.generate({ request: WITH_IMAGE, turns: [] }, signal),
    ]);
    // And again after both are done: the image is not kept by the model.
    fake.push(toolCallAnswer("no_task_found", SUMMARY));
    await m.generate({ request: WITH_IMAGE, turns: [] }, signal);
    assert.equal(fake.requests.length, 3);
    for (const body of fake.bodies) {
      const parts = body.messages[1]!.content as ContentPart[];
      assert.deepEqual(parts[2], {
        type: "image_url",
        image_url: { url: `data:image/jpeg;base64,${JPEG}` },
      });
    }
  });

  await t.step("a frame without a JPEG sends no image part", async () => {
    await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)]);
    await analyze(fake);
    const parts = fake.bodies[0]!.messages[1]!.content as ContentPart[];
    assert.deepEqual(parts.map((p) => p.type), ["text", "text"]);
  });

  await t.step("the key travels only in the Authorization header", async () => {
    await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)]);
    await analyze(fake, { request: WITH_IMAGE });
    const request = fake.requests[0]!;
    assert.ok(!request.url.includes(KEY), "not in the URL");
    assert.ok(!request.raw.includes(KEY), "not in the body");
    for (const [name, value] of request.headers) {
      if (name !== "authorization") assert.ok(!value.includes(KEY), `not in ${name}`);
    }
  });

  await t.step("without a key a placeholder is sent, never an environment's key", async () => {
    const had = Deno.env.get("OPENAI_API_KEY");
    Deno.env.set("OPENAI_API_KEY", "sk-from-the-environment");
    try {
      await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)]);
      const { terminal } = await analyze(fake, { modelOptions: { apiKey: undefined } });
      assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
      assert.equal(fake.requests[0]!.headers.get("authorization"), "Bearer no-key");
    } finally {
      if (had === undefined) Deno.env.delete("OPENAI_API_KEY");
      else Deno.env.set("OPENAI_API_KEY", had);
    }
  });
});

Deno.test("OpenAIModel: search → tool result → extract, the tool_call_id echoed", async () => {
  await using fake = new FakeOpenAI([
    toolCallAnswer("search_similar", { query: "Q3 report" }, { id: "call_abc123" }),
    toolCallAnswer("extract_task", TASK),
  ]);
  const { events, terminal } = await analyze(fake, { request: WITH_IMAGE, answer: flightsResult });
  assert.equal(events[0]?.kind, "tool_call");
  if (events[0]?.kind === "tool_call") {
    assert.equal(events[0].message.tool_kind, "search_similar");
    assert.equal(events[0].message.query, "Q3 report");
  }
  const outcome = asOutcome(terminal);
  assert.equal(outcome.outcome_kind, "extract_task");
  if (outcome.outcome_kind === "extract_task") {
    // Coerced as for Gemini: "0.9" → 0.9.
    assert.equal(outcome.task.confidence, 0.9);
    assert.equal(outcome.task.title, "Send Q3 report to Sarah");
    assert.equal(outcome.task.inferred_deadline, "2026-11-27");
  }
  assert.equal(fake.requests.length, 2);
  const [first, second] = fake.bodies as [ChatBody, ChatBody];
  assert.equal(second.messages.length, 4);
  // The first two messages are sent again byte for byte: the new request extends the old one.
  assert.deepEqual(second.messages.slice(0, 2), first.messages);
  assert.ok(
    fake.requests[1]!.raw.includes(JSON.stringify(first.messages).slice(0, -1)),
    "the earlier messages are a prefix of the new ones",
  );
  assert.deepEqual(second.messages[2], {
    role: "assistant",
    content: null,
    tool_calls: [{
      id: "call_abc123",
      type: "function",
      function: { name: "search_similar", arguments: '{"query":"Q3 report"}' },
    }],
  });
  const tool = second.messages[3]!;
  assert.equal(tool.role, "tool");
  assert.equal(tool.tool_call_id, "call_abc123");
  assert.match(tool.content as string, /#11 Book flights to Lisbon/);
  assert.equal(outcome.usage.model_calls, 2);
  assert.equal(outcome.usage.tool_calls, 1);
});

Deno.test("OpenAIModel answers every parallel tool call of a turn", async () => {
  await using fake = new FakeOpenAI([
    toolCallsAnswer([
      { name: "search_similar", args: { query: "Q3 report" }, id: "call_1" },
      { name: "search_keywords", args: { query: "report" }, id: "call_2" },
      { name: "no_task_found", args: SUMMARY, id: "call_3" },
    ]),
    toolCallAnswer("no_task_found", SUMMARY),
  ]);
  const { events, terminal } = await analyze(fake, { answer: flightsResult });
  assert.equal(events.filter((e) => e.kind === "tool_call").length, 1, "one search is run");
  assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
  // The fake refuses (400) a request that leaves a call id unanswered, as OpenAI does.
  assert.deepEqual(fake.requests.map((r) => r.refused), [undefined, undefined]);
  const tools = fake.bodies[1]!.messages.filter((m) => m.role === "tool");
  assert.deepEqual(tools.map((m) => m.tool_call_id), ["call_1", "call_2", "call_3"]);
  assert.match(tools[0]!.content as string, /#11 Book flights/);
  assert.equal(tools[1]!.content, NOT_RUN);
  assert.equal(tools[2]!.content, NOT_RUN);
  assert.match(NOT_RUN, /^Not run: only the first function call of a turn is executed/);
});

Deno.test('OpenAIModel: a 400 on tool_choice "required" → "auto", remembered, logged once', async () => {
  await using fake = new FakeOpenAI([
    toolCallAnswer("search_keywords", { query: "Q3" }),
    toolCallAnswer("no_task_found", SUMMARY),
    toolCallAnswer("no_task_found", SUMMARY),
  ], { refuseRequired: true });
  const { lines, log } = recordingLogger();
  const shared = model(fake, { log });
  const first = await analyze(fake, { model: shared });
  assert.equal(asOutcome(first.terminal).outcome_kind, "no_task_found");
  const second = await analyze(fake, { model: shared });
  assert.equal(asOutcome(second.terminal).outcome_kind, "no_task_found");
  assert.deepEqual(fake.bodies.map((b) => b.tool_choice), ["required", "auto", "auto", "auto"]);
  assert.deepEqual(fake.requests.map((r) => r.refused !== undefined), [true, false, false, false]);
  assert.equal(lines.length, 1, lines.join("\n"));
  const line = JSON.parse(lines[0]!);
  assert.deepEqual([line.level, line.msg, line.status, line.model], [
    "warn",
    'server refused tool_choice "required": sending "auto" from now on',
    400,
    "openai:gpt-4.1-mini",
  ]);
  // The refusal is no failed call: one model call per decision, as the loop counts them.
  assert.equal(asOutcome(first.terminal).usage.model_calls, 2);
});

Deno.test("OpenAIModel: another 400 is not retried and not taken for a tool_choice refusal", async () => {
  await using fake = new FakeOpenAI([
    errorAnswer(400, { message: "Invalid image URL", param: "messages" }),
    toolCallAnswer("no_task_found", SUMMARY),
  ]);
  const { terminal } = await analyze(fake);
  assert.equal(ServerError.parse(terminal).message, "Model request failed (HTTP 400)");
  assert.equal(fake.requests.length, 1);
});

Deno.test("OpenAIModel repairs a reply without a call once", async (t) => {
  await t.step(
    "silent ignore (empty content, finish_reason stop) → repair turn → call",
    async () => {
      await using fake = new FakeOpenAI([
        textAnswer("", { finishReason: "stop" }),
        toolCallAnswer("extract_task", TASK),
      ]);
      const { terminal } = await analyze(fake);
      const outcome = asOutcome(terminal);
      assert.equal(outcome.outcome_kind, "extract_task");
      assert.equal(fake.requests.length, 2);
      const messages = fake.bodies[1]!.messages;
      assert.deepEqual(messages.slice(2), [
        { role: "assistant", content: "" },
        { role: "user", content: REPAIR_PROMPT },
      ]);
      assert.equal(REPAIR_PROMPT, "Answer by calling exactly one function.");
      // One model call as the loop counts them, with the tokens of both requests.
      assert.deepEqual([outcome.usage.model_calls, outcome.usage.input_tokens], [1, 2000]);
    },
  );

  await t.step("content null without tool calls is replayed as an empty string", async () => {
    await using fake = new FakeOpenAI([
      textAnswer(null),
      toolCallAnswer("no_task_found", SUMMARY),
    ]);
    const { terminal } = await analyze(fake);
    assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
    assert.deepEqual(fake.bodies[1]!.messages[2], { role: "assistant", content: "" });
    assert.equal(fake.requests[1]!.refused, undefined);
  });

  await t.step("plain text twice → the model did not call a function (no_task_found)", async () => {
    await using fake = new FakeOpenAI([
      textAnswer("This looks like a request from Sarah."),
      textAnswer("I think it is a task."),
      toolCallAnswer("extract_task", TASK),
    ]);
    const { terminal } = await analyze(fake);
    const outcome = asOutcome(terminal);
    assert.equal(outcome.outcome_kind, "no_task_found");
    assert.equal(
      outcome.context_summary,
      "No task analysis: the model did not call a function (finish reason text only)",
    );
    assert.equal(outcome.current_activity, "Slack");
    assert.equal(fake.requests.length, 2, "one repair, not more");
    assert.deepEqual(fake.bodies[1]!.messages.slice(2), [
      { role: "assistant", content: "This looks like a request from Sarah." },
      { role: "user", content: REPAIR_PROMPT },
    ]);
    assert.equal(outcome.usage.model_calls, 1);
  });

  await t.step("a long text answer goes back cut to 16 KiB, not whole", async () => {
    const long = "I think this is a task. ".repeat(40_000); // ~960 KB
    await using fake = new FakeOpenAI([
      textAnswer(long),
      toolCallAnswer("no_task_found", SUMMARY),
    ]);
    const { terminal } = await analyze(fake);
    assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
    const [assistant, repair] = fake.bodies[1]!.messages.slice(2);
    assert.deepEqual(assistant, { role: "assistant", content: long.slice(0, 16 * 1024) });
    assert.deepEqual(repair, { role: "user", content: REPAIR_PROMPT });
  });

  await t.step(
    "a repair turn that fails: the error carries the first answer's tokens",
    async () => {
      await using fake = new FakeOpenAI([
        textAnswer("I think it is a task.", {
          usage: { prompt_tokens: 900, completion_tokens: 20 },
        }),
        errorAnswer(400),
      ]);
      const error = await model(fake).generate(
        { request: REQUEST, turns: [] },
        new AbortController().signal,
      ).then(() => undefined, (err: unknown) => err);
      assert.ok(error instanceof ModelError, String(error));
      assert.deepEqual(
        [error.code, error.status, error.usage?.inputTokens, error.usage?.outputTokens],
        ["HTTP", 400, 900, 20],
      );
    },
  );

  await t.step("arguments that are not JSON → each call answered, then the repair", async () => {
    await using fake = new FakeOpenAI([
      toolCallAnswer("extract_task", {}, { id: "call_bad", argumentsText: '{"title": "Send' }),
      toolCallAnswer("extract_task", TASK),
    ]);
    const { terminal } = await analyze(fake);
    assert.equal(asOutcome(terminal).outcome_kind, "extract_task");
    assert.equal(fake.requests.length, 2);
    assert.equal(fake.requests[1]!.refused, undefined);
    const messages = fake.bodies[1]!.messages.slice(2);
    assert.equal(messages[0]!.tool_calls?.[0]?.function.arguments, '{"title": "Send');
    assert.deepEqual(messages.slice(1), [
      { role: "tool", tool_call_id: "call_bad", content: BAD_ARGUMENTS },
      { role: "user", content: REPAIR_PROMPT },
    ]);
  });

  await t.step("arguments that are JSON but not an object, twice → no function", async () => {
    await using fake = new FakeOpenAI([
      toolCallAnswer("no_task_found", {}, { argumentsText: '["chat"]' }),
      toolCallAnswer("no_task_found", {}, { argumentsText: "not json" }),
    ]);
    const { terminal } = await analyze(fake);
    const outcome = asOutcome(terminal);
    assert.equal(
      outcome.context_summary,
      "No task analysis: the model did not call a function " +
        "(finish reason function arguments are not a JSON object)",
    );
    assert.equal(fake.requests.length, 2);
  });

  await t.step("a content filter stop is not repaired", async () => {
    await using fake = new FakeOpenAI([
      textAnswer(null, { finishReason: "content_filter" }),
      toolCallAnswer("extract_task", TASK),
    ]);
    const { terminal } = await analyze(fake);
    assert.match(asOutcome(terminal).context_summary, /\(finish reason content_filter\)$/);
    assert.equal(fake.requests.length, 1);
  });
});

Deno.test("OpenAIModel reads a pseudo <tool_call> in the text as a call (LM Studio)", async (t) => {
  await t.step("a decision", async () => {
    const text = '<tool_call>\n{"name": "extract_task", "arguments": ' + JSON.stringify(TASK) +
      "}\n</tool_call>";
    await using fake = new FakeOpenAI([textAnswer(text), textAnswer("unused")]);
    const { terminal } = await analyze(fake);
    const outcome = asOutcome(terminal);
    assert.equal(outcome.outcome_kind, "extract_task");
    if (outcome.outcome_kind === "extract_task") assert.equal(outcome.task.priority, "high");
    assert.equal(fake.requests.length, 1, "no repair needed");
  });
  await t.step("a search: its result goes back as a user message", async () => {
    await using fake = new FakeOpenAI([
      textAnswer(
        '<tool_call>{"name": "search_keywords", "arguments": {"query": "Q3"}}</tool_call>',
      ),
      textAnswer('<tool_call>{"name": "no_task_found", "arguments": "{}"}</tool_call>'),
    ]);
    const { events, terminal } = await analyze(fake, { answer: flightsResult });
    assert.equal(events[0]?.kind, "tool_call");
    assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
    const messages = fake.bodies[1]!.messages.slice(2);
    assert.equal(fake.requests[1]!.refused, undefined);
    assert.equal(messages[0]!.role, "assistant");
    assert.match(messages[0]!.content as string, /^<tool_call>/);
    assert.equal(messages[1]!.role, "user");
    assert.match(
      messages[1]!.content as string,
      /^<tool_response>\n1 matching task\(s\):\n- \[active\] #11 Book flights/,
    );
  });
  await t.step("plain JSON of one of our functions (Ollama) is a call too", async () => {
    await using fake = new FakeOpenAI([
      textAnswer(
        '```json\n{"name": "no_task_found", "parameters": {"context_summary": "A chat."}}\n```',
      ),
    ]);
    const { terminal } = await analyze(fake);
    const outcome = asOutcome(terminal);
    assert.equal(outcome.outcome_kind, "no_task_found");
    assert.equal(outcome.context_summary, "A chat.");
  });
});

Deno.test("pseudoCall() parses calls written as text, and nothing else", () => {
  assert.deepEqual(pseudoCall('<tool_call>{"name":"search_similar","arguments":{"query":"q"}}'), {
    name: "search_similar",
    args: { query: "q" },
  });
  assert.deepEqual(
    pseudoCall(
      'Sure.\n<tool_call>\n{"name": "reject_task", "arguments": "{\\"reason\\": \\"dup\\"}"}\n</tool_call>',
    ),
    { name: "reject_task", args: { reason: "dup" } },
  );
  assert.deepEqual(pseudoCall('{"name": "no_task_found", "arguments": {}}'), {
    name: "no_task_found",
    args: {},
  });
  // Bare JSON counts only when it names one of our functions.
  assert.equal(pseudoCall('{"name": "Sarah", "arguments": {}}'), undefined);
  assert.equal(pseudoCall("<tool_call>not json</tool_call>"), undefined);
  assert.equal(pseudoCall('<tool_call>{"arguments": {}}</tool_call>'), undefined);
  assert.equal(pseudoCall('<tool_call>{"name": "x", "arguments": [1]}</tool_call>'), undefined);
  assert.equal(pseudoCall("Looks like a task to me."), undefined);
  assert.equal(pseudoCall(""), undefined);
});

Deno.test("pseudoCall() reads fenced answers, and stays linear on a fence without its end", () => {
  assert.deepEqual(pseudoCall('```json\n{"name": "no_task_found", "arguments": {}}\n```'), {
    name: "no_task_found",
    args: {},
  });
  assert.deepEqual(pseudoCall('```{"name": "no_task_found", "arguments": {}}```'), {
    name: "no_task_found",
    args: {},
  });
  assert.equal(pseudoCall("```"), undefined);
  assert.equal(pseudoCall("``````"), undefined);
  // A model printing blank lines after a fence until its token limit: the regular expression
  // this replaced backtracked for seconds at 2,000 characters and minutes at 8,000, with
  // every session of the process frozen meanwhile.
  assert.equal(pseudoCall("```" + "\n".repeat(200_000) + "x"), undefined);
  assert.equal(pseudoCall("```json " + " \n".repeat(100_000) + "x"), undefined);
  assert.equal(pseudoCall("<tool_call>" + " ".repeat(200_000) + "x"), undefined);
  // Calls written as text past 16 KiB are not looked at (a real one is a few hundred bytes).
  const padded = `{"name": "no_task_found", "arguments": {"pad": "${"p".repeat(20_000)}"}}`;
  assert.equal(pseudoCall(padded), undefined);
  assert.equal(pseudoCall(`<tool_call>${padded}</tool_call>`), undefined);
});

Deno.test("OpenAIModel usage and cost", async (t) => {
  await t.step("prompt, cached, completion and reasoning tokens, priced", async () => {
    await using fake = new FakeOpenAI([
      toolCallAnswer("search_keywords", { query: "q" }, {
        usage: {
          prompt_tokens: 2000,
          completion_tokens: 120,
          prompt_tokens_details: { cached_tokens: 1536 },
          completion_tokens_details: { reasoning_tokens: 100 },
        },
      }),
      toolCallAnswer("no_task_found", SUMMARY, {
        usage: { prompt_tokens: 2100, completion_tokens: 30 },
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
      [4100, 1536, 50, 100],
    );
    // gpt-4.1-mini: $0.40 / 1M input, $0.10 cached, $1.60 output (reasoning billed as output).
    const expected = ((4100 - 1536) * 0.4 + 1536 * 0.1 + 150 * 1.6) / 1e6;
    assert.ok(Math.abs(usage.cost_usd - expected) < 1e-9, `${usage.cost_usd} ≈ ${expected}`);
  });

  await t.step("no usage in the reply → estimated from what was sent, and marked", async () => {
    await using fake = new FakeOpenAI([
      toolCallAnswer("no_task_found", SUMMARY, { usage: null }),
      toolCallAnswer("no_task_found", SUMMARY, { usage: null }),
    ]);
    const { lines, log } = recordingLogger();
    const m = model(fake, { log });
    const reply = await m.generate({ request: WITH_IMAGE, turns: [] }, AbortSignal.timeout(5_000));
    assert.equal(reply.usage.estimated, true);
    // About 4 characters a token of the body without the image, plus the image's estimate.
    const textChars = fake.requests[0]!.raw.length - JPEG.length;
    const textTokens = reply.usage.inputTokens - IMAGE_TOKEN_ESTIMATE;
    assert.ok(Math.abs(textTokens - textChars / 4) < textChars / 4 * 0.05, `${textTokens}`);
    const answered = JSON.stringify(SUMMARY).length / 4;
    assert.ok(reply.usage.outputTokens >= answered, `${reply.usage.outputTokens}`);
    assert.ok(reply.usage.outputTokens < answered + 60, `${reply.usage.outputTokens}`);
    assert.ok(reply.usage.costUsd > 0);
    // Once per model instance.
    await m.generate({ request: REQUEST, turns: [] }, AbortSignal.timeout(5_000));
    assert.deepEqual(lines.map((l) => JSON.parse(l).msg), [
      "server reported no token usage: tokens are estimated",
    ]);
  });

  await t.step("a reported usage is not marked estimated", async () => {
    await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)]);
    const reply: ModelReply = await model(fake).generate(
      { request: REQUEST, turns: [] },
      AbortSignal.timeout(5_000),
    );
    assert.equal(reply.usage.estimated, undefined);
    assert.equal(reply.usage.inputTokens, 1000);
  });
});

Deno.test("OpenAIModel retries what is worth retrying", async (t) => {
  await t.step("429 with Retry-After then success, the hint honoured", async () => {
    await using fake = new FakeOpenAI([
      errorAnswer(429, { headers: { "retry-after": "0.3" } }),
      toolCallAnswer("no_task_found", SUMMARY),
    ]);
    const started = performance.now();
    const { terminal } = await analyze(fake);
    assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
    assert.equal(fake.requests.length, 2);
    // Backoff alone would wait at most retryMaxMs (50 ms) here.
    assert.ok(performance.now() - started >= 290, "waited the server's 0.3 s");
    assert.deepEqual(fake.bodies[1], fake.bodies[0], "the same request again");
  });
  await t.step("retry-after-ms wins over Retry-After", () => {
    assert.equal(retryAfter(new Headers({ "retry-after-ms": "250", "retry-after": "9" })), 250);
    assert.equal(retryAfter(new Headers({ "retry-after": "2" })), 2000);
    assert.equal(
      retryAfter(new Headers({ "retry-after": new Date(10_000).toUTCString() }), 4_000),
      6_000,
    );
    assert.equal(retryAfter(new Headers()), undefined);
  });
  await t.step("503 then success", async () => {
    await using fake = new FakeOpenAI([errorAnswer(503), toolCallAnswer("no_task_found", SUMMARY)]);
    const { terminal } = await analyze(fake);
    assert.equal(asOutcome(terminal).outcome_kind, "no_task_found");
    assert.equal(fake.requests.length, 2);
  });
  await t.step("503 three times → GEMINI_ERROR after exactly 3 requests", async () => {
    await using fake = new FakeOpenAI([errorAnswer(503), errorAnswer(502), errorAnswer(503)]);
    const { terminal } = await analyze(fake);
    const error = ServerError.parse(terminal);
    assert.deepEqual([error.code, error.retryable, error.message], [
      "GEMINI_ERROR",
      true,
      "Model request failed (HTTP 503)",
    ]);
    assert.equal(fake.requests.length, 3);
  });
  for (const status of [403, 404, 422]) {
    await t.step(`${status} → no retry`, async () => {
      await using fake = new FakeOpenAI([
        errorAnswer(status),
        toolCallAnswer("no_task_found", SUMMARY),
      ]);
      const { terminal } = await analyze(fake);
      assert.equal(ServerError.parse(terminal).message, `Model request failed (HTTP ${status})`);
      assert.equal(fake.requests.length, 1);
    });
  }
  await t.step("a retry hint past the deadline gives up at once", async () => {
    await using fake = new FakeOpenAI([errorAnswer(429, { headers: { "retry-after": "60" } })]);
    const started = performance.now();
    const { terminal } = await analyze(fake, { modelCallTimeoutMs: 5_000 });
    assert.equal(ServerError.parse(terminal).code, "GEMINI_ERROR");
    assert.equal(fake.requests.length, 1);
    assert.ok(performance.now() - started < 4_000, "did not sleep toward the deadline");
  });
  await t.step("a network error is retried, then reported as such", async () => {
    const gone = new FakeOpenAI();
    const baseUrl = gone.baseUrl;
    await gone[Symbol.asyncDispose]();
    const { lines, log } = recordingLogger();
    await using fake = new FakeOpenAI();
    const { terminal } = await analyze(fake, { modelOptions: { baseUrl, log } });
    assert.equal(ServerError.parse(terminal).message, "Model request failed (network error)");
    assert.deepEqual(lines, []);
  });
});

Deno.test("OpenAIModel: 401 is not retried, and the key never reaches a log line or the client", async () => {
  await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)], {
    apiKey: "sk-the-right-one",
  });
  const { lines, log } = recordingLogger();
  // The SDK's own logger writes to the console: turned on through the environment, it must
  // still say nothing.
  const had = Deno.env.get("OPENAI_LOG");
  Deno.env.set("OPENAI_LOG", "debug");
  const printed: string[] = [];
  const methods = ["log", "debug", "info", "warn", "error"] as const;
  const saved = methods.map((m) => console[m]);
  for (const m of methods) {
    console[m] = (...args: unknown[]) => printed.push(args.map(String).join(" "));
  }
  let terminal: unknown;
  try {
    ({ terminal } = await analyze(fake, { modelOptions: { log } }));
  } finally {
    methods.forEach((m, i) => (console[m] = saved[i]!));
    if (had === undefined) Deno.env.delete("OPENAI_LOG");
    else Deno.env.set("OPENAI_LOG", had);
  }
  // The server's error text names the key it got: the SDK's error carries it.
  assert.match(fake.requests[0]!.refused ?? "", new RegExp(KEY));
  const error = ServerError.parse(terminal);
  assert.deepEqual([error.code, error.message], [
    "GEMINI_ERROR",
    "Model request failed (HTTP 401)",
  ]);
  assert.equal(fake.requests.length, 1, "not retried");
  assert.ok(!JSON.stringify(terminal).includes(KEY));
  assert.ok(!lines.some((l) => l.includes(KEY)), lines.join("\n"));
  assert.deepEqual(printed, [], "the SDK logged nothing");
});

Deno.test("OpenAIModel: a reply that is no chat completion is retried once", async (t) => {
  const cases: Array<[string, () => unknown, string]> = [
    [
      "a 200 whose body is not JSON",
      () => ({ text: "<html>oops</html>" }),
      "body is not a chat completion",
    ],
    [
      "JSON with a JSON content type that does not parse",
      () => ({ text: "{oops", headers: { "content-type": "application/json" } }),
      "body is not JSON",
    ],
    ["no choices", () => ({ json: { object: "chat.completion", choices: [] } }), "no choices"],
    [
      "a choice without a message",
      () => ({ json: { choices: [{ index: 0 }] } }),
      "choice without a message",
    ],
    [
      "a body that never ends (read no further than the cap)",
      () => ({ endless: true, prefix: '{"choices":[{"message":{"content":"' }),
      "body over the size cap",
    ],
    [
      "a declared length over the cap",
      () => ({ text: JSON.stringify({ choices: [], pad: "a".repeat(MAX_RESPONSE_BYTES) }) }),
      "body over the size cap",
    ],
  ];
  for (const [name, step, reason] of cases) {
    await t.step(name, async () => {
      await using fake = new FakeOpenAI([
        step() as never,
        step() as never,
        toolCallAnswer("no_task_found", SUMMARY),
      ]);
      const { lines, log } = recordingLogger();
      const { terminal } = await analyze(fake, { modelOptions: { log } });
      const error = ServerError.parse(terminal);
      assert.deepEqual([error.code, error.message], [
        "GEMINI_ERROR",
        "Model returned an unreadable response",
      ]);
      assert.equal(fake.requests.length, 2, "retried once, not more");
      const logged = lines.map((l) => JSON.parse(l));
      assert.deepEqual(logged.map((l) => [l.msg, l.reason, l.attempt]), [
        ["model reply unreadable", reason, 1],
        ["model reply unreadable", reason, 2],
      ]);
    });
  }
});

Deno.test("OpenAIModel deadlines and cancellation", async (t) => {
  await t.step(
    "a response slower than MODEL_CALL_TIMEOUT_MS → timed out, request aborted",
    async () => {
      await using fake = new FakeOpenAI([{ hang: true }]);
      const { terminal } = await analyze(fake, { modelCallTimeoutMs: 200 });
      const error = ServerError.parse(terminal);
      assert.deepEqual([error.code, error.message], ["GEMINI_ERROR", "Model request timed out"]);
      await fake.sawAbort();
      assert.equal(fake.requests.length, 1);
    },
  );
  await t.step("a cancel mid-call aborts the HTTP request", async () => {
    await using fake = new FakeOpenAI([{ hang: true }]);
    const controller = new AbortController();
    const done = analyze(fake, { signal: controller.signal });
    while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
    controller.abort(new Error("client disconnected"));
    const { terminal } = await done;
    assert.equal(terminal, undefined, "no terminal after a cancel");
    await fake.sawAbort();
  });
});

Deno.test("buildModel() makes an OpenAIModel from MODEL_PROVIDER=openai", async () => {
  await using fake = new FakeOpenAI([toolCallAnswer("no_task_found", SUMMARY)]);
  const config = loadConfig({
    MODEL_PROVIDER: "openai",
    OPENAI_BASE_URL: `${fake.baseUrl}/`,
    OPENAI_MODEL: "qwen2.5-vl-7b-instruct",
    OPENAI_VISION: "false",
  });
  const { lines, log } = recordingLogger();
  const built = buildModel(config, log);
  assert.ok(built instanceof OpenAIModel);
  assert.equal(built.name, "openai:qwen2.5-vl-7b-instruct");
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), [
    "no price for this model: cost_usd will be 0",
  ]);
  const { terminal } = await analyze(fake, { model: built, request: WITH_IMAGE });
  const outcome = asOutcome(terminal);
  assert.equal(outcome.usage.cost_usd, 0);
  assert.equal(fake.requests[0]!.path, "/v1/chat/completions");
  assert.equal(fake.bodies[0]!.model, "qwen2.5-vl-7b-instruct");
  assert.equal((fake.bodies[0]!.messages[1]!.content as ContentPart[]).length, 2, "vision off");
  assert.equal(fake.requests[0]!.headers.get("authorization"), "Bearer no-key");
});

Deno.test("OPENAI_TOOLS are the five functions with their JSON Schema", () => {
  assert.equal(OPENAI_TOOLS.length, 5);
  for (const tool of OPENAI_TOOLS) {
    assert.equal(tool.type, "function");
    const parameters = tool.function.parameters as Record<string, unknown>;
    assert.equal(parameters.type, "object");
    assert.equal("$schema" in parameters, false);
  }
});
