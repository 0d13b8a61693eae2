/**
 * {@link RedisLimits} when its Redis misbehaves: a connection gone silent, a connection down
 * when a session ends, a restart that lost the data, a reply of the wrong shape, and processes
 * with different lease lengths sharing one user's sessions. A {@link FakeRedis} (RESP over a
 * real socket) plays what a real server cannot be made to do on demand; a real `redis-server`
 * plays the rest (skipped when it is not installed, unless `PROACTIVE_REQUIRE_REDIS` is set).
 */
import assert from "node:assert/strict";
import { createLogger, type Logger, silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/server/metrics.ts";
import { MAX_TIMEOUTS_IN_A_ROW, RedisLimits } from "../../src/server/redis_limits.ts";
import { UserLimits } from "../../src/server/user_limits.ts";
import { Redis } from "ioredis";
import { FakeRedis, RedisServer, type Resp, skipRedisTest } from "../fakes/redis.ts";

const DAY = "2026-12-03";
const FRAME = { framesPerMinute: 60, dailyBudgetUsd: 0, day: DAY };
const USER = "user-0123456789abcdef";

/** A fake Redis whose scripts admit every session and every frame, and which removes all. */
function agreeable(frameReply: () => Resp = () => [0, 0]): (command: string[]) => Resp | undefined {
  return (command) => {
    const [name, , , key] = command;
    if (name === "EVAL" || name === "EVALSHA") {
      if (key?.startsWith("proactive:frames:")) return frameReply();
      if (key?.startsWith("proactive:sessions:")) return 1;
    }
    if (name === "ZREM") return 1;
    return undefined;
  };
}

function limitsOn(url: string, options: { log?: Logger; leaseMs?: number; metrics?: Metrics }) {
  return new RedisLimits({
    url,
    timeoutMs: 100,
    leaseMs: options.leaseMs ?? 120_000,
    log: options.log ?? silentLogger,
    metrics: options.metrics ?? new Metrics(() => 0),
  });
}

/** Polls `check` every 20 ms until it holds; throws after `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until `shared` has answered a frame from Redis (its connection is ready). */
async function connected(shared: RedisLimits): Promise<void> {
  await until(
    "the Redis connection",
    async () => (await shared.takeFrame(USER, FRAME)) !== undefined,
  );
}

Deno.test("RedisLimits: a connection gone silent is dropped after a few timeouts and made again", async () => {
  await using fake = new FakeRedis(agreeable());
  const metrics = new Metrics(() => 0);
  const shared = limitsOn(fake.url, { metrics });
  try {
    await connected(shared);
    const before = fake.connections;
    fake.mode = "silent";
    for (let i = 0; i < MAX_TIMEOUTS_IN_A_ROW; i++) {
      assert.equal(await shared.takeFrame(USER, FRAME), undefined, "timed out: local limits");
    }
    await fake.waitFor("a new connection", () => fake.connections > before);
    // While the new connection cannot get ready, calls fall back without waiting on Redis.
    const unavailable = metrics.redisErrors.get({ reason: "unavailable" });
    assert.equal(await shared.takeFrame(USER, FRAME), undefined);
    assert.equal(metrics.redisErrors.get({ reason: "unavailable" }), unavailable + 1);
    fake.mode = "answer";
    await connected(shared);
    assert.equal(shared.up, true);
  } finally {
    await shared.close();
  }
});

Deno.test("RedisLimits: one slow command does not drop a connection that answers", async () => {
  let slow = true;
  await using fake = new FakeRedis(agreeable());
  const shared = limitsOn(fake.url, {});
  try {
    await connected(shared);
    const before = fake.connections;
    for (let i = 0; i < 3 * MAX_TIMEOUTS_IN_A_ROW; i++) {
      // Every other command times out: never MAX_TIMEOUTS_IN_A_ROW in a row.
      fake.mode = slow ? "silent" : "answer";
      slow = !slow;
      await shared.takeFrame(USER, FRAME);
    }
    assert.equal(fake.connections, before);
  } finally {
    await shared.close();
  }
});

Deno.test("RedisLimits: a session released while Redis is away is removed once it is back", async () => {
  await using fake = new FakeRedis(agreeable());
  const shared = limitsOn(fake.url, {});
  try {
    await connected(shared);
    assert.equal(await shared.acquireSession(USER, "s1", 2), true);
    fake.mode = "refuse";
    await until(
      "the connection to be down",
      async () => (await shared.takeFrame(USER, FRAME)) === undefined,
    );
    // Released twice (the same session): kept once, for later.
    shared.releaseSession(USER, "s1");
    shared.releaseSession(USER, "s1");
    fake.mode = "answer";
    await fake.waitFor("the release", () => fake.received("ZREM").some((c) => c[2] === "s1"));
    await until("the queue to empty", () => shared.pendingReleases === 0);
    assert.equal(fake.received("ZREM").length, 1, "sent once");
  } finally {
    await shared.close();
  }
});

Deno.test("RedisLimits: a malformed takeFrame reply falls back to the local limits, logged once", async () => {
  const malformed: Resp[] = [5, "ok", null, [], [1], [0, 0, 0], [1, "x"], ["0", "0"], [7, 0], [
    1,
    -5,
  ], [[0], 0]];
  let next = 0;
  await using fake = new FakeRedis(agreeable(() => next < 0 ? [0, 0] : malformed[next]!));
  const lines: string[] = [];
  const log = createLogger({ level: "warn", sink: (line) => lines.push(line) });
  const metrics = new Metrics(() => 0);
  const shared = limitsOn(fake.url, { log, metrics });
  const limits = new UserLimits({
    maxSessionsPerUser: 2,
    framesPerMinute: 1,
    dailyBudgetUsd: 0,
    shared,
    monotonic: () => 0,
  });
  try {
    next = -1;
    await connected(shared);
    // Counted from here: the wait for the connection may have fallen back too.
    const fallbacks = metrics.redisFallbacks.get({ op: "frame" });
    for (next = 0; next < malformed.length; next++) {
      const what = JSON.stringify(malformed[next]);
      assert.equal(await shared.takeFrame(USER, FRAME), undefined, what);
    }
    assert.equal(metrics.redisErrors.get({ reason: "malformed" }), malformed.length);
    assert.equal(metrics.redisFallbacks.get({ op: "frame" }) - fallbacks, malformed.length);
    // Through UserLimits: this process's own limiter (one frame a minute) decides.
    next = 0;
    assert.equal(await limits.takeFrame(USER), 0);
    assert.equal(await limits.takeFrame(USER), 60_000);
    const warnings = lines.filter((line) => /malformed/.test(line));
    assert.equal(warnings.length, 1, "logged once while the replies stay malformed");
    assert.doesNotMatch(lines.join("\n"), /user-0123456789/, "no user id in the log");
  } finally {
    await limits.close();
  }
});

Deno.test("RedisLimits: a malformed acquireSession reply leaves the decision to the local count", async () => {
  await using fake = new FakeRedis((command) =>
    command[3]?.startsWith("proactive:sessions:") ? "yes" : agreeable()(command)
  );
  const shared = limitsOn(fake.url, {});
  const limits = new UserLimits({
    maxSessionsPerUser: 1,
    framesPerMinute: 0,
    dailyBudgetUsd: 0,
    shared,
  });
  try {
    await connected(shared);
    assert.equal(await shared.acquireSession(USER, "s1", 1), undefined);
    assert.equal(await limits.admitSession(USER, "s1", () => 0), true);
    assert.equal(await limits.admitSession(USER, "s2", () => 1), false);
  } finally {
    await limits.close();
  }
});

const ignore = skipRedisTest();
const withRedis = (text: string) =>
  ignore ? `${text} (skipped: redis-server is not installed)` : text;

Deno.test({
  name: withRedis(
    "RedisLimits: after a restart of Redis that lost its data, live leases count again at once",
  ),
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    // Renewed every 40 s: the test is over long before a periodic renewal could run.
    const shared = limitsOn(redis.url, { leaseMs: 120_000 });
    const key = `proactive:sessions:${USER}`;
    try {
      await connected(shared);
      assert.equal(await shared.acquireSession(USER, "s1", 2), true);
      await redis.stop();
      await redis.restart();
      assert.equal(await redis.cli("ZCARD", key), "0", "the restart lost the lease");
      await until(
        "the lease to be registered again",
        async () => (await redis.cli("ZCARD", key)) === "1",
      );
    } finally {
      await shared.close();
    }
  },
});

