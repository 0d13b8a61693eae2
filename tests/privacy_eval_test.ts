/**
 * The privacy guard's corpus meets its targets: recall ≥ 0.95 on every kind and false
 * positives on at most 1% of the negative screens; the committed corpus is the one the
 * script generates.
 */
import assert from "node:assert/strict";
import { buildCorpus } from "../scripts/privacy_corpus.ts";
import {
  evaluatePrivacy,
  FALSE_POSITIVE_TARGET,
  formatReport,
  readCorpus,
  RECALL_TARGET,
} from "../scripts/privacy_eval.ts";
import { REDACTION_KINDS } from "../src/frames/privacy.ts";

const CORPUS = new URL("../eval/privacy/corpus.jsonl", import.meta.url).pathname;

Deno.test("privacy corpus: recall per kind and false positives meet the targets", async () => {
  const cases = await readCorpus(CORPUS);
  assert.deepEqual(cases, buildCorpus(), "eval/privacy/corpus.jsonl is the script's output");
  const positives = cases.filter((c) => c.kinds.length).length;
  assert.ok(positives >= 200, `${positives} positives`);
  assert.ok(cases.length - positives >= 300, "300 negatives");
  const report = evaluatePrivacy(cases);
  for (const kind of REDACTION_KINDS) {
    const entry = report.recall[kind];
    assert.ok(entry && entry.total >= 20, `${kind}: enough positives`);
    assert.ok(entry.recall >= RECALL_TARGET, `${kind}: recall ${entry.recall}`);
  }
  assert.ok(report.falsePositiveRate <= FALSE_POSITIVE_TARGET, formatReport(report));
  assert.ok(report.ok);
});
