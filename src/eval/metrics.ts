/**
 * What an evaluation reports, computed from per-case results: pure functions, no I/O.
 *
 * - `accuracy`: correct cases over all cases; a case that ended in an error is wrong.
 * - `confusion[expected][got]`: counts, `got` one of the three outcomes or `error`.
 * - `extract`: precision, recall and F1 of `extract_task` (0 when undefined).
 * - `false_extracts`: `no_task_found` cases that extracted a task.
 * - `duplicate_recall`: share of `reject_task` cases that were rejected (null without any).
 * - `per_case`: mean model calls, tool calls and tokens per case; `totals` the sums.
 * - `cost_per_1000_usd`: the total cost over the cases, per 1,000 frames.
 * - `latency_ms`: nearest-rank p50 and p95 of the client-side time per case.
 *
 * @module
 */
import type { Usage } from "../protocol/messages.ts";
import { percentile } from "../replay/report.ts";
import { type Expectation, EXPECTATIONS } from "./cases.ts";

/** The confusion matrix's columns: the three outcomes and any error. */
export const GOT_COLUMNS = [...EXPECTATIONS, "error"] as const;
/** A confusion matrix column. */
export type GotColumn = (typeof GOT_COLUMNS)[number];

/** The result of one case. */
export interface CaseResult {
  id: string;
  /** `file:line` of the case. */
  where: string;
  expected: Expectation;
  /** An outcome, or the server's or client's error code. */
  got: string;
  /** The task title, the rejection reason, the summary or the error message. */
  detail: string;
  /** From sending the frame to its terminal message, as the client saw it. */
  ms: number;
  /** The server's accounting, when the case ended in an outcome. */
  usage?: Usage;
}

/** A missed case, for the report. */
export interface Miss {
  id: string;
  where: string;
  expected: Expectation;
  got: string;
  detail: string;
}

/** Per-case means or totals of the accounting. */
export interface Counts {
  model_calls: number;
  tool_calls: number;
  input_tokens: number;
  /** Of `input_tokens`, those served from the model's prompt cache. */
  cached_input_tokens: number;
  output_tokens: number;
  thinking_tokens: number;
}

/** The metrics of one provider's run. */
export interface ProviderMetrics {
  cases: number;
  correct: number;
  accuracy: number;
  errors: number;
  confusion: Record<Expectation, Record<GotColumn, number>>;
  extract: { precision: number; recall: number; f1: number };
  false_extracts: number;
  /** `no_task_found` cases, the denominator of `false_extracts`. */
  no_task_cases: number;
  duplicate_recall: number | null;
  /** Cases answered without a model call (`usage.skipped` set, whatever the reason). */
  skipped: number;
  /** `skipped` by reason: an unchanged screen, the privacy guard (and any newer reason). */
  skipped_by_reason: SkipCounts;
  per_case: Counts;
  totals: Counts & { cost_usd: number };
  cost_per_1000_usd: number;
  latency_ms: { p50: number; p95: number };
  misses: Miss[];
}

/** The reasons a frame is answered without a model call, as `usage.skipped` carries them. */
export const SKIP_REASONS = ["unchanged_screen", "privacy"] as const;

/** Skipped cases per reason: every known reason present (0 when none), and any other seen. */
export type SkipCounts = Record<(typeof SKIP_REASONS)[number], number> & Record<string, number>;

/** How a skip reason reads in a report. */
export function skipLabel(reason: string): string {
  if (reason === "unchanged_screen") return "unchanged screen";
  if (reason === "privacy") return "privacy";
  return reason.replace(/_/g, " ");
}

/** Counts the `usage.skipped` reasons of `usages` (undefined entries and unskipped ignored). */
export function countSkips(usages: Iterable<Usage | undefined>): SkipCounts {
  const counts = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as SkipCounts;
  for (const u of usages) {
    if (u?.skipped === undefined) continue;
    counts[u.skipped] = (counts[u.skipped] ?? 0) + 1;
  }
  return counts;
}