Deno.test({
  name: withRedis("RedisLimits: a process with a short lease never cuts another's longer lease"),
  ignore,
  async fn() {
    const own = Deno.env.get("PROACTIVE_REDIS_URL") ? undefined : await RedisServer.start();
    const url = Deno.env.get("PROACTIVE_REDIS_URL") ?? own!.url;
    const user = `test-${crypto.randomUUID()}`;
    const key = `proactive:sessions:${user}`;
    const long = limitsOn(url, { leaseMs: 120_000 });
    // Renewed every 333 ms.
    const short = limitsOn(url, { leaseMs: 1_000 });
    const probe = new Redis(url, { maxRetriesPerRequest: 1 });
    const pttl = () => probe.pttl(key);
    try {
      await Promise.all([connected(long), connected(short)]);
      assert.equal(await long.acquireSession(user, "long-1", 5), true);
      assert.equal(await short.acquireSession(user, "short-1", 5), true);
      let ms = await pttl();
      assert.ok(ms > 60_000, `after the short lease's acquire: ${ms} ms`);
      const first = await probe.zscore(key, "short-1");
      await until(
        "the short lease's renewal",
        async () => (await probe.zscore(key, "short-1")) !== first,
      );
      ms = await pttl();
      assert.ok(ms > 60_000, `after the short lease's renewal: ${ms} ms`);
    } finally {
      await probe.del(key);
      await Promise.all([long.close(), short.close(), probe.quit()]);
      await own?.stop();
    }
  },
});
