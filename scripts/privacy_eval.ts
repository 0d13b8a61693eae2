/**
 * Measures the privacy guard's detector on eval/privacy/corpus.jsonl (README "Privacy
 * guard"): recall per kind on the positives, false positives on the negative screens.
 *
 *     deno task privacy-eval
 *
 * A positive counts as found when its kind was reported and its secret is gone from the
 * text; a negative screen is a false positive when anything at all was redacted. Exits 1
 * when a target is missed (recall ≥ 0.95 on every kind, false positives ≤ 1%).
 *
 * @module
 */
import { redact } from "../src/frames/privacy.ts";
import type { CorpusCase } from "./privacy_corpus.ts";

/** Recall needed on every kind. */
export const RECALL_TARGET = 0.95;
/** Most negative screens that may see a redaction. */
export const FALSE_POSITIVE_TARGET = 0.01;

/** What the eval found. */
export interface PrivacyReport {
  recall: Record<string, { found: number; total: number; recall: number }>;
  negatives: number;
  falsePositives: number;
  falsePositiveRate: number;
  /** Whether every target was met. */
  ok: boolean;
}

/** Reads the corpus. */
export async function readCorpus(path = "eval/privacy/corpus.jsonl"): Promise<CorpusCase[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
}

/** Runs the detector over `cases`. */
export function evaluatePrivacy(cases: CorpusCase[]): PrivacyReport {
  const recall: PrivacyReport["recall"] = {};
  let negatives = 0;
  let falsePositives = 0;
  for (const c of cases) {
    const out = redact(c.text, { contacts: c.contacts === true });
    if (!c.kinds.length) {
      negatives++;
      if (Object.keys(out.counts).length) falsePositives++;
      continue;
    }
    for (const kind of c.kinds) {
      const entry = recall[kind] ??= { found: 0, total: 0, recall: 0 };
      entry.total++;
      const gone = c.secret === undefined || !out.text.includes(c.secret);
      if ((out.counts as Record<string, number>)[kind] && gone) entry.found++;
    }
  }
  for (const entry of Object.values(recall)) entry.recall = entry.found / entry.total;
  const falsePositiveRate = negatives ? falsePositives / negatives : 0;
  const ok = Object.values(recall).every((e) => e.recall >= RECALL_TARGET) &&
    falsePositiveRate <= FALSE_POSITIVE_TARGET;
  return { recall, negatives, falsePositives, falsePositiveRate, ok };
}

/** The report as a table. */
export function formatReport(report: PrivacyReport): string {
  const lines = ["kind          found/total  recall"];
  for (const [kind, e] of Object.entries(report.recall).sort()) {
    lines.push(
      `${kind.padEnd(13)} ${`${e.found}/${e.total}`.padStart(11)}  ${e.recall.toFixed(3)}`,
    );
  }
  lines.push(
    `false positives: ${report.falsePositives}/${report.negatives} negative screens (${
      (report.falsePositiveRate * 100).toFixed(2)
    }%)`,
    `targets (recall >= ${RECALL_TARGET} per kind, false positives <= ${
      FALSE_POSITIVE_TARGET * 100
    }%): ${report.ok ? "met" : "MISSED"}`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(
      "usage: deno task privacy-eval\n\nRecall per kind and false positives of the privacy guard on eval/privacy/corpus.jsonl;\nexits 1 when a target is missed.",
    );
    Deno.exit(0);
  }
  const report = evaluatePrivacy(await readCorpus());
  console.log(formatReport(report));
  if (!report.ok) Deno.exit(1);
}
