import assert from "node:assert/strict";
import {
  type AnalysisEvent,
  analyzeFrame,
  type AnalyzeFrameOptions,
  type ToolCallEvent,
} from "../../src/analysis/analyze_frame.ts";
import { type AnalysisRequest, ModelError } from "../../src/analysis/model.ts";
import { AnalysisOutcome, ServerError, type ToolResult } from "../../src/protocol/messages.ts";
import { call, delay, ScriptedModel, type Step } from "../fakes/fake_model.ts";

const REQUEST: AnalysisRequest = {
  frame: { frameId: "f1", appName: "Slack", windowTitle: "#general", ocrText: "hello" },
  context: { active_tasks: [{ task_id: 1, description: "Send Q3 report", priority: "high" }] },
  today: "2026-11-25",
};

type Answer = (event: ToolCallEvent) => ToolResult | undefined | Promise<ToolResult | undefined>;

/** Drives analyzeFrame like a session would and returns every event. */
async function run(
  steps: Step[],
  options: Partial<AnalyzeFrameOptions> & { answer?: Answer } = {},
): Promise<{ events: AnalysisEvent[]; model: ScriptedModel }> {
  const model = new ScriptedModel(steps);
  const controller = new AbortController();
  const generator = analyzeFrame(REQUEST, {
    model,
    signal: controller.signal,
    analysisTimeoutMs: 10_000,
    modelCallTimeoutMs: 5_000,
    toolResultTimeoutMs: 5_000,
    ...options,
  });
  const answer: Answer = options.answer ??
    ((e) => ({ type: "tool_result", request_id: e.message.request_id, results: [] }));
  const events: AnalysisEvent[] = [];
  let input: ToolResult | undefined;
  for (;;) {
    const step = await generator.next(input);
    if (step.done) break;
    events.push(step.value);
    input = step.value.kind === "tool_call" ? await answer(step.value) : undefined;
  }
  return { events, model };
}

