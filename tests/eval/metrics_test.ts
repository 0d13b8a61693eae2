/** The evaluation metrics, the baseline diff and the report formats, on hand-made results. */
import assert from "node:assert/strict";
import { compare, parseBaseline } from "../../src/eval/baseline.ts";
import type { Expectation } from "../../src/eval/cases.ts";
import { type CaseResult, computeMetrics } from "../../src/eval/metrics.ts";
import {
  escapeHtml,
  type EvalReport,
  finiteOrNull,
  formatText,
  providerReport,
  renderHtml,
  REPORT_FORMAT,
} from "../../src/eval/report.ts";
import type { ProviderInfo } from "../../src/eval/run.ts";
import { parseAccuracy, parseOptions } from "../../scripts/eval.ts";

function result(
  id: string,
  expected: Expectation,
  got: string,
  ms: number,
  usage?: Partial<NonNullable<CaseResult["usage"]>>,
): CaseResult {
  return {
    id,
    where: `cases.jsonl:${id}`,
    expected,
    got,
    detail: `detail of ${id}`,
    ms,
    ...(usage
      ? {
        usage: {
          model_calls: 1,
          tool_calls: 0,
          input_tokens: 0,
          output_tokens: 0,
          thinking_tokens: 0,
          model_ms: 0,
          tool_ms: 0,
          total_ms: 0,
          cost_usd: 0,
          ...usage,
        },
      }
      : {}),
  };
}

/** 10 cases: 4 extract (3 right, 1 none), 3 reject (2 right, 1 extracted), 3 none (1 extracted, 1 error). */
const RESULTS: CaseResult[] = [
  result("e1", "extract_task", "extract_task", 10, {
    model_calls: 2,
    tool_calls: 1,
    input_tokens: 1000,
    output_tokens: 100,
    thinking_tokens: 50,
    cost_usd: 0.001,
  }),
  result("e2", "extract_task", "extract_task", 20, {
    model_calls: 2,
    tool_calls: 1,
    cost_usd: 0.001,
  }),
  result("e3", "extract_task", "extract_task", 30, { cost_usd: 0.001 }),
  result("e4", "extract_task", "no_task_found", 40, { cost_usd: 0.001 }),
  result("r1", "reject_task", "reject_task", 50, { cost_usd: 0.001 }),
  result("r2", "reject_task", "reject_task", 60, { cost_usd: 0.001 }),
  result("r3", "reject_task", "extract_task", 70, { cost_usd: 0.001 }),
  result("n1", "no_task_found", "no_task_found", 80, { cost_usd: 0.001 }),
  result("n2", "no_task_found", "extract_task", 90, { cost_usd: 0.001 }),
  result("n3", "no_task_found", "GEMINI_ERROR", 1000),
];

const INFO: ProviderInfo = {
  provider: "gemini:gemini-2.5-flash",
  kind: "gemini",
  model: "gemini-2.5-flash",
  thinking_budget: 128,
  media_resolution: null,
  prompt_version: "0123456789ab",
};

Deno.test("metrics: accuracy, the confusion matrix with its error column, P/R/F1", () => {
  const m = computeMetrics(RESULTS);
  assert.equal(m.cases, 10);
  assert.equal(m.correct, 6);
  assert.equal(m.accuracy, 0.6);
  assert.equal(m.errors, 1);
  assert.deepEqual(m.confusion, {
    extract_task: { extract_task: 3, reject_task: 0, no_task_found: 1, error: 0 },
    reject_task: { extract_task: 1, reject_task: 2, no_task_found: 0, error: 0 },
    no_task_found: { extract_task: 1, reject_task: 0, no_task_found: 1, error: 1 },
  });
  // 5 extracted, 3 of them right; 4 expected, 3 found.
  assert.equal(m.extract.precision, 3 / 5);
  assert.equal(m.extract.recall, 3 / 4);
  assert.ok(Math.abs(m.extract.f1 - (2 * 0.6 * 0.75) / (0.6 + 0.75)) < 1e-12);
  assert.equal(m.false_extracts, 1);
  assert.equal(m.no_task_cases, 3);
  assert.equal(m.duplicate_recall, 2 / 3);
  assert.deepEqual(m.misses.map((x) => [x.id, x.expected, x.got]), [
    ["e4", "extract_task", "no_task_found"],
    ["r3", "reject_task", "extract_task"],
    ["n2", "no_task_found", "extract_task"],
    ["n3", "no_task_found", "GEMINI_ERROR"],
  ]);
});

