import assert from "node:assert/strict";
import { buildFramePrompt, PROMPT_LIMITS } from "../../src/analysis/prompt.ts";

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
