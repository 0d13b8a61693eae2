/**
 * Tests of the offline model: a table of realistic screens driven through the real analysis
 * loop with a fake desktop search, plus unit tests of dates, overlap and the wire types.
 *
 * @module
 */
import assert from "node:assert/strict";
import { analyzeFrame } from "../../src/analysis/analyze_frame.ts";
import type {
  AnalysisRequest,
  Conversation,
  FrameInput,
  ModelReply,
  ToolTurn,
} from "../../src/analysis/model.ts";
import {
  AnalysisOutcome,
  ExtractedTask,
  type ServerError,
  type SessionContext,
  type ToolCallRequest,
  type ToolResult,
  type ToolResultItem,
} from "../../src/protocol/messages.ts";
import {
  describeActivity,
  detectTask,
  findDuplicate,
  MAX_TEXT_CHARS,
  OfflineModel,
  OVERLAP_THRESHOLD,
  resolveDeadline,
  taskOverlap,
} from "../../src/models/offline.ts";
import { type KnownTask, type Screen, SCREENS, TODAY } from "./offline_screens.ts";

function frameOf(screen: Screen): FrameInput {
  return {
    frameId: `frame-${screen.name}`,
    appName: screen.app,
    windowTitle: screen.title,
    ocrText: screen.ocr,
  };
}

function requestOf(screen: Screen): AnalysisRequest {
  return { frame: frameOf(screen), context: screen.context ?? {}, today: TODAY };
}

/** Everything the fake desktop knows: the row's extra tasks plus the context's lists. */
function desktopTasks(screen: Screen): KnownTask[] {
  const ctx = screen.context ?? {};
  return [
    ...(screen.known ?? []),
    ...(ctx.active_tasks ?? []).map((t) => ({ ...t, status: "active" as const })),
    ...(ctx.completed_tasks ?? []).map((t) => ({ ...t, status: "completed" as const })),
    ...(ctx.deleted_tasks ?? []).map((t) => ({ ...t, status: "deleted" as const })),
  ];
}

/** A tiny keyword search: a task matches when it contains any word of the query. */
function fakeSearch(tasks: readonly KnownTask[], query: string): ToolResultItem[] {
  const wanted = query.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 1);
  return tasks
    .filter((t) => {
      const have = new Set(t.description.toLowerCase().split(/[^\p{L}\p{N}]+/u));
      return wanted.some((w) => have.has(w));
    })
    .map((t) => ({
      task_id: t.task_id,
      description: t.description,
      status: t.status,
      match_type: "fts" as const,
    }));
}

interface Run {
  calls: ToolCallRequest[];
  terminal: AnalysisOutcome | ServerError;
}

/** Drives one screen through `analyzeFrame`, answering each tool call from the fake search. */
async function run(screen: Screen): Promise<Run> {
  const controller = new AbortController();
  const gen = analyzeFrame(requestOf(screen), {
    model: new OfflineModel(),
    signal: controller.signal,
    analysisTimeoutMs: 5000,
    modelCallTimeoutMs: 5000,
    toolResultTimeoutMs: 5000,
  });
  const calls: ToolCallRequest[] = [];
  let terminal: AnalysisOutcome | ServerError | undefined;
  let next = await gen.next();
  while (!next.done) {
    const ev = next.value;
    if (ev.kind === "tool_call") {
      assert.equal(terminal, undefined, "no tool call after the terminal");
      calls.push(ev.message);
      const result: ToolResult = {
        type: "tool_result",
        request_id: ev.message.request_id,
        results: screen.searchError ? [] : fakeSearch(desktopTasks(screen), ev.message.query),
        error: screen.searchError ?? null,
      };
      next = await gen.next(result);
    } else {
      assert.equal(terminal, undefined, "exactly one terminal");
      terminal = ev.message;
      next = await gen.next();
    }
  }
  assert.ok(terminal, "the loop ended with a terminal event");
  return { calls, terminal };
}

