/**
 * What a replay prints: the result table, the summary and the progress bar. Pure functions
 * from rows to text; the script decides where the text goes.
 *
 * @module
 */
import type { Usage } from "../protocol/messages.ts";

/** The result of one replayed frame. */
export interface ReplayRow {
  /** Position, 1-based. */
  index: number;
  name: string;
  app: string;
  /** `extract_task`, `reject_task`, `no_task_found`, a server error code, or a client one. */
  outcome: string;
  /** The task title, the rejection reason, the summary or the error message. */
  detail: string;
  /** From sending the frame to its terminal message, as the client saw it. */
  ms: number;
  /** The server's accounting, when the frame ended in an outcome. */
  usage?: Usage;
}

/** Totals of a replay. */
export interface ReplaySummary {
  frames: number;
  /** Frames per outcome, in first-seen order. */
  counts: Record<string, number>;
  p50Ms: number;
  p95Ms: number;
  inputTokens: number;
  outputTokens: number;
  thinkingTokens: number;
  costUsd: number;
  /** Frames answered without a model call (`usage.skipped` set, whatever the reason). */
  skipped: number;
  /** `skipped` by reason (`unchanged_screen`, `privacy`), in first-seen order. */
  skippedByReason: Record<string, number>;
}

/** Nearest-rank percentile of `values` (`p` in 0..100); 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Counts, latency percentiles, tokens and cost of `rows`. */
export function summarize(rows: readonly ReplayRow[]): ReplaySummary {
  const counts: Record<string, number> = {};
  let inputTokens = 0;
  let outputTokens = 0;
  let thinkingTokens = 0;
  let costUsd = 0;
  let skipped = 0;
  const skippedByReason: Record<string, number> = {};
  for (const row of rows) {
    counts[row.outcome] = (counts[row.outcome] ?? 0) + 1;
    if (!row.usage) continue;
    if (row.usage.skipped) {
      skipped++;
      skippedByReason[row.usage.skipped] = (skippedByReason[row.usage.skipped] ?? 0) + 1;
    }
    inputTokens += row.usage.input_tokens;
    outputTokens += row.usage.output_tokens;
    thinkingTokens += row.usage.thinking_tokens;
    costUsd += row.usage.cost_usd;
  }
  const ms = rows.map((row) => row.ms);
  return {
    frames: rows.length,
    counts,
    p50Ms: percentile(ms, 50),
    p95Ms: percentile(ms, 95),
    inputTokens,
    outputTokens,
    thinkingTokens,
    costUsd,
    skipped,
    skippedByReason,
  };
}

/** `text` on one line, cut to `width` characters with an ellipsis. */
function cell(text: string, width: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

/** The result table: one line per frame, columns `#  frame  app  outcome  title / reason  ms`. */
export function formatTable(rows: readonly ReplayRow[], detailWidth = 64): string {
  const header = ["#", "frame", "app", "outcome", "title / reason", "ms"];
  const body = rows.map((row) => [
    String(row.index),
    cell(row.name, 28),
    cell(row.app || "-", 16),
    row.outcome,
    cell(row.detail || "-", detailWidth),
    String(Math.round(row.ms)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) =>
      i === 0 || i === cells.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)
    ).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...body.map(line)].join("\n");
}

/** Why a frame was skipped, in words. */
function skipReason(reason: string): string {
  if (reason === "unchanged_screen") return "screen unchanged";
  if (reason === "privacy") return "privacy";
  return reason.replace(/_/g, " ");
}

/** `1 skipped, screen unchanged` or `3 skipped: 2 screen unchanged, 1 privacy`. */
function formatSkips(summary: ReplaySummary): string {
  // A summary built by hand (or an older caller) may lack the reasons: counted as unknown.
  const byReason = Object.entries(summary.skippedByReason ?? {});
  const known = byReason.reduce((sum, [, n]) => sum + n, 0);
  if (known < summary.skipped) byReason.push(["unknown reason", summary.skipped - known]);
  if (byReason.length === 1) return `${summary.skipped} skipped, ${skipReason(byReason[0]![0])}`;
  return `${summary.skipped} skipped: ` +
    byReason.map(([reason, n]) => `${n} ${skipReason(reason)}`).join(", ");
}

/** The summary lines under the table. */
export function formatSummary(summary: ReplaySummary): string {
  const counts = Object.entries(summary.counts).map(([k, v]) => `${k} ${v}`).join(", ");
  const tokens = `${summary.inputTokens} in, ${summary.outputTokens} out` +
    (summary.thinkingTokens ? `, ${summary.thinkingTokens} thinking` : "");
  return [
    `frames   ${summary.frames} (${counts || "none"}` +
    (summary.skipped ? `; ${formatSkips(summary)})` : ")"),
    `latency  p50 ${Math.round(summary.p50Ms)} ms, p95 ${Math.round(summary.p95Ms)} ms`,
    `tokens   ${tokens}`,
    `cost     $${summary.costUsd.toFixed(6)}`,
  ].join("\n");
}

/** One progress bar line (no newline): `[#####·····]  5/10  name`. */
export function progressBar(done: number, total: number, label: string, width = 80): string {
  const barWidth = Math.max(10, Math.min(30, width - 40));
  const filled = total > 0 ? Math.round((done / total) * barWidth) : 0;
  const count = `${String(done).padStart(String(total).length)}/${total}`;
  const text = `[${"#".repeat(filled)}${"·".repeat(barWidth - filled)}] ${count}  ` +
    label.replace(/\s+/g, " ");
  const max = Math.max(20, width - 1);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
