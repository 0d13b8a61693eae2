/** The console's model without the DOM (`src/console/state.ts`). */
import assert from "node:assert/strict";
import {
  addExtracted,
  addItem,
  answerSearch,
  emptyContext,
  evalCase,
  evalCaseProblem,
  forLog,
  type FrameRecord,
  markSent,
  removeItem,
  SentContexts,
  sessionContext,
  timeline,
  totals,
} from "../../src/console/state.ts";
import type { AnalysisOutcome, ExtractedTask } from "../../src/protocol/types.ts";
import { loadCases } from "../../src/eval/cases.ts";
import { ProactiveClient } from "../../src/client/client.ts";
import type { WebSocketConstructor } from "../../src/client/connection.ts";
import { buildModel, sessionLimits } from "../../src/compose.ts";
import { loadAnalysisConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { startLocalServer } from "../../src/replay/local_server.ts";

const TASK: ExtractedTask = {
  title: "Send the Q3 report",
  description: "d",
  priority: "high",
  tags: [],
  source_app: "Slack",
  inferred_deadline: "",
  confidence: 0.9,
  source_category: "work",
  source_subcategory: "request",
  relevance_score: 0,
};

function outcome(calls: string[], extra: Partial<AnalysisOutcome> = {}): AnalysisOutcome {
  return {
    type: "analysis_outcome",
    outcome_kind: "extract_task",
    task: TASK,
    frame_id: "f1",
    context_summary: "s",
    current_activity: "a",
    usage: {
      model_calls: calls.length,
      tool_calls: 1,
      input_tokens: 300,
      cached_input_tokens: 100,
      output_tokens: 20,
      thinking_tokens: 5,
      model_ms: 30,
      tool_ms: 4,
      total_ms: 40,
      cost_usd: 0.001,
      calls: calls.map((fn) => ({
        model: "gemini:gemini-2.5-flash",
        ms: 15,
        input_tokens: 150,
        cached_input_tokens: 50,
        output_tokens: 10,
        thinking_tokens: 0,
        cost_usd: 0.0005,
        function: fn,
      })),
    },
    ...extra,
  } as AnalysisOutcome;
}

Deno.test("console state: the context lists", async (t) => {
  await t.step("ids are unique across the task lists; goals get g<n>", () => {
    let c = addItem(emptyContext(), "active", " Book flights ");
    c = addItem(c, "completed", "Pay rent");
    c = addItem(c, "deleted", "Old thing");
    c = addItem(c, "goals", "Ship Q4");
    c = addItem(c, "goals", "Run a 10k");
    assert.deepEqual(sessionContext(c), {
      active_tasks: [{ task_id: 1, description: "Book flights" }],
      completed_tasks: [{ task_id: 2, description: "Pay rent" }],
      deleted_tasks: [{ task_id: 3, description: "Old thing" }],
      goals: [{ goal_id: "g1", title: "Ship Q4" }, { goal_id: "g2", title: "Run a 10k" }],
    });
    assert.equal(addItem(c, "active", "   "), c, "blank text adds nothing");
    const removed = removeItem(c, "goals", 0);
    assert.deepEqual(removed.goals.map((g) => g.goal_id), ["g2"]);
    assert.equal(addItem(removed, "goals", "x").goals.at(-1)!.goal_id, "g3", "never a taken id");
  });

  await t.step("an extracted task joins the active list; searches find it with its status", () => {
    let c = addItem(emptyContext(), "completed", "Send Q3 report to Sarah");
    c = addExtracted(c, TASK);
    assert.deepEqual(c.active, [{
      task_id: 2,
      description: "Send the Q3 report",
      priority: "high",
    }]);
    const hits = answerSearch(c, "search_keywords", "Q3 report");
    assert.deepEqual(hits.map((h) => [h.task_id, h.status]).sort(), [[1, "completed"], [
      2,
      "active",
    ]]);
    assert.deepEqual(answerSearch(c, "search_similar", "send the q3 report")[0]!.task_id, 2);
  });
});

Deno.test("console state: a frame's timeline and the totals", async (t) => {
  const frame: FrameRecord = {
    id: "f1",
    fields: { app_name: "Slack", window_title: "#g", ocr_text: "hi" },
    context: {},
    sentAt: 0,
    searches: [{
      requestId: "r1",
      toolKind: "search_keywords",
      query: "q3",
      results: [],
      ms: 3,
      byHand: false,
    }],
    terminal: outcome(["search_keywords", "extract_task"]),
    ms: 40,
  };

  await t.step("each search follows the model call that asked for it", () => {
    assert.deepEqual(timeline(frame).map((s) => s.kind), [
      "sent",
      "model_call",
      "search",
      "model_call",
      "terminal",
    ]);
  });

  await t.step("skips and redactions come before the calls", () => {
    const skipped: FrameRecord = {
      ...frame,
      searches: [],
      terminal: outcome([], {
        outcome_kind: "no_task_found",
        usage: {
          ...outcome([]).usage,
          calls: undefined,
          skipped: "privacy",
          redactions: { card: 1 },
        },
      } as Partial<AnalysisOutcome>),
    };
    assert.deepEqual(timeline(skipped).map((s) => s.kind), [
      "sent",
      "privacy",
      "skipped",
      "terminal",
    ]);
  });

  await t.step("a failed frame ends in failed, and counts as an error", () => {
    const failed: FrameRecord = { ...frame, terminal: undefined, searches: [], error: "TIMEOUT" };
    assert.deepEqual(timeline(failed).map((s) => s.kind), ["sent", "failed"]);
    const t2 = totals([frame, failed]);
    assert.equal(t2.frames, 2);
    assert.equal(t2.errors, 1);
    assert.equal(t2.modelCalls, 2);
    assert.equal(t2.searches, 1);
    assert.equal(t2.inputTokens, 300);
    assert.equal(t2.cachedInputTokens, 100);
    assert.equal(t2.outputTokens, 25, "thinking counts as output");
    assert.equal(t2.costUsd, 0.001);
    assert.deepEqual(t2.outcomes, { extract_task: 1 });
  });
});

Deno.test("console state: eval cases", async (t) => {
  const frame: FrameRecord = {
    id: "console-1",
    fields: {
      screenshot_id: "console-1",
      app_name: "Slack",
      window_title: "#g",
      ocr_text: "Send it?",
      jpeg_base64: "/9j/AAAA",
    },
    context: { active_tasks: [{ task_id: 1, description: "Book flights" }] },
    sentAt: 0,
    searches: [],
    terminal: outcome(["extract_task"]),
  };

  await t.step("one line that deno task eval reads back as the same case", async () => {
    const line = evalCase(frame, "console-1");
    assert.equal(evalCaseProblem(line), undefined);
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/case.jsonl`, `${line}\n`);
      const [loaded] = await loadCases([`${dir}/case.jsonl`]);
      assert.equal(loaded!.id, "console-1");
      assert.equal(loaded!.expect, "extract_task");
      assert.equal(loaded!.frame.ocr_text, "Send it?");
      assert.equal(loaded!.frame.jpeg_base64, "/9j/AAAA");
      assert.deepEqual(loaded!.context, frame.context);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("the expectation can be changed", () => {
    assert.equal(JSON.parse(evalCase(frame, "x", "no_task_found")).expect, "no_task_found");
  });

  await t.step("an edited line with a problem is named, not saved", () => {
    assert.equal(evalCaseProblem("{"), "Not valid JSON");
    assert.equal(evalCaseProblem("[1]"), "A case must be a JSON object");
    assert.equal(
      evalCaseProblem('{"id":"a","expect":"maybe","frame":{}}'),
      'Unknown "expect" "maybe": must be one of extract_task, reject_task, no_task_found',
    );
    assert.equal(
      evalCaseProblem('{"id":"","expect":"reject_task","frame":{}}'),
      '"id" must be a non-empty string',
    );
    assert.equal(evalCaseProblem('{"id":"a","expect":"reject_task"}'), '"frame" must be an object');
    assert.equal(
      evalCaseProblem('{"id":"a",\n"expect":"reject_task","frame":{}}'),
      "An eval case is one line of JSON",
    );
  });
});

Deno.test("console state: the console refuses exactly the cases deno task eval refuses", async () => {
  const frame = { app_name: "Slack", window_title: "#team", ocr_text: "Send it?" };
  const line = (over: Record<string, unknown>) =>
    JSON.stringify({ id: "c", expect: "no_task_found", frame, ...over });
  const refused = [
    line({ frame: { app_name: "Slack", window_title: "#team" } }),
    line({ frame: { ...frame, ocr_text: 3 } }),
    line({ id: "x".repeat(1025) }),
    line({ frame: { ...frame, jpeg_base64: "iVBORw0KGgo=" } }),
    line({ frame: { ...frame, jpeg_base64: "/9j/", jpeg_path: "a.jpg" } }),
    line({ frame: { ...frame, jpeg_path: "/etc/passwd" } }),
    line({ context: { active_tasks: [{ task_id: "one", description: "x" }] } }),
    line({ context: [] }),
    line({ notes: 5 }),
    line({ expect: undefined }),
  ];
  const dir = await Deno.makeTempDir();
  try {
    for (const [i, text] of refused.entries()) {
      const problem = evalCaseProblem(text);
      assert.ok(problem, `the console accepts case ${i}, which the eval refuses`);
      await Deno.writeTextFile(`${dir}/case.jsonl`, `${text}\n`);
      const err = await loadCases([`${dir}/case.jsonl`]).then(() => undefined, (e) => e);
      assert.ok(err instanceof Error, `the eval accepts case ${i}`);
      // The same reason in both, the console's capitalised.
      assert.equal(problem.toLowerCase(), err.message.replace(/^.*?:\d+: /, "").toLowerCase());
    }
    // And one both accept.
    const good = line({ context: { active_tasks: [{ task_id: 1, description: "x" }] } });
    assert.equal(evalCaseProblem(good), undefined);
    await Deno.writeTextFile(`${dir}/case.jsonl`, `${good}\n`);
    assert.equal((await loadCases([`${dir}/case.jsonl`])).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("console state: the raw log shortens screenshots only", () => {
  const image = "A".repeat(10_000);
  const shown = JSON.parse(
    forLog(JSON.stringify({ type: "frame_event", jpeg_base64: image, ocr_text: "x" })),
  );
  assert.equal(shown.ocr_text, "x");
  assert.match(shown.jpeg_base64, /^A{32}… \(10,000 characters\)$/);
  assert.equal(forLog("not json"), "not json");
});

Deno.test("console state: SentContexts follows the context the server holds, frame by frame", () => {
  const a = sessionContext(addItem(emptyContext(), "active", "Review the budget"));
  const b = sessionContext(addItem(emptyContext(), "goals", "Ship v2"));
  const sent = new SentContexts(2);
  const out = (m: Record<string, unknown>) => sent.observe(JSON.stringify(m));
  assert.equal(out({ type: "client_hello", context_version: "1", session_context: a }), undefined);
  assert.deepEqual(out({ type: "frame_event", screenshot_id: "f1" }), {
    frameId: "f1",
    context: a,
  });
  out({ type: "frame_event", screenshot_id: "f2", context_version: "2", session_context: b });
  out({ type: "frame_event", screenshot_id: "f3" });
  assert.deepEqual(sent.contextOf("f2"), b);
  assert.deepEqual(sent.contextOf("f3"), b);
  assert.equal(sent.contextOf("f1"), undefined, "the oldest is forgotten past the limit");
  // A new socket: its hello carries the context again.
  out({ type: "client_hello", context_version: "2", session_context: a });
  out({ type: "frame_event", screenshot_id: "f4" });
  assert.deepEqual(sent.contextOf("f4"), a);
  // Anything else (a tool_result, not JSON) changes nothing.
  assert.equal(out({ type: "tool_result", request_id: "r" }), undefined);
  assert.equal(sent.observe("not json"), undefined);
});

Deno.test("console state: a saved eval case carries the context the frame was sent with, not the one it was queued with", async () => {
  const config = loadAnalysisConfig({ MODEL_PROVIDER: "offline" });
  await using server = startLocalServer({
    model: buildModel(config, silentLogger),
    limits: sessionLimits(config),
  });
  const sent = new SentContexts();
  const frames: FrameRecord[] = [];
  // As the page's LoggedWebSocket does: every outgoing message is observed.
  const Observed = class extends WebSocket {
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      if (typeof data === "string") {
        const out = sent.observe(data);
        const frame = out && frames.find((f) => f.id === out.frameId);
        if (out && frame) markSent(frame, out.context);
      }
      super.send(data as string);
    }
  } as unknown as WebSocketConstructor;
  let context = addItem(emptyContext(), "active", "Review the budget");
  const queuedWith = sessionContext(context);
  await using client = await ProactiveClient.connect({
    url: server.url,
    appVersion: "console-test",
    context: sessionContext(context),
    WebSocket: Observed,
  });
  // Two frames queued at once, each recorded with the page's context as the page queues it.
  const record = (id: string): FrameRecord => {
    const frame: FrameRecord = {
      id,
      fields: { screenshot_id: id, app_name: "Notes", window_title: "n", ocr_text: "lunch" },
      context: sessionContext(context),
      sentAt: performance.now(),
      searches: [],
    };
    frames.push(frame);
    return frame;
  };
  const first = record("f1");
  const second = record("f2");
  const answers = [client.analyzeFrame(first.fields), client.analyzeFrame(second.fields)];
  // While the second waits behind the first, the page's context changes (as when the first
  // extracts a task): the client sends the second with the new context.
  context = addItem(context, "active", "Send the Q3 report");
  client.updateContext(sessionContext(context));
  for (const answer of await Promise.all(answers)) assert.equal(answer.type, "analysis_outcome");
  assert.equal(first.contextSent, true);
  assert.equal(second.contextSent, true);
  assert.deepEqual(JSON.parse(evalCase(first, "f1")).context, queuedWith);
  const saved = JSON.parse(evalCase(second, "f2")).context;
  assert.deepEqual(saved, sessionContext(context));
  assert.notDeepEqual(saved, queuedWith);
});
