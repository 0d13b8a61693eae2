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
  removeItem,
  sessionContext,
  timeline,
  totals,
} from "../../src/console/state.ts";
import type { AnalysisOutcome, ExtractedTask } from "../../src/protocol/types.ts";
import { loadCases } from "../../src/eval/cases.ts";

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
    assert.equal(evalCaseProblem("[1]"), "An eval case is a JSON object");
    assert.equal(
      evalCaseProblem('{"id":"a","expect":"maybe","frame":{}}'),
      '"expect" must be extract_task, reject_task or no_task_found',
    );
    assert.equal(
      evalCaseProblem('{"id":"","expect":"reject_task","frame":{}}'),
      '"id" must be a non-empty text',
    );
    assert.equal(evalCaseProblem('{"id":"a","expect":"reject_task"}'), '"frame" must be an object');
    assert.equal(
      evalCaseProblem('{"id":"a",\n"expect":"reject_task","frame":{}}'),
      "An eval case is one line of JSON",
    );
  });
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