Deno.test("metrics: calls, tokens and cost per case, cost per 1000, p50/p95", () => {
  const m = computeMetrics(RESULTS);
  assert.equal(m.totals.model_calls, 11);
  // Averages are over the 9 cases with accounting: the error case carries no usage.
  assert.equal(m.per_case.model_calls, 11 / 9);
  assert.equal(m.per_case.tool_calls, 2 / 9);
  assert.equal(m.per_case.input_tokens, 1000 / 9);
  assert.equal(m.per_case.output_tokens, 100 / 9);
  assert.equal(m.per_case.thinking_tokens, 50 / 9);
  assert.ok(Math.abs(m.totals.cost_usd - 0.009) < 1e-12);
  // $0.009 over the 9 accounted frames: $1 per 1000.
  assert.ok(Math.abs(m.cost_per_1000_usd - 1) < 1e-12);
  // Nearest rank: p50 is the 5th of 10, p95 the 10th.
  assert.deepEqual(m.latency_ms, { p50: 50, p95: 1000 });
});

Deno.test("metrics: cases answered without a model call are counted as skipped", () => {
  const skipped = result("s1", "no_task_found", "no_task_found", 1, {
    model_calls: 0,
    skipped: "unchanged_screen",
  });
  assert.equal(computeMetrics([...RESULTS, skipped]).skipped, 1);
  assert.equal(computeMetrics(RESULTS).skipped, 0);
});

Deno.test("metrics: skipped cases are counted by reason and labelled by reason", () => {
  const unchanged = result("s1", "no_task_found", "no_task_found", 1, {
    model_calls: 0,
    skipped: "unchanged_screen",
  });
  const privacy = (id: string) =>
    result(id, "no_task_found", "no_task_found", 1, { model_calls: 0, skipped: "privacy" });
  const results = [...RESULTS, unchanged, privacy("p1"), privacy("p2")];
  const m = computeMetrics(results);
  // `skipped` stays the total, as before; the reasons are counted apart.
  assert.equal(m.skipped, 3);
  assert.deepEqual(m.skipped_by_reason, { unchanged_screen: 1, privacy: 2 });
  assert.deepEqual(computeMetrics(RESULTS).skipped_by_reason, { unchanged_screen: 0, privacy: 0 });
  const report: EvalReport = {
    format: REPORT_FORMAT,
    generated_at: "2026-01-01T00:00:00.000Z",
    inputs: ["cases.jsonl"],
    providers: [providerReport(INFO, 4, results)],
  };
  const text = formatText(report);
  assert.match(text, /^skipped \(unchanged screen\)\s+1$/m);
  assert.match(text, /^skipped \(privacy\)\s+2$/m);
  const html = renderHtml(report);
  assert.match(html, /<tr><th>skipped \(unchanged screen\)<\/th><td>1<\/td><\/tr>/);
  assert.match(html, /<tr><th>skipped \(privacy\)<\/th><td>2<\/td><\/tr>/);
  const json = JSON.parse(JSON.stringify(report)).providers[0];
  assert.equal(json.skipped, 3);
  assert.deepEqual(json.skipped_by_reason, { unchanged_screen: 1, privacy: 2 });
});

Deno.test("report: a baseline without cost_per_1000_usd has no point and no NaN", () => {
  const report: EvalReport = {
    format: REPORT_FORMAT,
    generated_at: "2026-01-01T00:00:00.000Z",
    inputs: ["cases.jsonl"],
    providers: [providerReport(INFO, 4, RESULTS)],
  };
  const old = JSON.parse(JSON.stringify(report));
  delete old.providers[0].cost_per_1000_usd;
  const baseline = parseBaseline(old, "old.json").get(INFO.provider)!;
  const c = compare(report.providers[0]!, baseline, "old.json");
  const cost = c.metrics.find((d) => d.metric === "cost_per_1000_usd")!;
  assert.equal(cost.before, null);
  assert.equal(cost.mark, "same");
  const html = renderHtml(
    report,
    new Map([[INFO.provider, {
      accuracy: finiteOrNull(baseline.accuracy),
      cost: finiteOrNull(baseline.cost_per_1000_usd),
    }]]),
  );
  assert.doesNotMatch(html, /NaN|undefined/);
  assert.equal((html.match(/<circle class="baseline-point"/g) ?? []).length, 0);
  assert.equal((html.match(/<circle class="point"/g) ?? []).length, 1);
  assert.match(html, /Baseline point n\/a .* for gemini:gemini-2\.5-flash\./);
  // Even a map entry holding undefined (a caller passing the raw field) is never NaN.
  const raw = renderHtml(
    report,
    new Map([[INFO.provider, { accuracy: 0.5, cost: undefined as unknown as number }]]),
  );
  assert.doesNotMatch(raw, /NaN/);
  assert.equal((raw.match(/<circle class="baseline-point"/g) ?? []).length, 0);
});

