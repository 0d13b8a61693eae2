import assert from "node:assert/strict";
import type { Authenticator } from "../../src/auth/authenticator.ts";
import { silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/server/metrics.ts";
import { redactRedisUrl, RedisLimits } from "../../src/server/redis_limits.ts";
import {
  budgetMessage,
  DailyBudget,
  formatUsd,
  msUntilUtcMidnight,
  UserLimits,
} from "../../src/server/user_limits.ts";
import { FakeClient } from "../fakes/fake_client.ts";
import { call, ScriptedModel } from "../fakes/fake_model.ts";
import { RedisServer, skipRedisTest } from "../fakes/redis.ts";
import { startTestServer } from "../fakes/test_server.ts";

const DAY = Date.UTC(2026, 11, 3, 12, 0, 0);

Deno.test("DailyBudget: a user's spend adds up until the budget, and resets at midnight UTC", () => {
  let now = DAY;
  const budget = new DailyBudget({ budgetUsd: 0.01, now: () => now });
  assert.equal(budget.check("ann"), 0);
  budget.add("ann", 0.004);
  budget.add("ann", 0.005);
  assert.equal(budget.check("ann"), 0, "0.009 of 0.01: still under");
  budget.add("ann", 0.002);
  assert.equal(budget.check("ann"), 12 * 3_600_000, "over: until midnight UTC");
  assert.equal(budget.check("bob"), 0, "per user");
  now = DAY + 12 * 3_600_000 - 1;
  assert.equal(budget.check("ann"), 1);
  now = DAY + 12 * 3_600_000;
  assert.equal(budget.check("ann"), 0, "a new day");
  assert.equal(budget.size, 0, "yesterday's totals are forgotten");
});

Deno.test("DailyBudget: ignores amounts that are not positive finite numbers", () => {
  const budget = new DailyBudget({ budgetUsd: 1, now: () => DAY });
  for (const usd of [-5, 0, Number.NaN, Infinity, -Infinity]) budget.add("ann", usd);
  assert.equal(budget.spent("ann"), 0);
  assert.throws(() => new DailyBudget({ budgetUsd: 0 }), RangeError);
});

Deno.test("msUntilUtcMidnight and the budget message", () => {
  assert.equal(msUntilUtcMidnight(Date.UTC(2026, 11, 3, 23, 59, 59, 0)), 1_000);
  assert.equal(msUntilUtcMidnight(Date.UTC(2026, 11, 31, 0, 0, 0, 0)), 86_400_000);
  assert.deepEqual([formatUsd(5), formatUsd(2.5), formatUsd(0.0004)], ["$5", "$2.50", "$0.0004"]);
  assert.equal(budgetMessage(2.5), "Daily budget of $2.50 reached; resets at 00:00 UTC");
});

Deno.test("UserLimits without Redis: synchronous; the budget is checked first and spends no frame", () => {
  const limits = new UserLimits({
    maxSessionsPerUser: 5,
    framesPerMinute: 2,
    dailyBudgetUsd: 0.5,
    now: () => DAY,
    monotonic: () => 0,
  });
  assert.equal(limits.takeFrame("ann"), 0);
  limits.addCost("ann", 0.5);
  const over = limits.takeFrame("ann");
  assert.deepEqual(over, { retryAfterMs: 12 * 3_600_000, message: budgetMessage(0.5) });
  // Bob's two frames a minute are his own; Ann's refusals took none of them.
  assert.equal(limits.takeFrame("bob"), 0);
  assert.equal(limits.takeFrame("bob"), 0);
  assert.equal(limits.takeFrame("bob"), 30_000);
});

Deno.test("UserLimits without Redis admits sessions by this process's count", async () => {
  const limits = new UserLimits({ maxSessionsPerUser: 2, framesPerMinute: 0, dailyBudgetUsd: 0 });
  assert.equal(await limits.admitSession("ann", "s1", () => 1), true);
  assert.equal(await limits.admitSession("ann", "s2", () => 2), false);
  assert.equal(limits.limitsFrames, false);
  assert.equal(limits.takeFrame("ann"), 0);
});

const byHeader: Authenticator = {
  authenticate: (request) =>
    Promise.resolve({ ok: true, userId: request.headers.get("x-user") ?? "anon" }),
};
const NO_TASK = call("no_task_found", { context_summary: "s", current_activity: "a" });

Deno.test("the daily budget without Redis: RATE_LIMITED until midnight, no model call", async () => {
  // Each call of the scripted model costs $0.0001: a budget of $0.00015 allows two frames.
  const model = new ScriptedModel([NO_TASK, NO_TASK, NO_TASK]);
  await using server = startTestServer({
    model,
    authenticator: byHeader,
    userLimits: new UserLimits({
      maxSessionsPerUser: 5,
      framesPerMinute: 0,
      dailyBudgetUsd: 0.00015,
    }),
  });
  await using one = await FakeClient.connect(server.wsUrl, { "x-user": "carol" });
  await using two = await FakeClient.connect(server.wsUrl, { "x-user": "carol" });
  await one.hello({ session_context: {} });
  await two.hello({ session_context: {} });
  const frame = (n: number) => ({ type: "frame_event", frame_number: n, ocr_text: "x" });
  one.send(frame(1));
  assert.equal((await one.expect("analysis_outcome")).frame_id, "1");
  two.send(frame(2));
  assert.equal((await two.expect("analysis_outcome")).frame_id, "2");
  one.send(frame(3));
  const limited = await one.expect("server_error");
  assert.deepEqual([limited.code, limited.retryable, limited.frame_id, limited.message], [
    "RATE_LIMITED",
    true,
    "3",
    "Daily budget of $0.00015 reached; resets at 00:00 UTC",
  ]);
  const expected = msUntilUtcMidnight(Date.now());
  assert.ok(Math.abs(limited.retry_after_ms! - expected) < 5_000);
  assert.equal(model.calls.length, 2, "no model call for the refused frame");
  assert.equal(server.metrics.budgetLimitedTotal.get(), 1);
  assert.equal(server.metrics.rateLimitedTotal.get(), 1);
  // Another user still has a budget.
  await using dave = await FakeClient.connect(server.wsUrl, { "x-user": "dave" });
  await dave.hello({ session_context: {} });
  dave.send(frame(4));
  assert.equal((await dave.expect("analysis_outcome")).frame_id, "4");
});

Deno.test("redactRedisUrl never shows the user or password", () => {
  assert.equal(
    redactRedisUrl("rediss://default:hunter2@10.0.0.3:6378/0"),
    "rediss://10.0.0.3:6378",
  );
  assert.equal(redactRedisUrl("not a url"), "(invalid URL)");
});

Deno.test("RedisLimits with no Redis listening: every call falls back at once", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const metrics = new Metrics(() => 0);
  const shared = new RedisLimits({
    url: `redis://127.0.0.1:${port}`,
    timeoutMs: 50,
    leaseMs: 30_000,
    log: silentLogger,
    metrics,
  });
  const limits = new UserLimits({
    maxSessionsPerUser: 1,
    framesPerMinute: 1,
    dailyBudgetUsd: 0,
    shared,
  });
  try {
    const started = performance.now();
    assert.equal(await limits.admitSession("ann", "s1", () => 0), true);
    assert.equal(await limits.admitSession("ann", "s2", () => 1), false, "the local count decides");
    assert.equal(await limits.takeFrame("ann"), 0);
    assert.equal(await limits.takeFrame("ann"), 60_000, "the local limiter decides");
    assert.ok(performance.now() - started < 200);
    assert.equal(shared.up, false);
    assert.equal(metrics.redisFallbacks.get({ op: "session" }), 2);
    assert.equal(metrics.redisFallbacks.get({ op: "frame" }), 2);
  } finally {
    await limits.close();
  }
});

