import assert from "node:assert/strict";
import { backoffDelay } from "../../src/client/backoff.ts";

const policy = { initialDelayMs: 100, maxDelayMs: 1_000 };

Deno.test("backoffDelay() is full jitter over a capped exponential", async (t) => {
  const table: Array<[attempt: number, random: number, expected: number]> = [
    [0, 0, 0],
    [0, 0.5, 50],
    [0, 0.999, 99],
    [1, 0.5, 100],
    [2, 0.5, 200],
    [3, 0.999, 799],
    [4, 0.999, 999], // capped at maxDelayMs
    [60, 0.5, 500], // no overflow for huge attempts
  ];
  for (const [attempt, random, expected] of table) {
    await t.step(`attempt ${attempt}, random ${random} → ${expected} ms`, () => {
      assert.equal(backoffDelay(attempt, policy, () => random), expected);
    });
  }

  await t.step("stays within [0, cap) with Math.random", () => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const cap = Math.min(1_000, 100 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(attempt, policy);
        assert.ok(delay >= 0 && delay <= cap, `${delay} outside [0, ${cap}]`);
      }
    }
  });
});