Deno.test("metrics: no cases, no reject cases, no extracts: zeros and null, never NaN", () => {
  const empty = computeMetrics([]);
  assert.equal(empty.accuracy, 0);
  assert.equal(empty.cost_per_1000_usd, 0);
  assert.deepEqual(empty.extract, { precision: 0, recall: 0, f1: 0 });
  assert.equal(empty.duplicate_recall, null);
  assert.deepEqual(empty.latency_ms, { p50: 0, p95: 0 });
  const none = computeMetrics([result("n", "no_task_found", "no_task_found", 5)]);
  assert.equal(none.accuracy, 1);
  assert.equal(none.duplicate_recall, null);
  assert.deepEqual(none.extract, { precision: 0, recall: 0, f1: 0 });
});

Deno.test("baseline: metrics marked better / worse / same, cases fixed and broken", () => {
  const before = providerReport(INFO, 4, RESULTS);
  const after = providerReport({ ...INFO, prompt_version: "ffffffffffff" }, 4, [
    ...RESULTS.slice(0, 3),
    result("e4", "extract_task", "extract_task", 40, { cost_usd: 0.002 }), // fixed
    ...RESULTS.slice(4, 7),
    result("n1", "no_task_found", "extract_task", 80, { cost_usd: 0.002 }), // broken
    result("n2", "no_task_found", "no_task_found", 90, { cost_usd: 0.002 }), // fixed
    result("n3", "no_task_found", "GEMINI_ERROR", 1000),
  ]);
  const runs = parseBaseline(JSON.parse(JSON.stringify({ providers: [before] })), "old.json");
  const c = compare(after, runs.get(INFO.provider)!, "old.json");
  const marks = Object.fromEntries(c.metrics.map((m) => [m.metric, m.mark]));
  assert.deepEqual(marks, {
    accuracy: "better",
    "extract.precision": "better",
    "extract.recall": "better",
    "extract.f1": "better",
    false_extracts: "same",
    duplicate_recall: "same",
    cost_per_1000_usd: "worse",
    "latency_ms.p95": "same",
  });
  assert.equal(c.metrics[0]!.delta!.toFixed(3), "0.100");
  assert.deepEqual(c.fixed, ["e4", "n2"]);
  assert.deepEqual(c.broken, ["n1"]);
  assert.equal(c.prompt_version_changed, true);
  assert.equal(c.model_changed, false);
  assert.throws(() => parseBaseline({ cases: 3 }, "x.json"), /x\.json: not an eval --json report/);
});

Deno.test("report: the text table, the JSON keys and an HTML page with no script or URL", () => {
  const report: EvalReport = {
    format: REPORT_FORMAT,
    generated_at: "2026-01-01T00:00:00.000Z",
    inputs: ["cases.jsonl"],
    providers: [
      providerReport({ ...INFO, provider: "offline", model: "offline", thinking_budget: null }, 4, [
        result("<x>", "extract_task", "no_task_found", 3),
      ]),
      providerReport(INFO, 4, RESULTS),
    ],
  };
  const text = formatText(report);
  assert.match(text, /^provider\s+offline\s+gemini:gemini-2\.5-flash$/m);
  assert.match(text, /^accuracy\s+0\.0%\s+60\.0%$/m);
  assert.match(text, /^cost \/ 1000 frames\s+\$0\.0000\s+\$1\.0000$/m);
  assert.match(text, /^no_task_found\s+1\s+0\s+1\s+1$/m);
  assert.match(text, /^n3\s+no_task_found\s+GEMINI_ERROR\s+detail of n3$/m);
  const p = JSON.parse(JSON.stringify(report)).providers[1];
  for (const key of ["cases", "correct", "accuracy", "confusion", "false_extracts"]) {
    assert.ok(key in p, key);
  }
  assert.deepEqual(Object.keys(p.extract), ["precision", "recall", "f1"]);
  assert.equal(typeof p.cost_per_1000_usd, "number");
  const html = renderHtml(report, new Map([["offline", { accuracy: 0.5, cost: 0 }]]));
  assert.match(html, /<table class="confusion" data-provider="offline">/);
  assert.equal((html.match(/<circle class="point"/g) ?? []).length, 2);
  assert.equal((html.match(/<circle class="baseline-point"/g) ?? []).length, 1);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  assert.match(html, /&lt;x&gt;/);
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
});