Deno.test("offline model: screens through the analysis loop", async (t) => {
  assert.ok(SCREENS.length >= 30, `at least 30 screens (${SCREENS.length})`);
  for (const screen of SCREENS) {
    await t.step(screen.name, async () => {
      const { calls, terminal } = await run(screen);
      assert.equal(terminal.type, "analysis_outcome", JSON.stringify(terminal));
      const outcome = AnalysisOutcome.parse(terminal);
      assert.equal(outcome.outcome_kind, screen.expect, JSON.stringify(outcome));
      assert.equal(outcome.frame_id, frameOf(screen).frameId);
      assert.ok(outcome.context_summary.length > 0);
      assert.ok(outcome.current_activity.length > 0);
      assert.equal(outcome.usage.cost_usd, 0);
      assert.ok(outcome.usage.input_tokens > 0 && outcome.usage.output_tokens > 0);

      if (screen.expect === "no_task_found") {
        assert.equal(calls.length, 0, "no search for a screen without a task");
        assert.equal(outcome.usage.model_calls, 1);
      } else {
        assert.equal(calls.length, 1, "one search before deciding");
        const call = calls[0];
        assert.ok(call);
        assert.equal(call.tool_kind, "search_keywords");
        assert.ok(call.query.length > 0);
        assert.ok(call.query.split(" ").length <= 6, `query ≤ 6 words: ${call.query}`);
        assert.equal(outcome.usage.model_calls, 2);
      }
      if (screen.activity) assert.equal(outcome.current_activity, screen.activity);
      if (screen.summary) assert.equal(outcome.context_summary, screen.summary);

      if (outcome.outcome_kind === "extract_task") {
        const task = outcome.task;
        if (screen.titleIs) assert.equal(task.title, screen.titleIs);
        for (const word of screen.titleHas ?? []) {
          assert.ok(
            task.title.toLowerCase().includes(word.toLowerCase()),
            `title "${task.title}" has "${word}"`,
          );
        }
        if (screen.priority) assert.equal(task.priority, screen.priority, task.title);
        if (screen.deadline !== undefined) assert.equal(task.inferred_deadline, screen.deadline);
        if (screen.category) assert.equal(task.source_category, screen.category);
        if (screen.subcategory) assert.equal(task.source_subcategory, screen.subcategory);
        assert.equal(task.source_app, screen.app);
        assert.equal(task.relevance_score, 0);
        assert.ok(task.description.length > 0);
      }
      if (outcome.outcome_kind === "reject_task") {
        for (const word of screen.reasonHas ?? []) {
          assert.ok(outcome.reason.includes(word), `reason "${outcome.reason}" has "${word}"`);
        }
      }
      if (outcome.outcome_kind === "no_task_found") {
        // The summary describes the activity; it never repeats the screen's text.
        for (const line of screen.ocr.split("\n")) {
          if (line.trim().length >= 12) assert.ok(!outcome.context_summary.includes(line.trim()));
        }
      }
    });
  }
});

Deno.test("offline model: resolveDeadline", async (t) => {
  const cases: [text: string, today: string, want: string][] = [
    // today = Wednesday 2026-11-25
    ["by Friday", TODAY, "2026-11-27"],
    ["on Wednesday", TODAY, "2026-12-02"],
    ["this Wednesday", TODAY, "2026-11-25"],
    ["next Friday", TODAY, "2026-12-04"],
    ["next Monday", TODAY, "2026-11-30"],
    ["due Sat.", TODAY, "2026-11-28"],
    ["tomorrow", TODAY, "2026-11-26"],
    ["day after tomorrow", TODAY, "2026-11-27"],
    ["by EOD", TODAY, "2026-11-25"],
    ["tonight", TODAY, "2026-11-25"],
    ["end of week", TODAY, "2026-11-27"],
    ["next week", TODAY, "2026-11-30"],
    ["end of month", TODAY, "2026-11-30"],
    ["in 3 days", TODAY, "2026-11-28"],
    ["in two weeks", TODAY, "2026-12-09"],
    ["within 24 hours", TODAY, "2026-11-26"],
    ["on 2026-12-03", TODAY, "2026-12-03"],
    ["due 12/03", TODAY, "2026-12-03"],
    ["12/3/27", TODAY, "2027-12-03"],
    ["Dec 3", TODAY, "2026-12-03"],
    ["December 3rd", TODAY, "2026-12-03"],
    ["3 December", TODAY, "2026-12-03"],
    ["Dec. 3, 2027", TODAY, "2027-12-03"],
    ["Thu Dec 3 (not Friday)", TODAY, "2026-12-03"],
    ["Nov 20", TODAY, "2026-11-20"], // recently overdue, not next year
    ["no date here", TODAY, ""],
    ["2026-02-31", TODAY, ""],
    ["Feb 29", TODAY, ""], // neither 2026 nor 2027 has one
    ["the version is 1.2/3", TODAY, ""],
    // across month and year ends
    ["tomorrow", "2026-01-31", "2026-02-01"],
    ["tomorrow", "2026-12-31", "2027-01-01"],
    ["Friday", "2026-12-30", "2027-01-01"],
    ["next week", "2026-12-30", "2027-01-04"],
    ["Jan 2", "2026-12-30", "2027-01-02"],
    ["01/02", "2026-12-30", "2027-01-02"],
    ["Dec 30", "2027-01-03", "2026-12-30"],
    ["in 3 days", "2026-12-30", "2027-01-02"],
    ["end of month", "2028-02-10", "2028-02-29"],
    ["Feb 29", "2027-12-01", "2028-02-29"],
    ["end of week", "2026-11-27", "2026-11-27"], // on a Friday
    ["end of week", "2026-11-28", "2026-12-04"], // on a Saturday
    // without a valid today only explicit dates resolve
    ["tomorrow", "", ""],
    ["2026-12-03", "not a date", "2026-12-03"],
  ];
  for (const [text, today, want] of cases) {
    await t.step(`${JSON.stringify(text)} on ${today || "(none)"} → ${want || '""'}`, () => {
      assert.equal(resolveDeadline(text, today), want);
    });
  }
});

