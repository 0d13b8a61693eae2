/**
 * The per-user limits shared by every process using one Redis (`REDIS_URL`): sessions per user
 * as leases, frames per user per minute as a GCRA on the Redis server's clock, and each user's
 * spend per UTC day.
 *
 * One connection per process. Every command is bounded by `REDIS_TIMEOUT_MS` (ioredis'
 * `commandTimeout` and our own timer, whichever fires first); commands are never queued while
 * the connection is down. A call that fails or times out returns `undefined` and the caller
 * decides with this process's own limiters (fail open); `proactive_redis_fallbacks_total`
 * counts those decisions and the log says once when Redis went away and once when it is back.
 * ioredis reconnects by itself after a lost connection; a connection that stays open but goes
 * silent (a frozen server, a half-open TCP peer) is dropped after {@link MAX_TIMEOUTS_IN_A_ROW}
 * timeouts in a row and made again, with the same backoff. TCP keepalive is on too (Deno does not
 * let us set its delay, so the system's applies).
 *
 * Work that must not be lost while the connection is down is done once it is ready again: the
 * releases of ended sessions (queued, bounded) and the renewal of this process's live leases
 * (which re-registers them after a restart of Redis that lost its data).
 *
 * Keys (all under `proactive:`): `sessions:<uid>` (sorted set of session ids scored by lease
 * expiry, Redis time in ms), `frames:<uid>` (the GCRA's theoretical arrival time),
 * `spend:<YYYY-MM-DD>:<uid>` (US dollars, expires two days later).
 *
 * @module
 */
import { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import type { Metrics } from "./metrics.ts";

/**
 * Lua (after `now` is set): the sessions key expires with its longest lease, never sooner. Each
 * process has its own lease length (`REDIS_SESSION_LEASE_SEC`), so expiring the key after the
 * caller's lease would drop another process's longer leases with it.
 */
const EXPIRE_AFTER_LAST_LEASE = `
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
if last then redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(last) - now))) end`;

/**
 * Admits a session if the user holds fewer than ARGV[3] live leases. Expired leases are
 * dropped first, so a crashed process's sessions stop counting on their own.
 * KEYS[1] sessions key; ARGV: session id, lease ms, max. Returns 1 (admitted) or 0.
 */
const ACQUIRE_SESSION = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and
    redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
${EXPIRE_AFTER_LAST_LEASE}
return 1
`;

/**
 * Renews the leases of a user's live sessions (adding those admitted while Redis was away).
 * KEYS[1] sessions key; ARGV: lease ms, then session ids.
 */
const RENEW_SESSIONS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + lease, ARGV[i]) end
${EXPIRE_AFTER_LAST_LEASE}
return #ARGV - 1
`;

/**
 * One frame: the day's spend against the budget first (a user over it spends no frame), then a
 * GCRA with a burst of a minute's allowance. KEYS[1] frames key, KEYS[2] spend key; ARGV:
 * frames per minute (0 = no rate limit), budget USD (0 = none). Returns {0, 0} admitted,
 * {1, wait ms} rate limited, {2, 0} over budget.
 */
const TAKE_FRAME = `
local perMinute = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
if budget > 0 then
  local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
  if spent >= budget then return {2, 0} end
end
if perMinute <= 0 then return {0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = 60000 / perMinute
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowAt = tat + interval - perMinute * interval
if allowAt > now then return {1, math.ceil(allowAt - now)} end
local nextTat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', nextTat), 'PX', math.ceil(nextTat - now) + 1)
return {0, 0}
`;

/** Users whose leases are renewed (or sessions released) in one pipeline. */
const RENEW_BATCH = 256;

/**
 * Commands timed out in a row (no answer in between) after which the connection is taken for
 * dead and made again: one slow command is not enough, a frozen server is found in a few.
 */
export const MAX_TIMEOUTS_IN_A_ROW = 3;

/**
 * Releases kept while Redis is away, at most; past that a release is dropped and its lease
 * runs out on its own (the memory of a long outage stays bounded).
 */
const MAX_PENDING_RELEASES = 10_000;

/** TCP keepalive's first probe after this much silence, where the runtime lets us set it. */
const KEEPALIVE_DELAY_MS = 10_000;

/** Two days, so a day's total outlives the day in every time zone's view of it. */
const SPEND_TTL_SEC = 2 * 86_400;

interface LimitCommands {
  acquireSession(key: string, sessionId: string, leaseMs: number, max: number): Promise<unknown>;
  renewSessions(key: string, leaseMs: number, ...sessionIds: string[]): Promise<number>;
  takeFrame(
    framesKey: string,
    spendKey: string,
    perMinute: number,
    budgetUsd: number,
  ): Promise<unknown>;
}

type LimitRedis = Redis & LimitCommands;

/** A frame's shared verdict. */
export type SharedFrameVerdict =
  | { kind: "ok" }
  | { kind: "rate"; waitMs: number }
  | { kind: "budget" };

/** Options of {@link RedisLimits}. */
export interface RedisLimitsOptions {
  /** `redis://` or `rediss://`, with the password if any; never logged. */
  url: string;
  /** PEM CA certificate(s) for a `rediss://` server (Memorystore's server CA); unset: system. */
  caCert?: string;
  /** The bound on every command, ms. */
  timeoutMs: number;
  /** How long a session's lease lasts without renewal, ms; renewed every third of it. */
  leaseMs: number;
  log: Logger;
  metrics: Metrics;
}

class RedisTimeout extends Error {
  override name = "RedisTimeout";
}

/** Redis address for logs: host and port, never the user or password. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return "(invalid URL)";
  }
}

/** The per-user limits shared through Redis; see the module documentation. */
export class RedisLimits {
  #redis: LimitRedis;
  #timeoutMs: number;
  #leaseMs: number;
  #log: Logger;
  #metrics: Metrics;
  /** Live sessions of this process, by user, for lease renewal. */
  #live = new Map<string, Set<string>>();
  #renewTimer: ReturnType<typeof setInterval>;
  /** Whether the last command succeeded; undefined before the first. */
  #up: boolean | undefined;
  #closed = false;
  /** The kind of the last connection error (a code such as ECONNREFUSED), for the down log. */
  #lastError: string | undefined;
  /** Set while a renewal runs, so a slow one is never overlapped by the next. */
  #renewing = false;
  /** A renewal was asked for while one ran (e.g. on reconnection): run again after it. */
  #renewAgain = false;
  /** Commands timed out since the last answer; see {@link MAX_TIMEOUTS_IN_A_ROW}. */
  #timeoutsInARow = 0;
  /** Releases not yet done in Redis (it was away), by user; sent once it is ready. */
  #pendingReleases = new Map<string, Set<string>>();
  #pendingReleaseCount = 0;
  /** Whether a malformed reply was logged since the last well-formed one (logged once). */
  #malformedLogged = false;

  constructor(options: RedisLimitsOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#leaseMs = options.leaseMs;
    this.#log = options.log;
    this.#metrics = options.metrics;
    const redis = new Redis(options.url, {
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(1_000, options.timeoutMs),
      // Fail at once while disconnected instead of queueing: the caller falls back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 2_000),
      // A reply error (e.g. READONLY) is the command's failure, not a reason to reconnect; a
      // lost connection is retried by retryStrategy, forever, while the limits fall back.
      reconnectOnError: () => false,
      // A command that timed out was decided locally already: never replay it on the next
      // connection (a frame would be counted twice).
      autoResendUnfulfilledCommands: false,
      // Keepalive probes end a connection whose peer vanished even when nothing is sent.
      keepAlive: KEEPALIVE_DELAY_MS,
      lazyConnect: false,
      ...(options.caCert && options.url.toLowerCase().startsWith("rediss:")
        ? { tls: { ca: [options.caCert] } }
        : {}),
    });
    redis.defineCommand("acquireSession", { numberOfKeys: 1, lua: ACQUIRE_SESSION });
    redis.defineCommand("renewSessions", { numberOfKeys: 1, lua: RENEW_SESSIONS });
    redis.defineCommand("takeFrame", { numberOfKeys: 2, lua: TAKE_FRAME });
    // Connection errors are counted, never logged one by one (they would flood the log while
    // Redis is away, and some name the address); the state changes are logged instead.
    redis.on("error", (err: unknown) => {
      this.#metrics.redisErrors.inc({ reason: "connection" });
      this.#lastError = errorKind(err);
    });
    redis.on("ready", () => this.#onReady());
    this.#redis = redis as LimitRedis;
    this.#log.info("redis limits", {
      redis: redactRedisUrl(options.url),
      timeout_ms: options.timeoutMs,
      lease_ms: options.leaseMs,
    });
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(100, options.leaseMs / 3));
  }

  /** Whether the last Redis command answered in time (undefined before the first). */
  get up(): boolean | undefined {
    return this.#up;
  }

  /**
   * Takes a lease for `sessionId` if `userId` holds fewer than `max` live ones across every
   * process: true (admitted; renewed until {@link releaseSession}), false (refused), or
   * undefined when Redis did not answer in time.
   */
  async acquireSession(
    userId: string,
    sessionId: string,
    max: number,
  ): Promise<boolean | undefined> {
    const admitted = await this.#call(
      "session",
      (r) => r.acquireSession(sessionsKey(userId), sessionId, this.#leaseMs, max),
    );
    if (admitted === undefined) return undefined;
    if (admitted !== 0 && admitted !== 1) return this.#malformed("session");
    if (admitted === 1) this.track(userId, sessionId);
    return admitted === 1;
  }

  /** Keeps renewing `sessionId`'s lease (a session admitted without Redis, too). */
  track(userId: string, sessionId: string): void {
    let sessions = this.#live.get(userId);
    if (!sessions) this.#live.set(userId, sessions = new Set());
    sessions.add(sessionId);
    this.#unqueueRelease(userId, sessionId);
  }

  /**
   * Ends `sessionId`'s lease: no longer renewed, and removed from Redis in the background, at
   * once or, while Redis is away (or the removal fails), once the connection is ready again.
   */
  releaseSession(userId: string, sessionId: string): void {
    const sessions = this.#live.get(userId);
    sessions?.delete(sessionId);
    if (sessions?.size === 0) this.#live.delete(userId);
    if (this.#closed) return;
    if (this.#redis.status !== "ready") {
      this.#queueRelease(userId, sessionId);
      return;
    }
    void this.#call("release", (r) => r.zrem(sessionsKey(userId), sessionId), false).then(
      (removed) => {
        if (removed === undefined) this.#queueRelease(userId, sessionId);
      },
    );
  }

  /** Releases waiting for the connection (for tests and metrics). */
  get pendingReleases(): number {
    return this.#pendingReleaseCount;
  }

  /** One frame of `userId`: the shared verdict, or undefined when Redis did not answer. */
  async takeFrame(
    userId: string,
    limits: { framesPerMinute: number; dailyBudgetUsd: number; day: string },
  ): Promise<SharedFrameVerdict | undefined> {
    const reply = await this.#call("frame", (r) =>
      r.takeFrame(
        framesKey(userId),
        spendKey(limits.day, userId),
        limits.framesPerMinute,
        limits.dailyBudgetUsd,
      ));
    if (reply === undefined) return undefined;
    const verdict = frameVerdictOf(reply);
    if (!verdict) return this.#malformed("frame");
    this.#malformedLogged = false;
    return verdict;
  }

  /** Adds `usd` to `userId`'s spend on `day` (in the background; lost if Redis is away). */
  addCost(userId: string, day: string, usd: number): void {
    if (this.#closed) return;
    const key = spendKey(day, userId);
    void this.#call(
      "spend",
      (r) => r.multi().incrbyfloat(key, usd).expire(key, SPEND_TTL_SEC).exec(),
      false,
    );
  }

  /** Stops renewing and closes the connection (pending commands get their replies first). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewTimer);
    const redis = this.#redis;
    if (redis.status === "ready") {
      const done = new Promise<void>((resolve) => redis.once("end", () => resolve()));
      const timer = setTimeout(() => redis.disconnect(), Math.max(500, this.#timeoutMs));
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
      await done;
      clearTimeout(timer);
    } else {
      redis.disconnect();
    }
  }

  /**
   * The connection is ready (first, or again): what waited for it is done at once. After a
   * restart of Redis that lost its data the live sessions of this process count again now,
   * not at the next periodic renewal.
   */
  #onReady(): void {
    this.#timeoutsInARow = 0;
    this.#setUp(true, "connected");
    void this.#renew();
  }

  /** The periodic (and on-ready) work: pending releases first, then the live leases. */
  async #renew(): Promise<void> {
    if (this.#closed) return;
    if (this.#renewing) {
      this.#renewAgain = true;
      return;
    }
    this.#renewing = true;
    try {
      do {
        this.#renewAgain = false;
        if (this.#redis.status !== "ready") return;
        await this.#flushReleases();
        await this.#renewLeases();
      } while (this.#renewAgain && !this.#closed);
    } finally {
      this.#renewing = false;
    }
  }

  async #renewLeases(): Promise<void> {
    // In pipelines of a few hundred users, so each one answers well within the timeout.
    const users = [...this.#live];
    for (let i = 0; i < users.length && !this.#closed; i += RENEW_BATCH) {
      await this.#call("renew", (r) => {
        const pipeline = r.pipeline();
        for (const [userId, sessions] of users.slice(i, i + RENEW_BATCH)) {
          (pipeline as unknown as LimitCommands).renewSessions(
            sessionsKey(userId),
            this.#leaseMs,
            ...sessions,
          );
        }
        return pipeline.exec();
      }, false);
    }
  }

  /** Sends the queued releases; a batch that fails is queued again for the next try. */
  async #flushReleases(): Promise<void> {
    if (this.#pendingReleaseCount === 0) return;
    const releases: [string, string][] = [];
    for (const [userId, sessions] of this.#pendingReleases) {
      for (const sessionId of sessions) releases.push([userId, sessionId]);
    }
    this.#pendingReleases.clear();
    this.#pendingReleaseCount = 0;
    for (let i = 0; i < releases.length; i += RENEW_BATCH) {
      const batch = releases.slice(i, i + RENEW_BATCH);
      const done = this.#closed ? undefined : await this.#call("release", (r) => {
        const pipeline = r.pipeline();
        for (const [userId, sessionId] of batch) pipeline.zrem(sessionsKey(userId), sessionId);
        return pipeline.exec();
      }, false);
      if (done === undefined) {
        for (const [userId, sessionId] of batch) this.#queueRelease(userId, sessionId);
      }
    }
  }

  /** Keeps a release for when the connection is ready (once per session; bounded). */
  #queueRelease(userId: string, sessionId: string): void {
    if (this.#closed || this.#live.get(userId)?.has(sessionId)) return;
    let sessions = this.#pendingReleases.get(userId);
    if (sessions?.has(sessionId)) return;
    if (this.#pendingReleaseCount >= MAX_PENDING_RELEASES) return;
    if (!sessions) this.#pendingReleases.set(userId, sessions = new Set());
    sessions.add(sessionId);
    this.#pendingReleaseCount++;
  }

  #unqueueRelease(userId: string, sessionId: string): void {
    const sessions = this.#pendingReleases.get(userId);
    if (!sessions?.delete(sessionId)) return;
    this.#pendingReleaseCount--;
    if (sessions.size === 0) this.#pendingReleases.delete(userId);
  }

  /**
   * Runs one command (or pipeline) bounded by the timeout. Undefined when it failed, timed out
   * or the connection is down; `fallback` says whether a decision falls back because of it.
   */
  async #call<T>(
    op: string,
    run: (redis: LimitRedis) => Promise<T>,
    fallback = true,
  ): Promise<T | undefined> {
    if (this.#closed) return undefined;
    if (this.#redis.status !== "ready") {
      this.#failed(op, "unavailable", fallback);
      return undefined;
    }
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const pending = run(this.#redis);
      // Whatever happens after the race, the command's own rejection is handled.
      pending.catch(() => {});
      const result = await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new RedisTimeout()), this.#timeoutMs);
        }),
      ]);
      this.#metrics.redisDuration.observe((performance.now() - started) / 1000);
      this.#timeoutsInARow = 0;
      this.#setUp(true, "answered");
      return result;
    } catch (err) {
      this.#metrics.redisDuration.observe((performance.now() - started) / 1000);
      const timedOut = err instanceof RedisTimeout ||
        (err instanceof Error && /timed? ?out/i.test(err.message));
      this.#failed(op, timedOut ? "timeout" : "error", fallback);
      if (timedOut) this.#timedOut();
      // A reply error is an answer: the connection is alive.
      else this.#timeoutsInARow = 0;
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One more command without an answer in time. A connection that answers nothing for
   * {@link MAX_TIMEOUTS_IN_A_ROW} commands is taken for dead (a frozen server or a half-open
   * TCP peer keeps it open forever): it is destroyed, and ioredis connects again with its
   * backoff. Meanwhile the status is not ready, so every call falls back at once.
   */
  #timedOut(): void {
    if (++this.#timeoutsInARow < MAX_TIMEOUTS_IN_A_ROW) return;
    this.#timeoutsInARow = 0;
    if (this.#closed || this.#redis.status !== "ready") return;
    this.#log.warn("redis connection silent; connecting again", {
      timeouts: MAX_TIMEOUTS_IN_A_ROW,
    });
    // destroy, not disconnect(true): a graceful end waits for a peer that will never answer.
    this.#redis.stream?.destroy();
  }

  /** A reply of the wrong shape: the decision falls back as if Redis had not answered. */
  #malformed(op: string): undefined {
    this.#metrics.redisErrors.inc({ reason: "malformed" });
    this.#metrics.redisFallbacks.inc({ op });
    if (!this.#malformedLogged) {
      this.#malformedLogged = true;
      this.#log.warn("redis reply malformed; this process's own limits decide", { op });
    }
    return undefined;
  }

  #failed(op: string, reason: "timeout" | "error" | "unavailable", fallback: boolean): void {
    this.#metrics.redisErrors.inc({ reason });
    if (fallback) this.#metrics.redisFallbacks.inc({ op });
    this.#setUp(false, reason);
  }

  #setUp(up: boolean, reason: string): void {
    if (this.#up === up) return;
    const was = this.#up;
    this.#up = up;
    if (!up) {
      this.#log.warn("redis unavailable; limits are per process until it is back", {
        reason,
        ...(this.#lastError ? { error: this.#lastError } : {}),
      });
    } else if (was === false) this.#log.info("redis is back; limits are shared again");
    else this.#log.info("redis connected; limits are shared");
  }
}

/** The shared verdict of a `takeFrame` reply, or undefined when it is not `{code, wait ms}`. */
function frameVerdictOf(reply: unknown): SharedFrameVerdict | undefined {
  if (!Array.isArray(reply) || reply.length !== 2) return undefined;
  const [code, wait] = reply as unknown[];
  if (!Number.isSafeInteger(code) || !Number.isSafeInteger(wait) || (wait as number) < 0) {
    return undefined;
  }
  if (code === 0) return { kind: "ok" };
  if (code === 1) return { kind: "rate", waitMs: wait as number };
  if (code === 2) return { kind: "budget" };
  return undefined;
}

/** A connection error's code (ECONNREFUSED, ...) or class name; never its message. */
function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
  return err instanceof Error ? err.name : "Error";
}

function sessionsKey(userId: string): string {
  return `proactive:sessions:${userId}`;
}

function framesKey(userId: string): string {
  return `proactive:frames:${userId}`;
}

function spendKey(day: string, userId: string): string {
  return `proactive:spend:${day}:${userId}`;
}