Deno.test({
  name: "RedisLimits against a real Redis: GCRA waits from Redis time, leases, budget" +
    (skipRedisTest() ? " (skipped: redis-server is not installed)" : ""),
  ignore: skipRedisTest(),
  async fn() {
    const own = Deno.env.get("PROACTIVE_REDIS_URL") ? undefined : await RedisServer.start();
    const url = Deno.env.get("PROACTIVE_REDIS_URL") ?? own!.url;
    const metrics = new Metrics(() => 0);
    const shared = new RedisLimits({
      url,
      timeoutMs: 200,
      leaseMs: 30_000,
      log: silentLogger,
      metrics,
    });
    const user = `test-${crypto.randomUUID()}`;
    try {
      const deadline = Date.now() + 5_000;
      while ((await shared.acquireSession(user, "s1", 2)) === undefined) {
        if (Date.now() > deadline) throw new Error("no connection to Redis");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(await shared.acquireSession(user, "s1", 2), true, "the same session again");
      assert.equal(await shared.acquireSession(user, "s2", 2), true);
      assert.equal(await shared.acquireSession(user, "s3", 2), false);
      shared.releaseSession(user, "s1");
      assert.equal(await shared.acquireSession(user, "s3", 2), true);
      const day = "2026-12-03";
      const take = () => shared.takeFrame(user, { framesPerMinute: 6, dailyBudgetUsd: 1, day });
      for (let i = 0; i < 6; i++) assert.deepEqual(await take(), { kind: "ok" });
      const limited = await take();
      assert.ok(limited?.kind === "rate");
      assert.ok(limited.waitMs > 9_000 && limited.waitMs <= 10_000, `${limited.waitMs}`);
      shared.addCost(user, day, 0.6);
      shared.addCost(user, day, 0.4);
      const spentDeadline = Date.now() + 5_000;
      let verdict = await take();
      while (verdict?.kind !== "budget" && Date.now() < spentDeadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        verdict = await take();
      }
      assert.deepEqual(verdict, { kind: "budget" });
      assert.deepEqual(
        await shared.takeFrame(user, { framesPerMinute: 0, dailyBudgetUsd: 1, day: "2026-12-04" }),
        { kind: "ok" },
        "another day's budget",
      );
      assert.ok(metrics.redisDuration.count > 0);
    } finally {
      await shared.close();
      await own?.stop();
    }
  },
});

/** Shared limits whose every answer is a rejection (they are not meant to reject, ever). */
class RejectingLimits extends RedisLimits {
  override acquireSession(): Promise<boolean | undefined> {
    return Promise.reject(new Error("shared store failed"));
  }

  override takeFrame(): Promise<undefined> {
    return Promise.reject(new Error("shared store failed"));
  }
}

Deno.test("UserLimits: a rejection from the shared limits is decided by this process's own", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const shared = new RejectingLimits({
    url: `redis://127.0.0.1:${port}`,
    timeoutMs: 50,
    leaseMs: 30_000,
    log: silentLogger,
    metrics: new Metrics(() => 0),
  });
  const limits = new UserLimits({
    maxSessionsPerUser: 1,
    framesPerMinute: 1,
    dailyBudgetUsd: 0,
    shared,
    monotonic: () => 0,
  });
  try {
    assert.equal(await limits.admitSession("ann", "s1", () => 0), true);
    assert.equal(await limits.admitSession("ann", "s2", () => 1), false);
    assert.equal(await limits.takeFrame("ann"), 0);
    assert.equal(await limits.takeFrame("ann"), 60_000, "the local limiter decides");
  } finally {
    await limits.close();
  }
});