Deno.test("offline model: overlap and duplicates", async (t) => {
  await t.step("identical and reworded tasks overlap", () => {
    assert.equal(taskOverlap("Send Q3 report to Sarah", "send the Q3 report to Sarah"), 1);
    assert.ok(
      taskOverlap("Send Q3 report to Sarah", "Send the Q3 reports to Sarah by Friday") >=
        OVERLAP_THRESHOLD,
    );
    assert.ok(
      taskOverlap("Book flights for the Berlin offsite", "Booking flights: Berlin offsite") >=
        OVERLAP_THRESHOLD,
    );
  });
  await t.step("office synonyms count as the same word", () => {
    assert.ok(
      taskOverlap("Share the onboarding deck with Mei", "Send onboarding presentation to Mei") >=
        OVERLAP_THRESHOLD,
    );
    assert.ok(
      taskOverlap("Complete the security training", "Finish the security awareness course") >=
        OVERLAP_THRESHOLD,
    );
    assert.equal(taskOverlap("Email the landlord", "Mail the parcel to Grandma"), 0);
  });
  await t.step("different numbers or codes never overlap", () => {
    assert.equal(taskOverlap("Send Q3 report to Sarah", "Send Q4 report to Sarah"), 0);
    assert.equal(taskOverlap("Review PR #12", "Review PR #13"), 0);
  });
  await t.step("a shared generic verb is not enough", () => {
    assert.ok(taskOverlap("Send invoice to Bob", "Send Q3 report to Sarah") < OVERLAP_THRESHOLD);
    assert.ok(taskOverlap("Review vendor contract", "Review PR #482") < OVERLAP_THRESHOLD);
    assert.ok(
      taskOverlap("Send revised Q4 budget to finance", "Prepare Q4 budget slides") <
        OVERLAP_THRESHOLD,
    );
  });
  await t.step("findDuplicate reports id and status, search hits first", () => {
    const context: SessionContext = {
      active_tasks: [{ task_id: 1, description: "Water the plants" }],
      deleted_tasks: [{ task_id: 2, description: "Send Q3 report to Sarah" }],
    };
    const hit = findDuplicate("Send Q3 report to Sarah", [], context);
    assert.deepEqual(hit && { id: hit.taskId, status: hit.status }, { id: 2, status: "deleted" });
    assert.equal(findDuplicate("Renew passport", [], context), undefined);
    const fromSearch = findDuplicate("Renew passport", [
      { task_id: 9, description: "Renew my passport", status: "completed" },
    ], null);
    assert.equal(fromSearch?.taskId, 9);
    assert.equal(fromSearch?.status, "completed");
  });
});

function conversation(screen: Screen, turns: Conversation["turns"] = []): Conversation {
  return { request: requestOf(screen), turns };
}

function screenNamed(name: string): Screen {
  const screen = SCREENS.find((s) => s.name === name);
  assert.ok(screen, name);
  return screen;
}

function toolTurn(results: ToolResultItem[], error?: string): ToolTurn {
  const turn: ToolTurn = {
    role: "tool",
    call: { name: "search_keywords", args: { query: "x" } },
    kind: "search_keywords",
    results,
    output: error ? `Search error: ${error}` : "No matching tasks.",
  };
  if (error) turn.error = error;
  return turn;
}

