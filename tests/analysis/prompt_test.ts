import assert from "node:assert/strict";
import {
  buildFramePrompt,
  buildFramePromptParts,
  PROMPT_LIMITS,
} from "../../src/analysis/prompt.ts";

const huge = (n: number) => "x".repeat(n);

Deno.test("buildFramePrompt() states the frame and every context list, ranked", () => {
  const prompt = buildFramePrompt({
    frame: { frameId: "1", appName: "Slack", windowTitle: "#finance", ocrText: "send Q3" },
    context: {
      active_tasks: [
        { task_id: 2, description: "second", priority: "low", relevance_score: 2 },
        { task_id: 1, description: "first", priority: "high", relevance_score: 1 },
      ],
      completed_tasks: [{ task_id: 3, description: "done thing" }],
      deleted_tasks: [{ task_id: 4, description: "deleted thing" }],
      goals: [{ goal_id: "g", title: "Ship v2", description: "by spring" }],
    },
    today: "2026-11-26",
  });
  for (
    const part of ["2026-11-26", "Slack", "#finance", "send Q3", "done thing", "deleted thing"]
  ) {
    assert.ok(prompt.includes(part), part);
  }
  assert.ok(prompt.includes("Ship v2: by spring"));
  assert.ok(prompt.indexOf("#1 first") < prompt.indexOf("#2 second"), "rank 1 comes first");
});

Deno.test("buildFramePrompt() bounds everything a client sends", () => {
  const task = (i: number) => ({
    task_id: i,
    description: huge(50_000),
    priority: huge(50_000),
    relevance_score: i,
  });
  const prompt = buildFramePrompt({
    frame: {
      frameId: "1",
      appName: huge(50_000),
      windowTitle: huge(50_000),
      ocrText: huge(1_000_000),
    },
    context: {
      active_tasks: Array.from({ length: 1_000 }, (_, i) => task(i + 1)),
      completed_tasks: Array.from({ length: 1_000 }, (_, i) => task(i)),
      deleted_tasks: Array.from({ length: 1_000 }, (_, i) => task(i)),
      goals: Array.from({ length: 1_000 }, (_, i) => ({
        goal_id: String(i),
        title: huge(50_000),
        description: huge(50_000),
      })),
    },
    today: "2026-11-26",
  });
  const L = PROMPT_LIMITS;
  const items = L.activeTasks + L.completedTasks + L.deletedTasks + 2 * L.goals;
  const bound = L.ocrChars + L.titleChars + L.appChars + items * (L.itemChars + L.priorityChars) +
    10_000;
  assert.ok(prompt.length < bound, `prompt of ${prompt.length} chars, bound ${bound}`);
  assert.ok(prompt.includes("(and 940 more not shown)"));
});

Deno.test("buildFramePromptParts(): the context first, then the date and the screen", () => {
  const request = {
    frame: { frameId: "1", appName: "Slack", windowTitle: "#finance", ocrText: "send Q3" },
    context: {
      active_tasks: [{ task_id: 1, description: "first", priority: "high", relevance_score: 1 }],
      goals: [{ goal_id: "g", title: "Ship v2" }],
    },
    today: "2026-11-26",
  };
  const { context, frame } = buildFramePromptParts(request);
  assert.match(
    context,
    /^Active tasks \(rank 1 = most important\):\n- #1 first \[high\] \(rank 1\)/,
  );
  assert.match(context, /Goals:\n- Ship v2$/);
  assert.doesNotMatch(context, /2026-11-26|Slack|#finance|send Q3/);
  assert.equal(
    frame,
    'Today is 2026-11-26.\n\nApp: Slack\nWindow title: #finance\nScreen text (OCR):\n"""\nsend Q3\n"""',
  );
  const whole = buildFramePrompt(request);
  assert.equal(whole, `${context}\n\n${frame}`);
  const order = ["#1 first", "Ship v2", "Today is 2026-11-26", "App: Slack", "send Q3"]
    .map((part) => whole.indexOf(part));
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
});

Deno.test("buildFramePromptParts(): the same context gives the same bytes for any frame", () => {
  const context = {
    active_tasks: [
      { task_id: 2, description: "second", relevance_score: 2 },
      { task_id: 1, description: "first", relevance_score: 1 },
    ],
    completed_tasks: [{ task_id: 3, description: "done" }],
  };
  const a = buildFramePromptParts({
    frame: { frameId: "1", appName: "Slack", windowTitle: "", ocrText: "one", jpegBase64: "x" },
    context,
    today: "2026-11-26",
  });
  const b = buildFramePromptParts({
    frame: { frameId: "2", appName: "Mail", windowTitle: "Inbox", ocrText: "two" },
    context: structuredClone(context),
    today: "2026-11-27",
  });
  assert.equal(a.context, b.context);
  assert.notEqual(a.frame, b.frame);
  const c = buildFramePromptParts({
    frame: { frameId: "3", appName: "Slack", windowTitle: "", ocrText: "one" },
    context: { ...context, completed_tasks: [] },
    today: "2026-11-26",
  });
  assert.notEqual(c.context, a.context);
});