/** Waits until the tool-wait signal aborts, as a silent desktop would make the session do. */
function never(event: ToolCallEvent): Promise<undefined> {
  return new Promise((resolve) => {
    if (event.signal.aborted) return resolve(undefined);
    event.signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
}

function terminal(events: AnalysisEvent[]) {
  const last = events.at(-1);
  assert.equal(last?.kind, "terminal", "the last event is terminal");
  assert.equal(events.filter((e) => e.kind === "terminal").length, 1, "exactly one terminal");
  return last.message;
}

function outcome(events: AnalysisEvent[]): AnalysisOutcome {
  const message = terminal(events);
  assert.equal(message.type, "analysis_outcome");
  return AnalysisOutcome.parse(message);
}

function error(events: AnalysisEvent[]): ServerError {
  const message = terminal(events);
  assert.equal(message.type, "server_error");
  return ServerError.parse(message);
}

const EXTRACT = {
  title: "Send the Q3 report",
  description: "Sarah asked for the Q3 report",
  priority: "high",
  tags: ["report"],
  source_app: "Slack",
  inferred_deadline: "2026-11-27",
  confidence: 0.9,
  source_category: "message",
  source_subcategory: "direct_request",
  relevance_score: 2,
  context_summary: "Sarah asks for the report",
  current_activity: "Chatting",
};

Deno.test("analyzeFrame() ends with each terminal decision", async (t) => {
  await t.step("extract_task yields the task with wire types", async () => {
    const { events } = await run([call("extract_task", EXTRACT)]);
    const o = outcome(events);
    assert.equal(o.outcome_kind, "extract_task");
    if (o.outcome_kind !== "extract_task") return;
    assert.deepEqual(o.task, {
      title: "Send the Q3 report",
      description: "Sarah asked for the Q3 report",
      priority: "high",
      tags: ["report"],
      source_app: "Slack",
      inferred_deadline: "2026-11-27",
      confidence: 0.9,
      source_category: "message",
      source_subcategory: "direct_request",
      relevance_score: 2,
    });
    assert.equal(o.frame_id, "f1");
    assert.equal(o.context_summary, "Sarah asks for the report");
    assert.equal(o.current_activity, "Chatting");
    assert.equal(o.usage.model_calls, 1);
    assert.equal(o.usage.input_tokens, 100);
  });
  await t.step("reject_task yields the reason", async () => {
    const { events } = await run([call("reject_task", { reason: "Duplicate of #1" })]);
    const o = outcome(events);
    assert.equal(o.outcome_kind, "reject_task");
    if (o.outcome_kind === "reject_task") assert.equal(o.reason, "Duplicate of #1");
    assert.equal(o.current_activity, "Slack", "current_activity defaults to the app name");
  });
  await t.step("no_task_found yields the summary", async () => {
    const { events } = await run([
      call("no_task_found", { context_summary: "Reading", current_activity: "Reading news" }),
    ]);
    const o = outcome(events);
    assert.equal(o.outcome_kind, "no_task_found");
    assert.equal(o.context_summary, "Reading");
    assert.equal(o.current_activity, "Reading news");
  });
});

Deno.test("analyzeFrame() runs a search round before deciding", async (t) => {
  for (
    const [kind, decision] of [["search_similar", "extract_task"], [
      "search_keywords",
      "reject_task",
    ]] as const
  ) {
    await t.step(`${kind} then ${decision}`, async () => {
      const { events, model } = await run([
        call(kind, { query: "Q3 report" }),
        call(decision, decision === "extract_task" ? EXTRACT : { reason: "dup" }),
      ], {
        answer: (e) => ({
          type: "tool_result",
          request_id: e.message.request_id,
          results: [{
            task_id: 1,
            description: "Send Q3 report",
            status: "active",
            similarity: 0.91,
          }],
        }),
      });
      assert.equal(events.length, 2);
      const first = events[0];
      assert.equal(first?.kind, "tool_call");
      if (first?.kind !== "tool_call") return;
      assert.equal(first.message.tool_kind, kind);
      assert.equal(first.message.query, "Q3 report");
      assert.equal(first.message.deadline_ms, 5_000);
      assert.equal(first.message.frame_id, "f1");
      assert.match(first.message.request_id, /^[0-9a-f-]{36}$/);
      const o = outcome(events);
      assert.equal(o.outcome_kind, decision);
      assert.equal(o.usage.model_calls, 2);
      assert.equal(o.usage.tool_calls, 1);
      assert.equal(o.usage.input_tokens, 200);
      // The second call sees the first reply verbatim and the formatted results.
      const turns = model.calls[1]?.turns ?? [];
      assert.equal(turns.length, 2);
      assert.equal(turns[0]?.role, "model");
      if (turns[0]?.role === "model") {
        assert.deepEqual(turns[0].reply.content, {
          functionCall: { name: kind, args: { query: "Q3 report" } },
        });
      }
      assert.equal(turns[1]?.role, "tool");
      if (turns[1]?.role === "tool") {
        assert.match(turns[1].output, /#1 Send Q3 report/);
        assert.equal(turns[1].results.length, 1);
      }
    });
  }
  await t.step("a search error goes back to the model as text", async () => {
    const { events, model } = await run([
      call("search_keywords", { query: "x" }),
      call("no_task_found", {}),
    ], {
      answer: (e) => ({
        type: "tool_result",
        request_id: e.message.request_id,
        error: "db locked",
      }),
    });
    assert.equal(outcome(events).outcome_kind, "no_task_found");
    const turn = model.calls[1]?.turns[1];
    assert.equal(turn?.role === "tool" && turn.output, "Search error: db locked");
  });
  await t.step("an empty query is answered without asking the client", async () => {
    const { events, model } = await run([
      call("search_keywords", { query: "  " }),
      call("no_task_found"),
    ]);
    assert.equal(events.filter((e) => e.kind === "tool_call").length, 0);
    const turn = model.calls[1]?.turns[1];
    assert.equal(turn?.role === "tool" && turn.output, "Search error: the query was empty");
  });
});

Deno.test("analyzeFrame() falls back to no_task_found", async (t) => {
  await t.step("when the tool result times out", async () => {
    const { events } = await run([call("search_similar", { query: "q" })], {
      toolResultTimeoutMs: 50,
      answer: never,
    });
    const o = outcome(events);
    assert.equal(o.outcome_kind, "no_task_found");
    assert.match(o.context_summary, /did not answer in time/);
    assert.equal(o.current_activity, "Slack");
    assert.equal(o.usage.tool_calls, 1);
  });
  await t.step("after 5 model calls (the cap), without a 5th tool call", async () => {
    const steps = Array.from({ length: 5 }, () => call("search_keywords", { query: "q" }));
    const { events, model } = await run(steps);
    assert.equal(model.calls.length, 5);
    assert.equal(events.filter((e) => e.kind === "tool_call").length, 4);
    const o = outcome(events);
    assert.match(o.context_summary, /used up its calls/);
    assert.equal(o.usage.model_calls, 5);
  });
  await t.step("when the model calls an unknown function", async () => {
    const { events } = await run([call("delete_everything", {})]);
    assert.match(outcome(events).context_summary, /unknown function/);
  });
  await t.step("when the model calls no function, naming the finish reason", async () => {
    const { events } = await run([{ text: "I think there is a task", finishReason: "SAFETY" }]);
    const o = outcome(events);
    assert.equal(o.outcome_kind, "no_task_found");
    assert.match(o.context_summary, /did not call a function \(finish reason SAFETY\)/);
  });
  await t.step("when extract_task has neither title nor description", async () => {
    const { events } = await run([call("extract_task", { title: null, description: "" })]);
    assert.match(outcome(events).context_summary, /without a title/);
  });
});

Deno.test("analyzeFrame() reports model failures as GEMINI_ERROR", async (t) => {
  await t.step("with the provider's safe message", async () => {
    const { events } = await run([{
      throws: new ModelError("HTTP", "Model request failed (HTTP 503)", { status: 503 }),
    }]);
    const e = error(events);
    assert.deepEqual(
      { code: e.code, message: e.message, retryable: e.retryable, frame_id: e.frame_id },
      {
        code: "GEMINI_ERROR",
        message: "Model request failed (HTTP 503)",
        retryable: true,
        frame_id: "f1",
      },
    );
  });
  await t.step("with a generic message for any other error (no internals)", async () => {
    const { events } = await run([{ throws: new Error("secret https://x?key=AIza123") }]);
    const e = error(events);
    assert.equal(e.code, "GEMINI_ERROR");
    assert.equal(e.message, "Model request failed");
  });
  await t.step("when the model call passes MODEL_CALL_TIMEOUT_MS", async () => {
    const { events, model } = await run([{ hang: true }], { modelCallTimeoutMs: 50 });
    const e = error(events);
    assert.equal(e.code, "GEMINI_ERROR");
    assert.equal(e.message, "Model request timed out");
    assert.equal(model.calls[0]?.aborted, true, "the model saw its signal abort");
  });
});

Deno.test("analyzeFrame() tells the frame deadline from a cancel by its own signals", async (t) => {
  // The model rejects with a plain AbortError in both cases, as the Gemini SDK does.
  const abortError = (_c: unknown, signal: AbortSignal) =>
    new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")))
    );
  await t.step("deadline → ANALYSIS_TIMEOUT", async () => {
    const { events } = await run([abortError], { analysisTimeoutMs: 50 });
    assert.equal(error(events).code, "ANALYSIS_TIMEOUT");
  });
  await t.step("deadline during a tool wait → ANALYSIS_TIMEOUT", async () => {
    const { events } = await run([call("search_similar", { query: "q" })], {
      analysisTimeoutMs: 50,
      toolResultTimeoutMs: 5_000,
      answer: never,
    });
    assert.equal(error(events).code, "ANALYSIS_TIMEOUT");
  });
  await t.step("cancel → no terminal at all, and the model call is aborted", async () => {
    const model = new ScriptedModel([abortError]);
    const controller = new AbortController();
    const generator = analyzeFrame(REQUEST, {
      model,
      signal: controller.signal,
      analysisTimeoutMs: 10_000,
      modelCallTimeoutMs: 10_000,
      toolResultTimeoutMs: 5_000,
    });
    const pending = generator.next();
    await delay(10);
    controller.abort(new Error("client disconnected"));
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.equal(model.calls[0]?.aborted, true);
  });
  await t.step("a model that ignores its signal still cannot hold the frame", async () => {
    let release!: () => void;
    const stubborn = () =>
      new Promise<never>((_, reject) => {
        release = () => reject(new Error("late"));
      });
    const { events } = await run([stubborn], { analysisTimeoutMs: 50 });
    assert.equal(error(events).code, "ANALYSIS_TIMEOUT");
    release();
  });
});

Deno.test("analyzeFrame() coerces malformed model arguments to wire types", async (t) => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    ["string confidence", { title: "T", confidence: "0.85" }, { confidence: 0.85 }],
    ["percent confidence", { title: "T", confidence: "85%" }, { confidence: 0.85 }],
    ["confidence above range", { title: "T", confidence: 250 }, { confidence: 1 }],
    ["unparsable confidence", { title: "T", confidence: "very" }, { confidence: 0 }],
    ["null title", { title: null, description: "Pay the invoice" }, { title: "Pay the invoice" }],
    ["numeric title", { title: 42 }, { title: "42" }],
    ["string tags", { title: "T", tags: "work, urgent ,,work" }, { tags: ["work", "urgent"] }],
    ["tags with junk", { title: "T", tags: [1, null, "a", { x: 1 }] }, { tags: ["1", "a"] }],
    ['priority "URGENT"', { title: "T", priority: "URGENT" }, { priority: "medium" }],
    ['priority "High"', { title: "T", priority: " High " }, { priority: "high" }],
    ["missing priority", { title: "T" }, { priority: "medium" }],
    ['relevance_score "7.9"', { title: "T", relevance_score: "7.9" }, { relevance_score: 8 }],
    ["relevance_score junk", { title: "T", relevance_score: "n/a" }, { relevance_score: 0 }],
    ["negative relevance_score", { title: "T", relevance_score: -3 }, { relevance_score: 0 }],
    ["date-time deadline", { title: "T", inferred_deadline: "2026-12-01T17:00:00Z" }, {
      inferred_deadline: "2026-12-01",
    }],
    ["impossible date", { title: "T", inferred_deadline: "2026-02-31" }, { inferred_deadline: "" }],
    ["prose deadline", { title: "T", inferred_deadline: "next Friday" }, { inferred_deadline: "" }],
    ["missing source_app", { title: "T", source_app: null }, { source_app: "Slack" }],
    ["missing everything else", { title: "T" }, {
      description: "",
      tags: [],
      source_category: "",
      source_subcategory: "",
      confidence: 0,
    }],
  ];
  for (const [name, args, expected] of cases) {
    await t.step(name, async () => {
      const { events } = await run([call("extract_task", args)]);
      const o = outcome(events); // parse() enforces every wire type
      assert.equal(o.outcome_kind, "extract_task");
      if (o.outcome_kind !== "extract_task") return;
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(o.task[key as keyof typeof o.task], value, key);
      }
    });
  }
  await t.step("overlong title is bounded", async () => {
    const { events } = await run([call("extract_task", { title: "x".repeat(5000) })]);
    const o = outcome(events);
    assert.ok(o.outcome_kind === "extract_task" && o.task.title.length <= 200);
  });
});

