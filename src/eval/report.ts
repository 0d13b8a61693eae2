/**
 * The evaluation report: one structure (what `--json` writes), a text table for stdout with
 * the providers side by side, and a self-contained HTML page (inline CSS and SVG, no script,
 * no network) with each provider's confusion matrix and a cost-vs-accuracy chart.
 *
 * @module
 */
import type { Usage } from "../protocol/messages.ts";
import type { Comparison, MetricDelta } from "./baseline.ts";
import { EXPECTATIONS } from "./cases.ts";
import {
  type CaseResult,
  computeMetrics,
  GOT_COLUMNS,
  type ProviderMetrics,
  SKIP_REASONS,
  skipLabel,
} from "./metrics.ts";
import type { ProviderInfo } from "./run.ts";

/** Version of the `--json` structure. */
export const REPORT_FORMAT = "proactive-eval/1";

/** One case in the report. */
export interface ResultRow {
  id: string;
  where: string;
  expected: string;
  got: string;
  correct: boolean;
  detail: string;
  /** Milliseconds, one decimal. */
  ms: number;
  usage?: Usage;
}

/** One provider's run: what ran, its metrics and its cases. */
export interface ProviderReport extends ProviderInfo, ProviderMetrics {
  concurrency: number;
  results: ResultRow[];
  /** With `--baseline`: this run against the baseline's run of the same provider. */
  comparison?: Comparison;
}

/** The whole report, as `--json` writes it. */
export interface EvalReport {
  format: typeof REPORT_FORMAT;
  generated_at: string;
  inputs: string[];
  providers: ProviderReport[];
}

/**
 * A provider's point in the baseline run, for the chart: null where the baseline has no
 * finite value (an older report without `cost_per_1000_usd`), and then it is not drawn.
 */
export interface BaselinePoint {
  accuracy: number | null;
  cost: number | null;
}

/** `value` when it is a finite number, else null. */
export function finiteOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Skipped-case counts by reason, for the table: the known reasons, then any other one seen.
 * Reports from before `skipped_by_reason` count every skip as an unchanged screen.
 */
function skipRows(ps: readonly ProviderReport[]): Array<[string, (p: ProviderReport) => string]> {
  const reasons: string[] = [...SKIP_REASONS];
  for (const p of ps) {
    for (const r of Object.keys(p.skipped_by_reason ?? {})) {
      if (!reasons.includes(r)) reasons.push(r);
    }
  }
  return reasons.map((reason) => [
    `skipped (${skipLabel(reason)})`,
    (p) =>
      String(
        p.skipped_by_reason
          ? p.skipped_by_reason[reason] ?? 0
          : reason === "unchanged_screen"
          ? p.skipped
          : 0,
      ),
  ]);
}

/** Milliseconds to one decimal. */
function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** A provider's report from its results. */
export function providerReport(
  info: ProviderInfo,
  concurrency: number,
  results: readonly CaseResult[],
): ProviderReport {
  const metrics = computeMetrics(results);
  return {
    ...info,
    concurrency,
    ...metrics,
    latency_ms: { p50: roundMs(metrics.latency_ms.p50), p95: roundMs(metrics.latency_ms.p95) },
    results: results.map((r) => ({
      id: r.id,
      where: r.where,
      expected: r.expected,
      got: r.got,
      correct: r.got === r.expected,
      detail: r.detail,
      ms: roundMs(r.ms),
      ...(r.usage ? { usage: r.usage } : {}),
    })),
  };
}

/** `text` on one line, cut to `width` characters with an ellipsis. */
function cell(text: string, width: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

function pct(x: number | null): string {
  return x === null ? "-" : `${(x * 100).toFixed(1)}%`;
}

function usd(x: number): string {
  return `$${x < 0.01 && x > 0 ? x.toFixed(6) : x.toFixed(4)}`;
}

function fmt(x: number, digits = 1): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(digits);
}

/**
 * The media resolution a run sent: its level, `default` when none was sent, `-` for the
 * offline model (which reads no image) and OpenAI-compatible servers (which take no such
 * setting).
 */
function mediaResolution(p: ProviderReport): string {
  if (p.kind === "offline" || p.kind === "openai") return "-";
  return p.media_resolution ?? "default";
}

