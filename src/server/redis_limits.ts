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
 * ioredis reconnects by itself.
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
redis.call('PEXPIRE', KEYS[1], lease)
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
redis.call('PEXPIRE', KEYS[1], lease)
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

/** Users whose leases are renewed in one pipeline. */
const RENEW_BATCH = 256;

/** Two days, so a day's total outlives the day in every time zone's view of it. */
const SPEND_TTL_SEC = 2 * 86_400;

interface LimitCommands {
  acquireSession(key: string, sessionId: string, leaseMs: number, max: number): Promise<number>;
  renewSessions(key: string, leaseMs: number, ...sessionIds: string[]): Promise<number>;
  takeFrame(
    framesKey: string,
    spendKey: string,
    perMinute: number,
    budgetUsd: number,
  ): Promise<[number, number]>;
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
    redis.on("ready", () => this.#setUp(true, "connected"));
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
    if (admitted === 1) this.track(userId, sessionId);
    return admitted === 1;
  }

  /** Keeps renewing `sessionId`'s lease (a session admitted without Redis, too). */
  track(userId: string, sessionId: string): void {
    let sessions = this.#live.get(userId);
    if (!sessions) this.#live.set(userId, sessions = new Set());
    sessions.add(sessionId);
  }

  /** Ends `sessionId`'s lease: no longer renewed, and removed from Redis (in the background). */
  releaseSession(userId: string, sessionId: string): void {
    const sessions = this.#live.get(userId);
    sessions?.delete(sessionId);
    if (sessions?.size === 0) this.#live.delete(userId);
    if (this.#closed) return;
    void this.#call("release", (r) => r.zrem(sessionsKey(userId), sessionId), false);
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
    if (!reply) return undefined;
    const [code, wait] = reply;
    if (code === 2) return { kind: "budget" };
    if (code === 1) return { kind: "rate", waitMs: Number(wait) };
    return { kind: "ok" };
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

  async #renew(): Promise<void> {
    if (this.#renewing || this.#closed || this.#live.size === 0) return;
    if (this.#redis.status !== "ready") return;
    this.#renewing = true;
    try {
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
    } finally {
      this.#renewing = false;
    }
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
      this.#setUp(true, "answered");
      return result;
    } catch (err) {
      this.#metrics.redisDuration.observe((performance.now() - started) / 1000);
      const timedOut = err instanceof RedisTimeout ||
        (err instanceof Error && /timed? ?out/i.test(err.message));
      this.#failed(op, timedOut ? "timeout" : "error", fallback);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
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
