/**
 * The per-user limits shared through a real Redis (`REDIS_URL`): two `main.ts` processes
 * sharing one `redis-server` hold one session cap, one frame rate and one daily budget; a
 * killed process's sessions stop counting after their lease; Redis going away (stopped, or
 * slow) never holds a frame past `REDIS_TIMEOUT_MS`, and the limits are shared again once it
 * is back. Skipped when `redis-server` is not installed, unless `PROACTIVE_REQUIRE_REDIS` is set.
 */
import assert from "node:assert/strict";
import { FakeClient, rawUpgrade } from "../fakes/fake_client.ts";
import { FakeGemini, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { MainProcess } from "../fakes/main_process.ts";
import { RedisServer, skipRedisTest, TLS_CERT } from "../fakes/redis.ts";
import type { ServerMessage } from "../../src/protocol/messages.ts";

const ignore = skipRedisTest();
const name = (text: string) => ignore ? `${text} (skipped: redis-server is not installed)` : text;

/** Opens a session on `main` and says hello (v1.1, empty context). */
async function open(main: MainProcess): Promise<FakeClient> {
  const client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
  await client.hello({ protocol_version: "1.1", session_context: {} });
  return client;
}

let frameNumber = 0;

/** Sends one frame and returns its terminal message (outcome or server_error). */
async function frame(client: FakeClient): Promise<ServerMessage> {
  const n = ++frameNumber;
  client.send({ type: "frame_event", frame_number: n, app_name: "Mail", ocr_text: "hello" });
  for (;;) {
    const message = await client.next();
    if (message.type === "analysis_outcome" || message.type === "server_error") {
      assert.equal(message.frame_id, String(n));
      return message;
    }
  }
}

/** The value of an unlabelled metric (or one label set) on `main`'s `/metrics`. */
async function metric(main: MainProcess, series: string): Promise<number> {
  const text = await (await fetch(`http://${main.metricsHost}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Waits until `check` holds, polling, for at most `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Starts `main.ts` and waits until its Redis connection is up (its limits are shared). */
async function startShared(limits: Record<string, string>): Promise<MainProcess> {
  const main = await MainProcess.start(limits);
  try {
    await until(() => /redis connected/.test(main.output), 10_000, "the Redis connection");
  } catch (err) {
    await main[Symbol.asyncDispose]();
    throw err;
  }
  return main;
}

function env(redis: RedisServer, extra: Record<string, string> = {}): Record<string, string> {
  return { REDIS_URL: redis.url, REDIS_TIMEOUT_MS: "100", LOG_LEVEL: "info", ...extra };
}

Deno.test({
  name: name("shared limits: the per-user session cap holds across two processes"),
  ignore,
  async fn() {
    await using redis = await RedisServer.start({ password: "s3cret-pass" });
    const limits = env(redis, { MAX_SESSIONS_PER_USER: "2" });
    await using a = await startShared(limits);
    await using b = await startShared(limits);
    await using first = await open(a);
    await using second = await open(b);
    // Each process holds one session: alone, either would admit a second.
    for (const main of [a, b]) {
      const refused = await rawUpgrade(`ws://${main.host}/v1/proactive`);
      assert.equal(refused.status, 429);
      await refused.body?.cancel();
    }
    await first.close();
    await until(
      async () => (await redis.cli("ZCARD", "proactive:sessions:local-user")) === "1",
      5_000,
      "the lease to be released",
    );
    await using third = await open(b);
    assert.equal((await frame(third)).type, "analysis_outcome");
    assert.equal(
      await metric(a, 'proactive_connections_rejected_total{reason="max_sessions_per_user"}'),
      1,
    );
    // The password is never logged.
    assert.doesNotMatch(a.output + b.output, /s3cret-pass/);
    assert.match(a.output, /"redis":"redis:\/\/127\.0\.0\.1:\d+"/);
    void second;
  },
});

Deno.test({
  name: name("shared limits: the frame rate per user holds across two processes"),
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    const limits = env(redis, { RATE_LIMIT_FRAMES_PER_MINUTE: "3" });
    await using a = await startShared(limits);
    await using b = await startShared(limits);
    await using onA = await open(a);
    await using onB = await open(b);
    assert.equal((await frame(onA)).type, "analysis_outcome");
    assert.equal((await frame(onB)).type, "analysis_outcome");
    assert.equal((await frame(onA)).type, "analysis_outcome");
    // Three frames in all: the fourth is refused on either process.
    for (const client of [onB, onA]) {
      const limited = await frame(client);
      assert.equal(limited.type, "server_error");
      assert.ok(limited.type === "server_error");
      assert.equal(limited.code, "RATE_LIMITED");
      assert.equal(limited.message, "Too many frames: slow down and retry later");
      // One frame's worth refills in 20 s.
      assert.ok(limited.retry_after_ms! > 15_000 && limited.retry_after_ms! <= 20_000);
    }
    assert.equal(await metric(a, "proactive_redis_fallbacks_total"), 0);
  },
});

Deno.test({
  name: name("shared limits: the daily budget stops the user's frames on both processes"),
  ignore,
  async fn() {
    // Each answer costs 1000 input + 50 output tokens of flash: $0.000425.
    const answer = () =>
      functionCallAnswer("no_task_found", { context_summary: "s", current_activity: "a" });
    await using gemini = new FakeGemini([answer(), answer()]);
    await using redis = await RedisServer.start();
    const limits = env(redis, {
      GEMINI_API_KEY: "test-key",
      GEMINI_BASE_URL: gemini.baseUrl,
      USER_DAILY_BUDGET_USD: "0.0004",
    });
    await using a = await startShared(limits);
    await using b = await startShared(limits);
    await using onA = await open(a);
    await using onB = await open(b);
    const spent = await frame(onA);
    assert.equal(spent.type, "analysis_outcome");
    await until(
      async () => (await redis.cli("KEYS", "proactive:spend:*")) !== "",
      5_000,
      "the spend to reach Redis",
    );
    const before = gemini.requests.length;
    for (const client of [onB, onA]) {
      const limited = await frame(client);
      assert.ok(limited.type === "server_error", JSON.stringify(limited));
      assert.equal(limited.code, "RATE_LIMITED");
      assert.equal(limited.message, "Daily budget of $0.0004 reached; resets at 00:00 UTC");
      const midnight = new Date();
      midnight.setUTCHours(24, 0, 0, 0);
      const expected = midnight.getTime() - Date.now();
      assert.ok(Math.abs(limited.retry_after_ms! - expected) < 10_000, `${limited.retry_after_ms}`);
    }
    assert.equal(gemini.requests.length, before, "no model call for a user over budget");
    assert.equal(await metric(b, "proactive_frames_budget_limited_total"), 1);
  },
});

Deno.test({
  name: name("shared limits: a killed process's sessions stop counting after their lease"),
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    const limits = env(redis, { MAX_SESSIONS_PER_USER: "1", REDIS_SESSION_LEASE_SEC: "2" });
    await using a = await startShared(limits);
    await using b = await startShared(limits);
    await using onA = await open(a);
    // Renewed while A lives: still counted well past one lease.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const refused = await rawUpgrade(`ws://${b.host}/v1/proactive`);
    assert.equal(refused.status, 429);
    await refused.body?.cancel();
    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await a.child.status;
    await onA.closed;
    // Nobody released it: still counted right after the kill.
    const stillCounted = await rawUpgrade(`ws://${b.host}/v1/proactive`);
    assert.equal(stillCounted.status, 429);
    await stillCounted.body?.cancel();
    // No renewal any more: the lease runs out on its own and B admits the user.
    await until(
      async () => (await redis.cli("ZCARD", "proactive:sessions:local-user")) === "0",
      10_000,
      "the lease to expire",
    );
    await using admitted = await open(b);
    assert.equal((await frame(admitted)).type, "analysis_outcome");
    assert.ok(Date.now() - killedAt >= 1_000, "the lease outlived the process for a while");
  },
});

Deno.test({
  name: name(
    "shared limits: Redis stopped mid-run, frames flow under local limits; shared again once back",
  ),
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    const limits = env(redis, { RATE_LIMIT_FRAMES_PER_MINUTE: "2" });
    await using a = await startShared(limits);
    await using b = await startShared(limits);
    await using onA = await open(a);
    await using onB = await open(b);
    await redis.stop();
    // Each process now has its own two frames a minute, and no frame waits on Redis.
    for (const client of [onA, onA, onB]) {
      const started = performance.now();
      assert.equal((await frame(client)).type, "analysis_outcome");
      assert.ok(performance.now() - started < 1_000);
    }
    const local = await frame(onA);
    assert.ok(local.type === "server_error" && local.code === "RATE_LIMITED");
    assert.ok(await metric(a, 'proactive_redis_fallbacks_total{op="frame"}') >= 3);
    assert.match(a.output, /redis unavailable; limits are per process/);
    await redis.restart();
    await until(
      () => /redis is back/.test(a.output) && /redis is back/.test(b.output),
      10_000,
      "reconnection",
    );
    // Shared again (the restarted Redis is empty): two frames in all, across both.
    assert.equal((await frame(onB)).type, "analysis_outcome");
    assert.equal((await frame(onA)).type, "analysis_outcome");
    const shared = await frame(onB);
    assert.ok(shared.type === "server_error" && shared.code === "RATE_LIMITED");
    assert.equal(a.output.match(/redis unavailable/g)?.length, 1, "logged once per change");
    const ready = await fetch(`http://${a.host}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
  },
});

Deno.test({
  name: name("shared limits: a slow Redis (DEBUG SLEEP 1) never holds a frame past the timeout"),
  ignore,
  async fn() {
    await using redis = await RedisServer.start();
    await using a = await startShared(env(redis, { REDIS_TIMEOUT_MS: "50" }));
    await using client = await open(a);
    assert.equal((await frame(client)).type, "analysis_outcome");
    const sleeping = redis.cli("DEBUG", "SLEEP", "1");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    const answer = await frame(client);
    const ms = performance.now() - started;
    await sleeping;
    assert.equal(answer.type, "analysis_outcome");
    // Waiting on Redis would have taken the rest of its second of sleep (about 900 ms).
    assert.ok(ms < 600, `answered in ${Math.round(ms)} ms while Redis slept 1000 ms`);
    assert.ok(await metric(a, 'proactive_redis_errors_total{reason="timeout"}') >= 1);
    // And a new session is admitted in time too.
    const opened = performance.now();
    const sleepingAgain = redis.cli("DEBUG", "SLEEP", "2");
    await new Promise((resolve) => setTimeout(resolve, 100));
    await using second = await open(a);
    const openMs = performance.now() - opened;
    assert.ok(openMs < 1_200, `opened in ${Math.round(openMs)} ms while Redis slept 2000 ms`);
    await sleepingAgain;
    void second;
  },
});

Deno.test({
  name: name("shared limits over rediss:// with a password and REDIS_CA_CERT (Memorystore-like)"),
  ignore,
  async fn() {
    await using redis = await RedisServer.start({ password: "tls-s3cret", tls: true });
    const ca = await Deno.readTextFile(TLS_CERT);
    const limits = env(redis, { MAX_SESSIONS_PER_USER: "1", REDIS_CA_CERT: ca });
    assert.match(limits.REDIS_URL!, /^rediss:\/\//);
    await using a = await startShared(limits);
    await using b = await startShared(limits);
    await using onA = await open(a);
    assert.equal((await frame(onA)).type, "analysis_outcome");
    const refused = await rawUpgrade(`ws://${b.host}/v1/proactive`);
    assert.equal(refused.status, 429, "the cap is shared over TLS");
    await refused.body?.cancel();
    assert.equal(await metric(b, "proactive_redis_fallbacks_total"), 0);
    assert.doesNotMatch(a.output + b.output, /tls-s3cret/);
    // Without the CA the server's certificate is refused: per-process limits, never a crash.
    const { REDIS_CA_CERT: _, ...untrusted } = limits;
    await using c = await MainProcess.start(untrusted);
    await using onC = await open(c);
    assert.equal((await frame(onC)).type, "analysis_outcome");
    assert.match(c.output, /redis unavailable/);
  },
});