function markOf(p: ProviderReport, metric: string): string {
  const d: MetricDelta | undefined = p.comparison?.metrics.find((m) => m.metric === metric);
  if (!d || d.delta === null || d.mark === "same") return "";
  const sign = d.delta > 0 ? "+" : "";
  const shown = metric.startsWith("cost")
    ? `${sign}${d.delta.toFixed(4)}`
    : metric === "false_extracts" || metric.startsWith("latency")
    ? `${sign}${fmt(d.delta)}`
    : `${sign}${(d.delta * 100).toFixed(1)}pt`;
  return ` (${shown} ${d.mark})`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** The text report: the providers side by side, then each one's matrix and misses. */
export function formatText(report: EvalReport): string {
  const ps = report.providers;
  const row = (label: string, f: (p: ProviderReport) => string) => [label, ...ps.map(f)];
  const summary = table([
    row("provider", (p) => p.provider),
    row("model", (p) => p.model),
    row("thinking budget", (p) => (p.thinking_budget === null ? "-" : String(p.thinking_budget))),
    row("media resolution", mediaResolution),
    row("prompt version", (p) => p.prompt_version),
    row("cases", (p) => String(p.cases)),
    row("correct", (p) => String(p.correct)),
    row("accuracy", (p) => pct(p.accuracy) + markOf(p, "accuracy")),
    row("errors", (p) => String(p.errors)),
    row("extract precision", (p) => pct(p.extract.precision) + markOf(p, "extract.precision")),
    row("extract recall", (p) => pct(p.extract.recall) + markOf(p, "extract.recall")),
    row("extract F1", (p) => pct(p.extract.f1) + markOf(p, "extract.f1")),
    row(
      "false extracts",
      (p) => `${p.false_extracts} of ${p.no_task_cases}` + markOf(p, "false_extracts"),
    ),
    row("duplicate recall", (p) => pct(p.duplicate_recall) + markOf(p, "duplicate_recall")),
    ...skipRows(ps).map(([label, f]) => row(label, f)),
    row("model calls / case", (p) => fmt(p.per_case.model_calls, 2)),
    row("tool calls / case", (p) => fmt(p.per_case.tool_calls, 2)),
    row("input tokens / case", (p) => fmt(p.per_case.input_tokens)),
    row("cached input tokens / case", (p) => fmt(p.per_case.cached_input_tokens)),
    row("output tokens / case", (p) => fmt(p.per_case.output_tokens)),
    row("thinking tokens / case", (p) => fmt(p.per_case.thinking_tokens)),
    row("cost / 1000 frames", (p) => usd(p.cost_per_1000_usd) + markOf(p, "cost_per_1000_usd")),
    row(
      "latency p50 / p95",
      (p) =>
        `${Math.round(p.latency_ms.p50)} / ${Math.round(p.latency_ms.p95)} ms` +
        markOf(p, "latency_ms.p95"),
    ),
  ]);
  const parts = [summary];
  for (const p of ps) {
    const matrix = table([
      ["expected \\ got", ...GOT_COLUMNS],
      ...EXPECTATIONS.map((e) => [e, ...GOT_COLUMNS.map((c) => String(p.confusion[e][c]))]),
    ]);
    parts.push(`\n${p.provider}: confusion (rows expected, columns got)\n${matrix}`);
    if (p.comparison) {
      const c = p.comparison;
      const notes = [
        c.model_changed ? "model changed" : "",
        c.prompt_version_changed ? "prompt version changed" : "",
        c.media_resolution_changed ? "media resolution changed" : "",
      ].filter(Boolean);
      parts.push(
        `${p.provider}: against ${c.file}${notes.length ? ` (${notes.join(", ")})` : ""}: ` +
          `fixed ${c.fixed.length ? c.fixed.join(", ") : "none"}; ` +
          `broken ${c.broken.length ? c.broken.join(", ") : "none"}`,
      );
    }
    if (p.misses.length === 0) {
      parts.push(`${p.provider}: no misses`);
    } else {
      parts.push(
        `${p.provider}: ${p.misses.length} missed\n` + table([
          ["id", "expected", "got", "title / reason"],
          ...p.misses.map((m) => [cell(m.id, 32), m.expected, m.got, cell(m.detail || "-", 72)]),
        ]),
      );
    }
  }
  return parts.join("\n");
}

/** `text` escaped for HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!,
  );
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

/** The cost-vs-accuracy chart: one point per provider (and its baseline, hollow). */
function chart(report: EvalReport, baselines: Map<string, BaselinePoint>) {
  const width = 640;
  const height = 360;
  const left = 70;
  const right = 20;
  const top = 20;
  const bottom = 50;
  const missing: string[] = [];
  const points = report.providers.map((p, i) => {
    const old = baselines.get(p.provider);
    const accuracy = finiteOrNull(old?.accuracy);
    const cost = finiteOrNull(old?.cost);
    if (old && (accuracy === null || cost === null)) missing.push(p.provider);
    return {
      label: p.provider,
      cost: finiteOrNull(p.cost_per_1000_usd) ?? 0,
      accuracy: finiteOrNull(p.accuracy) ?? 0,
      color: PALETTE[i % PALETTE.length]!,
      // A baseline without a cost (or accuracy) has no point on the chart.
      baseline: accuracy !== null && cost !== null ? { accuracy, cost } : undefined,
    };
  });
  const maxCost = Math.max(
    ...points.flatMap((p) => [p.cost, p.baseline?.cost ?? 0]),
    0,
  ) || 1;
  const x = (cost: number) => left + (cost / (maxCost * 1.1)) * (width - left - right);
  const y = (acc: number) => top + (1 - acc) * (height - top - bottom);
  const out: string[] = [
    `<svg class="chart" role="img" aria-label="cost vs accuracy" viewBox="0 0 ${width} ${height}" ` +
    `width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">`,
    `<line x1="${left}" y1="${y(0)}" x2="${width - right}" y2="${y(0)}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${y(0)}" stroke="#333"/>`,
  ];
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(
      `<line x1="${left - 4}" y1="${y(tick)}" x2="${width - right}" y2="${y(tick)}" ` +
        `stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y(tick) + 4}" text-anchor="end" font-size="11">` +
        `${tick * 100}%</text>`,
    );
  }
  for (const tick of [0, 0.5, 1]) {
    const cost = maxCost * 1.1 * tick;
    out.push(
      `<text x="${x(cost)}" y="${y(0) + 16}" ` +
        `text-anchor="${tick === 0 ? "start" : tick === 1 ? "end" : "middle"}" font-size="11">` +
        `${escapeHtml(usd(cost))}</text>`,
    );
  }
  out.push(
    `<text x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle" ` +
      `font-size="12">cost per 1,000 frames (USD)</text>`,
    `<text x="14" y="${(top + y(0)) / 2}" text-anchor="middle" font-size="12" ` +
      `transform="rotate(-90 14 ${(top + y(0)) / 2})">accuracy</text>`,
  );
  for (const p of points) {
    if (p.baseline) {
      out.push(
        `<line x1="${x(p.baseline.cost)}" y1="${y(p.baseline.accuracy)}" x2="${x(p.cost)}" ` +
          `y2="${y(p.accuracy)}" stroke="${p.color}" stroke-dasharray="4 3"/>`,
        `<circle class="baseline-point" cx="${x(p.baseline.cost)}" ` +
          `cy="${y(p.baseline.accuracy)}" r="6" fill="none" stroke="${p.color}" ` +
          `stroke-width="2"><title>${escapeHtml(p.label)} (baseline)</title></circle>`,
      );
    }
    out.push(
      `<circle class="point" data-provider="${escapeHtml(p.label)}" cx="${x(p.cost)}" ` +
        `cy="${y(p.accuracy)}" r="7" fill="${p.color}"><title>${escapeHtml(p.label)}: ` +
        `${pct(p.accuracy)}, ${escapeHtml(usd(p.cost))} / 1000</title></circle>`,
      `<text x="${x(p.cost) + 10}" y="${y(p.accuracy) - 8}" font-size="12" ` +
        `fill="${p.color}">${escapeHtml(p.label)}</text>`,
    );
  }
  out.push("</svg>");
  if (missing.length) {
    out.push(
      `<p class="chart-note">Baseline point n/a (no cost per 1,000 frames or accuracy in the ` +
        `baseline) for ${escapeHtml(missing.join(", "))}.</p>`,
    );
  }
  return out.join("\n");
}

