/**
 * `bench/prompt_prefix.ts` measures what it says: on a session of the real loop and SDK, the
 * requests of a session share the context as their prefix, and the figures add up.
 */
import assert from "node:assert/strict";
import {
  CACHE_MINIMUMS,
  commonPrefixBytes,
  measurePromptPrefix,
  prefixTable,
} from "../../bench/prompt_prefix.ts";

Deno.test("prompt_prefix: consecutive requests share the stable fields and the whole context", async () => {
  const report = await measurePromptPrefix({ frames: 4 });
  assert.equal(report.frames, 4);
  assert.equal(report.activeTasks, 20);
  // Every other frame searches first: 4 frames make 6 requests, 3 across frames, 2 in loops.
  assert.equal(report.requests, 6);
  assert.equal(report.acrossFrames.pairs, 3);
  assert.equal(report.toolLoop.pairs, 2);
  assert.equal(report.stableFieldsFirst, true);
  assert.equal(report.contextInPrefix, true);
  assert.ok(
    report.acrossFrames.minTokens >= CACHE_MINIMUMS[0],
    JSON.stringify(report.acrossFrames),
  );
  // Within a loop the whole first call (image included) is the next call's prefix.
  assert.ok(report.toolLoop.minShare > 0.9, JSON.stringify(report.toolLoop));
  assert.ok(report.savingPct > 0 && report.savingPct <= 75, String(report.savingPct));
  for (const pair of report.pairList) assert.ok(pair.sharedBytes <= pair.requestBytes);
  assert.match(prefixTable(report), /Expected saving: \d+\.\d% of the session's input cost/);
});

Deno.test("prompt_prefix: commonPrefixBytes counts UTF-8 bytes", () => {
  assert.equal(commonPrefixBytes("abc", "abd"), 2);
  assert.equal(commonPrefixBytes("é1", "é2"), 2);
  assert.equal(commonPrefixBytes("", "x"), 0);
  assert.equal(commonPrefixBytes("same", "same"), 4);
});