Deno.test("report: the media resolution in the header, cached tokens per case, a changed level", () => {
  const cached = [
    result("a", "no_task_found", "no_task_found", 10, {
      input_tokens: 2000,
      cached_input_tokens: 1500,
    }),
    result("b", "no_task_found", "no_task_found", 10, { input_tokens: 1000 }),
  ];
  const low = providerReport({ ...INFO, media_resolution: "low" }, 4, cached);
  assert.equal(low.per_case.cached_input_tokens, 750);
  assert.equal(low.totals.cached_input_tokens, 1500);
  const report: EvalReport = {
    format: REPORT_FORMAT,
    generated_at: "2026-01-01T00:00:00.000Z",
    inputs: ["cases.jsonl"],
    providers: [
      providerReport({ ...INFO, provider: "offline", kind: "offline", thinking_budget: null }, 4, [
        result("x", "no_task_found", "no_task_found", 3),
      ]),
      providerReport(INFO, 4, RESULTS),
      { ...low, provider: "gemini:low" },
    ],
  };
  const text = formatText(report);
  assert.match(text, /^media resolution\s+-\s+default\s+low$/m);
  assert.match(text, /^cached input tokens \/ case\s+0\s+0\s+750$/m);
  assert.equal(JSON.parse(JSON.stringify(report)).providers[2].media_resolution, "low");
  const html = renderHtml(report);
  assert.match(html, /<th>media resolution<\/th><td>-<\/td><td>default<\/td><td>low<\/td>/);
  // Against a run at the model's default, and against a report from before the setting.
  const before = JSON.parse(JSON.stringify(providerReport(INFO, 4, cached)));
  assert.equal(compare(low, before, "old.json").media_resolution_changed, true);
  delete before.media_resolution;
  assert.equal(compare(low, before, "old.json").media_resolution_changed, true);
  assert.equal(
    compare(providerReport(INFO, 4, cached), before, "old.json").media_resolution_changed,
    false,
  );
  assert.match(
    formatText({
      ...report,
      providers: [{ ...low, comparison: compare(low, before, "old.json") }],
    }),
    /against old\.json \(media resolution changed\)/,
  );
});

Deno.test("command line: providers, concurrency, --fail-under, and bad arguments", () => {
  assert.deepEqual(parseOptions(["a.jsonl"]), {
    inputs: ["a.jsonl"],
    providers: [undefined],
    concurrency: 4,
  });
  assert.deepEqual(
    parseOptions([
      "a.jsonl",
      "dir",
      "--provider",
      "offline",
      "--provider",
      "gemini:gemini-2.5-flash-lite",
      "--concurrency",
      "2",
      "--fail-under",
      "85%",
    ]),
    {
      inputs: ["a.jsonl", "dir"],
      providers: ["offline", "gemini:gemini-2.5-flash-lite"],
      concurrency: 2,
      failUnder: 0.85,
    },
  );
  assert.deepEqual(parseOptions(["-h"]), { help: true });
  assert.equal(parseAccuracy("0.9"), 0.9);
  assert.equal(parseAccuracy("1.5"), undefined);
  assert.equal(parseAccuracy("abc"), undefined);
  for (
    const [args, message] of [
      [[], /expected a \.jsonl file or a folder/],
      [["a.jsonl", "--concurrency", "0"], /--concurrency must be an integer from 1 to 64/],
      [["a.jsonl", "--fail-under", "2"], /--fail-under must be an accuracy/],
      [["a.jsonl", "--provider", "offline", "--provider", "offline"], /given twice/],
      [["a.jsonl", "--bogus"], /Unknown option '--bogus'/],
    ] as const
  ) {
    assert.throws(() => parseOptions([...args]), (err: Error & { code?: number }) => {
      assert.match(err.message, message);
      assert.equal(err.code, 2);
      return true;
    });
  }
});