/**
 * The HTML page: a summary table, each provider's confusion matrix, misses and the chart.
 * `baselines` holds the baseline point (accuracy, cost per 1000) of each provider, if any.
 */
export function renderHtml(
  report: EvalReport,
  baselines: Map<string, BaselinePoint> = new Map(),
): string {
  const e = escapeHtml;
  const ps = report.providers;
  const summaryRows: Array<[string, (p: ProviderReport) => string]> = [
    ["model", (p) => p.model],
    ["thinking budget", (p) => (p.thinking_budget === null ? "-" : String(p.thinking_budget))],
    ["media resolution", mediaResolution],
    ["prompt version", (p) => p.prompt_version],
    ["cases", (p) => String(p.cases)],
    ["correct", (p) => String(p.correct)],
    ["accuracy", (p) => pct(p.accuracy) + markOf(p, "accuracy")],
    [
      "extract precision / recall / F1",
      (p) => `${pct(p.extract.precision)} / ${pct(p.extract.recall)} / ${pct(p.extract.f1)}`,
    ],
    ["false extracts", (p) => `${p.false_extracts} of ${p.no_task_cases}`],
    ["duplicate recall", (p) => pct(p.duplicate_recall)],
    ...skipRows(ps),
    [
      "model / tool calls per case",
      (p) => `${fmt(p.per_case.model_calls, 2)} / ${fmt(p.per_case.tool_calls, 2)}`,
    ],
    [
      "tokens per case (in / cached in / out / thinking)",
      (p) =>
        `${fmt(p.per_case.input_tokens)} / ${fmt(p.per_case.cached_input_tokens)} / ` +
        `${fmt(p.per_case.output_tokens)} / ${fmt(p.per_case.thinking_tokens)}`,
    ],
    ["cost per 1,000 frames", (p) => usd(p.cost_per_1000_usd) + markOf(p, "cost_per_1000_usd")],
    [
      "latency p50 / p95",
      (p) => `${Math.round(p.latency_ms.p50)} / ${Math.round(p.latency_ms.p95)} ms`,
    ],
  ];
  const summary = `<table class="summary"><thead><tr><th></th>${
    ps.map((p) => `<th>${e(p.provider)}</th>`).join("")
  }</tr></thead><tbody>${
    summaryRows.map(([label, f]) =>
      `<tr><th>${e(label)}</th>${ps.map((p) => `<td>${e(f(p))}</td>`).join("")}</tr>`
    ).join("")
  }</tbody></table>`;
  const sections = ps.map((p) => {
    const max = Math.max(
      1,
      ...EXPECTATIONS.flatMap((x) => GOT_COLUMNS.map((c) => p.confusion[x][c])),
    );
    const matrix = `<table class="confusion" data-provider="${e(p.provider)}"><thead><tr>` +
      `<th>expected \\ got</th>${GOT_COLUMNS.map((c) => `<th>${c}</th>`).join("")}</tr></thead>` +
      `<tbody>${
        EXPECTATIONS.map((x) =>
          `<tr><th>${x}</th>${
            GOT_COLUMNS.map((c) => {
              const n = p.confusion[x][c];
              const hue = c === x ? "46,160,67" : "214,39,40";
              const alpha = n === 0 ? 0 : 0.15 + 0.6 * (n / max);
              return `<td class="${c === x ? "diag" : "off"}" ` +
                `style="background: rgba(${hue},${alpha.toFixed(2)})">${n}</td>`;
            }).join("")
          }</tr>`
        ).join("")
      }</tbody></table>`;
    const misses = p.misses.length === 0 ? "<p>No misses.</p>" : `<table class="misses"><thead>` +
      `<tr><th>id</th><th>expected</th><th>got</th><th>title / reason</th></tr></thead><tbody>${
        p.misses.map((m) =>
          `<tr><td>${e(m.id)}</td><td>${e(m.expected)}</td><td>${e(m.got)}</td>` +
          `<td>${e(cell(m.detail, 200))}</td></tr>`
        ).join("")
      }</tbody></table>`;
    const comparison = p.comparison
      ? `<p class="comparison">Against ${e(p.comparison.file)}: fixed ${
        e(p.comparison.fixed.join(", ") || "none")
      }; broken ${e(p.comparison.broken.join(", ") || "none")}.</p>`
      : "";
    return `<section><h2>${e(p.provider)}</h2>${matrix}${comparison}<h3>Misses</h3>${misses}` +
      `</section>`;
  }).join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>proactive eval</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
table.confusion td { text-align: right; min-width: 5em; }
table.misses td:last-child { max-width: 40em; }
</style>
</head>
<body>
<h1>proactive eval</h1>
<p>${ps[0]?.cases ?? 0} cases from ${e(report.inputs.join(", "))}, ${e(report.generated_at)}.</p>
${summary}
<h2>Cost vs accuracy</h2>
${chart(report, baselines)}
${sections}
</body>
</html>
`;
}