Deno.test("analyzeFrame() lists every model call in usage.calls", async (t) => {
  await t.step("a search then an extract: two entries that sum to the totals", async () => {
    // A clock that moves 7.4 ms per reading: each entry's ms is rounded on its own.
    let clock = 0;
    const { events } = await run([
      {
        call: { name: "search_keywords", args: { query: "Q3 report" } },
        usage: {
          inputTokens: 1200,
          cachedInputTokens: 0,
          outputTokens: 30,
          thinkingTokens: 12,
          costUsd: 0.000412345678,
        },
      },
      {
        call: { name: "extract_task", args: EXTRACT },
        usage: {
          inputTokens: 1300,
          cachedInputTokens: 1024,
          outputTokens: 140,
          thinkingTokens: 0,
          costUsd: 0.00071,
        },
      },
    ], { now: () => (clock += 7.4) });
    const o = outcome(events);
    assert.equal(o.outcome_kind, "extract_task");
    const calls = o.usage.calls ?? [];
    assert.deepEqual(calls.map((c) => c.function), ["search_keywords", "extract_task"]);
    assert.deepEqual(calls.map((c) => c.model), ["scripted", "scripted"]);
    assert.deepEqual(calls[0], {
      model: "scripted",
      ms: 7,
      input_tokens: 1200,
      cached_input_tokens: 0,
      output_tokens: 30,
      thinking_tokens: 12,
      cost_usd: 0.00041235,
      function: "search_keywords",
    });
    const sum = (
      key: "input_tokens" | "cached_input_tokens" | "output_tokens" | "thinking_tokens",
    ) => calls.reduce((n, c) => n + c[key], 0);
    assert.equal(sum("input_tokens"), o.usage.input_tokens);
    assert.equal(sum("cached_input_tokens"), o.usage.cached_input_tokens);
    assert.equal(sum("output_tokens"), o.usage.output_tokens);
    assert.equal(sum("thinking_tokens"), o.usage.thinking_tokens);
    assert.equal(calls.length, o.usage.model_calls);
    for (const c of calls) assert.ok(Number.isInteger(c.ms));
  });
  await t.step("a reply without a function call has an entry without `function`", async () => {
    const { events } = await run([{ text: "I think there is no task." }]);
    const calls = outcome(events).usage.calls ?? [];
    assert.equal(calls.length, 1);
    assert.ok(!("function" in calls[0]!), "no function key");
  });
  await t.step("no model call: no calls key", async () => {
    const { events } = await run([], { maxModelCalls: 0 });
    assert.ok(!("calls" in outcome(events).usage));
  });
});

