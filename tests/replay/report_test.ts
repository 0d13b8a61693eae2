import assert from "node:assert/strict";
import {
  formatSummary,
  formatTable,
  percentile,
  progressBar,
  type ReplayRow,
  summarize,
} from "../../src/replay/report.ts";

const usage = (input: number, output: number, cost: number) => ({
  model_calls: 1,
  tool_calls: 0,
  input_tokens: input,
  output_tokens: output,
  thinking_tokens: 0,
  model_ms: 1,
  tool_ms: 0,
  total_ms: 1,
  cost_usd: cost,
});

const ROWS: ReplayRow[] = [
  {
    index: 1,
    name: "01_slack",
    app: "Slack",
    outcome: "extract_task",
    detail: "Send Q3 report to Sarah",
    ms: 12.4,
    usage: usage(100, 10, 0.001),
  },
  {
    index: 2,
    name: "02_reading",
    app: "Safari",
    outcome: "no_task_found",
    detail: "Reading a web page",
    ms: 3,
    usage: usage(50, 5, 0.0005),
  },
  {
    index: 3,
    name: "03_dup",
    app: "Slack",
    outcome: "reject_task",
    detail: "Duplicates #1 ".repeat(20),
    ms: 40,
  },
  { index: 4, name: "04_err", app: "", outcome: "GEMINI_ERROR", detail: "Model failed", ms: 7 },
];

Deno.test("percentile() is nearest-rank", async (t) => {
  const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
  const table: Array<[number, number]> = [[50, 5], [95, 10], [90, 9], [0, 1], [100, 10]];
  for (const [p, expected] of table) {
    await t.step(`p${p} = ${expected}`, () => assert.equal(percentile(values, p), expected));
  }
  await t.step("0 for no values", () => assert.equal(percentile([], 50), 0));
});

Deno.test("summarize() counts outcomes and adds up usage", () => {
  const summary = summarize(ROWS);
  assert.deepEqual(summary.counts, {
    extract_task: 1,
    no_task_found: 1,
    reject_task: 1,
    GEMINI_ERROR: 1,
  });
  assert.equal(summary.frames, 4);
  assert.equal(summary.p50Ms, 7);
  assert.equal(summary.p95Ms, 40);
  assert.equal(summary.inputTokens, 150);
  assert.equal(summary.outputTokens, 15);
  assert.ok(Math.abs(summary.costUsd - 0.0015) < 1e-12);
  assert.match(formatSummary(summary), /^frames {3}4 \(extract_task 1, no_task_found 1/);
  assert.match(formatSummary(summary), /^cost {5}\$0\.001500$/m);
});

Deno.test("summarize() counts the frames answered without a model call", () => {
  const skippedUsage = { ...usage(0, 0, 0), model_calls: 0, skipped: "unchanged_screen" as const };
  const rows: ReplayRow[] = [
    ...ROWS,
    { ...ROWS[1]!, index: 5, name: "05_same", usage: skippedUsage },
  ];
  const summary = summarize(rows);
  assert.equal(summary.skipped, 1);
  assert.equal(summarize(ROWS).skipped, 0);
  assert.match(formatSummary(summary), /^frames .*; 1 skipped, screen unchanged\)$/m);
  assert.doesNotMatch(formatSummary(summarize(ROWS)), /skipped/);
});

Deno.test("summarize() counts skips by reason and labels a privacy skip as privacy", () => {
  const skipped = (skip: "unchanged_screen" | "privacy") => ({
    ...usage(0, 0, 0),
    model_calls: 0,
    skipped: skip,
  });
  const rows: ReplayRow[] = [
    ...ROWS,
    { ...ROWS[1]!, index: 5, name: "05_same", usage: skipped("unchanged_screen") },
    { ...ROWS[1]!, index: 6, name: "06_private", usage: skipped("privacy") },
    { ...ROWS[1]!, index: 7, name: "07_private", usage: skipped("privacy") },
  ];
  const summary = summarize(rows);
  assert.equal(summary.skipped, 3);
  assert.deepEqual(summary.skippedByReason, { unchanged_screen: 1, privacy: 2 });
  assert.match(
    formatSummary(summary),
    /^frames .*; 3 skipped: 1 screen unchanged, 2 privacy\)$/m,
  );
  const privacyOnly = summarize([{ ...ROWS[1]!, usage: skipped("privacy") }]);
  assert.match(formatSummary(privacyOnly), /^frames .*; 1 skipped, privacy\)$/m);
  assert.doesNotMatch(formatSummary(privacyOnly), /unchanged/);
});

Deno.test("formatTable() aligns columns and cuts long text", () => {
  const lines = formatTable(ROWS, 30).split("\n");
  assert.equal(lines.length, 2 + ROWS.length);
  assert.match(lines[0]!, /^#\s+frame\s+app\s+outcome\s+title \/ reason\s+ms$/);
  assert.match(
    lines[2]!,
    /^1 {2}01_slack\s+Slack\s+extract_task\s+Send Q3 report to Sarah\s+12$/,
  );
  assert.match(lines[4]!, /Duplicates #1 Duplicates #1 D…/);
  assert.match(lines[5]!, /04_err\s+-\s+GEMINI_ERROR/);
  const outcomeAt = lines[0]!.indexOf("outcome");
  for (const line of lines.slice(2)) assert.match(line.slice(outcomeAt), /^[a-zA-Z_]+ /);
});

Deno.test("progressBar() fills in proportion and fits the width", async (t) => {
  const table: Array<[number, number, RegExp]> = [
    [0, 10, /^\[·{10,}\] {2}0\/10 {2}frame$/],
    [5, 10, /^\[#+·+\] {2}5\/10 {2}frame$/],
    [10, 10, /^\[#{10,}\] 10\/10 {2}frame$/],
  ];
  for (const [done, total, expected] of table) {
    await t.step(
      `${done}/${total}`,
      () => assert.match(progressBar(done, total, "frame", 60), expected),
    );
  }
  await t.step("never wider than the terminal", () => {
    assert.ok(progressBar(3, 9, "x".repeat(200), 50).length <= 49);
  });
});