/** Whether `got` is one of the three outcomes. */
export function isOutcome(got: string): got is Expectation {
  return (EXPECTATIONS as readonly string[]).includes(got);
}

function ratio(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}

/** An empty confusion matrix. */
export function emptyConfusion(): Record<Expectation, Record<GotColumn, number>> {
  const row = () => Object.fromEntries(GOT_COLUMNS.map((c) => [c, 0])) as Record<GotColumn, number>;
  return { extract_task: row(), reject_task: row(), no_task_found: row() };
}

/** Every metric of one provider's results. */
export function computeMetrics(results: readonly CaseResult[]): ProviderMetrics {
  const confusion = emptyConfusion();
  const totals = {
    model_calls: 0,
    tool_calls: 0,
    input_tokens: 0,
    cached_input_tokens: 0,
    output_tokens: 0,
    thinking_tokens: 0,
    cost_usd: 0,
  };
  const misses: Miss[] = [];
  let correct = 0;
  for (const r of results) {
    const column: GotColumn = isOutcome(r.got) ? r.got : "error";
    confusion[r.expected][column]++;
    if (r.got === r.expected) correct++;
    else {misses.push({
        id: r.id,
        where: r.where,
        expected: r.expected,
        got: r.got,
        detail: r.detail,
      });}
    if (r.usage) {
      totals.model_calls += r.usage.model_calls;
      totals.tool_calls += r.usage.tool_calls;
      totals.input_tokens += r.usage.input_tokens;
      totals.cached_input_tokens += r.usage.cached_input_tokens ?? 0;
      totals.output_tokens += r.usage.output_tokens;
      totals.thinking_tokens += r.usage.thinking_tokens;
      totals.cost_usd += r.usage.cost_usd;
    }
  }
  const n = results.length;
  // A case that ended in a server_error carries no usage: averages are over the cases that do,
  // so an error never makes the model look cheaper than it is.
  const accounted = results.filter((r) => r.usage).length;
  const tp = confusion.extract_task.extract_task;
  const predicted = EXPECTATIONS.reduce((sum, e) => sum + confusion[e].extract_task, 0);
  const actual = GOT_COLUMNS.reduce((sum, c) => sum + confusion.extract_task[c], 0);
  const precision = ratio(tp, predicted);
  const recall = ratio(tp, actual);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const rejectCases = GOT_COLUMNS.reduce((sum, c) => sum + confusion.reject_task[c], 0);
  const noTaskCases = GOT_COLUMNS.reduce((sum, c) => sum + confusion.no_task_found[c], 0);
  const errors = EXPECTATIONS.reduce((sum, e) => sum + confusion[e].error, 0);
  const ms = results.map((r) => r.ms);
  return {
    cases: n,
    correct,
    accuracy: ratio(correct, n),
    errors,
    confusion,
    extract: { precision, recall, f1 },
    false_extracts: confusion.no_task_found.extract_task,
    no_task_cases: noTaskCases,
    duplicate_recall: rejectCases === 0 ? null : confusion.reject_task.reject_task / rejectCases,
    skipped: results.filter((r) => r.usage?.skipped !== undefined).length,
    skipped_by_reason: countSkips(results.map((r) => r.usage)),
    per_case: {
      model_calls: ratio(totals.model_calls, accounted),
      tool_calls: ratio(totals.tool_calls, accounted),
      input_tokens: ratio(totals.input_tokens, accounted),
      cached_input_tokens: ratio(totals.cached_input_tokens, accounted),
      output_tokens: ratio(totals.output_tokens, accounted),
      thinking_tokens: ratio(totals.thinking_tokens, accounted),
    },
    totals,
    cost_per_1000_usd: ratio(totals.cost_usd, accounted) * 1000,
    latency_ms: { p50: percentile(ms, 50), p95: percentile(ms, 95) },
    misses,
  };
}