Deno.test("analyzeFrame() reports each call's spend as it is billed, whatever the frame's end", async (t) => {
  const usage = { inputTokens: 300, outputTokens: 7, costUsd: 0.002 };
  const search: Step = { call: { name: "search_keywords", args: { query: "q" } }, usage };
  await t.step("a billed call, then a failure that was billed too", async () => {
    const spent: number[] = [];
    const failed = new ModelError("HTTP", "Model request failed (HTTP 503)", {
      status: 503,
      usage: { inputTokens: 40, outputTokens: 0, costUsd: 0.0005 },
    });
    const { events } = await run([search, { throws: failed }], {
      onSpend: (u) => spent.push(u.costUsd),
    });
    assert.equal(ServerError.parse(terminal(events)).code, "GEMINI_ERROR");
    assert.deepEqual(spent, [0.002, 0.0005]);
  });
  await t.step(
    "the client leaves during the search: the first call is spent all the same",
    async () => {
      const spent: number[] = [];
      const controller = new AbortController();
      const generator = analyzeFrame(REQUEST, {
        model: new ScriptedModel([search]),
        signal: controller.signal,
        analysisTimeoutMs: 10_000,
        modelCallTimeoutMs: 5_000,
        toolResultTimeoutMs: 5_000,
        onSpend: (u) => spent.push(u.costUsd),
      });
      const first = await generator.next(undefined);
      assert.equal(first.done ? undefined : first.value.kind, "tool_call");
      controller.abort();
      assert.equal((await generator.next(undefined)).done, true, "no terminal after a cancel");
      assert.deepEqual(spent, [0.002]);
    },
  );
});