Deno.test("offline model: generate", async (t) => {
  const model = new OfflineModel();
  const q3 = screenNamed("Slack DM: Q3 report by Friday");
  const live = new AbortController().signal;

  await t.step("is named offline", () => assert.equal(model.name, "offline"));

  await t.step("an aborted signal rejects with its reason", async () => {
    const controller = new AbortController();
    const reason = new Error("client went away");
    controller.abort(reason);
    await assert.rejects(model.generate(conversation(q3), controller.signal), (err) => {
      assert.equal(err, reason);
      return true;
    });
  });

  await t.step("first turn searches; the reply has content, usage and no text", async () => {
    const reply: ModelReply = await model.generate(conversation(q3), live);
    assert.equal(reply.functionCall?.name, "search_keywords");
    assert.equal(reply.functionCall?.args.query, "Q3 report Sarah");
    assert.deepEqual(reply.content, { role: "model", functionCall: reply.functionCall });
    assert.equal(reply.text, undefined);
    assert.ok(Number.isInteger(reply.usage.inputTokens) && reply.usage.inputTokens > 0);
    assert.ok(Number.isInteger(reply.usage.outputTokens) && reply.usage.outputTokens > 0);
    assert.equal(reply.usage.costUsd, 0);
  });

  await t.step("after an empty search it extracts with every wire field", async () => {
    const reply = await model.generate(conversation(q3, [toolTurn([])]), live);
    assert.equal(reply.functionCall?.name, "extract_task");
    const args = reply.functionCall?.args ?? {};
    const task = ExtractedTask.parse(args);
    assert.equal(task.title, "Send Q3 report to Sarah");
    assert.equal(task.inferred_deadline, "2026-11-27");
    assert.equal(typeof args.context_summary, "string");
    assert.equal(typeof args.current_activity, "string");
  });

  await t.step("a search hit of any status makes it a reject", async () => {
    for (const status of ["active", "completed", "deleted"] as const) {
      const hit = { task_id: 77, description: "Send the Q3 report to Sarah", status };
      const reply = await model.generate(conversation(q3, [toolTurn([hit])]), live);
      assert.equal(reply.functionCall?.name, "reject_task");
      assert.match(String(reply.functionCall?.args.reason), new RegExp(`${status} task #77`));
    }
  });

  await t.step("a failed search falls back to the context's lists", async () => {
    const screen = {
      ...q3,
      context: { deleted_tasks: [{ task_id: 3, description: "Q3 report" }] },
    };
    const reply = await model.generate(conversation(screen, [toolTurn([], "boom")]), live);
    assert.equal(reply.functionCall?.name, "reject_task");
    assert.match(String(reply.functionCall?.args.reason), /deleted task #3/);
  });

  await t.step("is deterministic", async () => {
    for (const screen of SCREENS) {
      const a = await model.generate(conversation(screen, [toolTurn([])]), live);
      const b = await model.generate(conversation(screen, [toolTurn([])]), live);
      assert.deepEqual(a, b);
    }
  });

  await t.step("reads at most MAX_TEXT_CHARS of OCR, quickly", async () => {
    const filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n";
    const late = filler.repeat(Math.ceil(MAX_TEXT_CHARS / filler.length) + 10) +
      "Can you send me the Q3 report by Friday?";
    const huge = late + "\n" + filler.repeat(20_000);
    const screen = { ...q3, ocr: huge };
    const started = performance.now();
    const reply = await model.generate(conversation(screen), live);
    assert.ok(performance.now() - started < 2000, "a megabyte of OCR stays fast");
    assert.equal(reply.functionCall?.name, "no_task_found", "an ask past the cap is not read");
    const early = { ...q3, ocr: "Can you send me the Q3 report by Friday?\n" + huge };
    const found = await model.generate(conversation(early), live);
    assert.equal(found.functionCall?.name, "search_keywords");
  });
});

Deno.test("offline model: every candidate satisfies the wire types", async (t) => {
  for (const screen of SCREENS) {
    const candidate = detectTask(frameOf(screen), TODAY, screen.context);
    await t.step(screen.name, () => {
      const activity = describeActivity(frameOf(screen));
      assert.ok(activity.summary.length > 0 && activity.activity.length > 0);
      assert.equal(candidate !== undefined, screen.expect !== "no_task_found");
      if (!candidate) return;
      assert.equal(typeof candidate.title, "string");
      assert.ok(candidate.title.trim().length > 0);
      assert.ok(candidate.title.split(/\s+/).length <= 10, candidate.title);
      assert.equal(typeof candidate.confidence, "number");
      assert.ok(candidate.confidence >= 0 && candidate.confidence <= 1);
      assert.ok(Array.isArray(candidate.tags));
      assert.ok(candidate.tags.length >= 1 && candidate.tags.length <= 4);
      for (const tag of candidate.tags) assert.match(tag, /^[a-z0-9][a-z0-9-]*$/);
      assert.match(candidate.deadline, /^(?:\d{4}-\d{2}-\d{2})?$/);
      assert.ok(
        [
          "message",
          "email",
          "calendar",
          "code_review",
          "document",
          "todo_list",
          "other",
        ].includes(candidate.category),
      );
      ExtractedTask.parse({
        title: candidate.title,
        description: candidate.description,
        priority: candidate.priority,
        tags: candidate.tags,
        source_app: screen.app,
        inferred_deadline: candidate.deadline,
        confidence: candidate.confidence,
        source_category: candidate.category,
        source_subcategory: candidate.subcategory,
        relevance_score: 0,
      });
    });
  }
});
