/**
 * The per-user limits, in one place: sessions per user (`MAX_SESSIONS_PER_USER`), frames per
 * user per minute (`RATE_LIMIT_FRAMES_PER_MINUTE`) and the daily spend budget
 * (`USER_DAILY_BUDGET_USD`).
 *
 * Without `REDIS_URL` every limit is this process's own. With it the limits are shared by every
 * process using that Redis ({@link RedisLimits}); whenever Redis cannot answer within its
 * timeout the decision falls back to this process's own limiters (fail open), so no frame or
 * upgrade ever waits on Redis longer than `REDIS_TIMEOUT_MS`.
 *
 * @module
 */
import { FrameRateLimiter } from "./rate_limiter.ts";
import type { RedisLimits } from "./redis_limits.ts";

/**
 * A frame's admission: 0 when it may be analysed; else the milliseconds until it may, alone
 * (the default `RATE_LIMITED` message) or with the message saying why.
 */
export type FrameVerdict = number | { retryAfterMs: number; message: string };

/** The retry wait of a verdict (0: admitted). */
export function retryAfterOf(verdict: FrameVerdict): number {
  return typeof verdict === "number" ? verdict : verdict.retryAfterMs;
}

/** Milliseconds from `nowMs` (epoch) to the next midnight UTC; at least 1. */
export function msUntilUtcMidnight(nowMs: number): number {
  const next = new Date(nowMs);
  next.setUTCHours(24, 0, 0, 0);
  return Math.max(1, next.getTime() - nowMs);
}

/** The UTC day of `nowMs` (epoch), `YYYY-MM-DD`. */
export function utcDay(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 10);
}

/** `$X` for a budget in the RATE_LIMITED message: `$5`, `$2.50`, `$0.0004`. */
export function formatUsd(usd: number): string {
  if (Number.isInteger(usd)) return `$${usd}`;
  return Number.isInteger(Math.round(usd * 1e6) / 1e4) ? `$${usd.toFixed(2)}` : `$${usd}`;
}

/** The RATE_LIMITED message of a user over the daily budget. */
export function budgetMessage(budgetUsd: number): string {
  return `Daily budget of ${formatUsd(budgetUsd)} reached; resets at 00:00 UTC`;
}

/** Options of {@link DailyBudget}. */
export interface DailyBudgetOptions {
  /** US dollars per user per UTC day; must be above 0. */
  budgetUsd: number;
  /** Wall-clock epoch milliseconds; injectable for tests. */
  now?: () => number;
}

/**
 * What each user has spent today (UTC), in this process. Only today's totals are kept: the map
 * is emptied when the day changes, so memory follows the users active today.
 */
export class DailyBudget {
  readonly budgetUsd: number;
  #now: () => number;
  #day = "";
  #spent = new Map<string, number>();

  constructor(options: DailyBudgetOptions) {
    if (!(options.budgetUsd > 0)) throw new RangeError("budgetUsd must be above 0");
    this.budgetUsd = options.budgetUsd;
    this.#now = options.now ?? Date.now;
  }

  /** Users with a total today. */
  get size(): number {
    this.#today();
    return this.#spent.size;
  }

  /** What `userId` has spent today, US dollars. */
  spent(userId: string): number {
    this.#today();
    return this.#spent.get(userId) ?? 0;
  }

  /** Adds `usd` (ignored unless a positive finite amount) to `userId`'s total today. */
  add(userId: string, usd: number): void {
    if (!(usd > 0) || !Number.isFinite(usd)) return;
    this.#today();
    this.#spent.set(userId, (this.#spent.get(userId) ?? 0) + usd);
  }

  /** 0 while `userId` is under budget; else the milliseconds until the next midnight UTC. */
  check(userId: string): number {
    return this.spent(userId) >= this.budgetUsd ? msUntilUtcMidnight(this.#now()) : 0;
  }

  #today(): void {
    const day = utcDay(this.#now());
    if (day !== this.#day) {
      this.#day = day;
      this.#spent.clear();
    }
  }
}

/** Options of {@link UserLimits}. */
export interface UserLimitsOptions {
  /** Sessions per user. */
  maxSessionsPerUser: number;
  /** Frames per user per minute; 0 = unlimited. */
  framesPerMinute: number;
  /** US dollars per user per UTC day; 0 = off. */
  dailyBudgetUsd: number;
  /** Shared limits; absent = this process's only. */
  shared?: RedisLimits;
  /** Wall-clock epoch milliseconds (the UTC day); injectable for tests. */
  now?: () => number;
  /** Monotonic milliseconds for the local frame limiter; injectable for tests. */
  monotonic?: () => number;
}

/** The per-user limits of this process, shared through Redis when it has one. */
export class UserLimits {
  readonly maxSessionsPerUser: number;
  readonly framesPerMinute: number;
  readonly dailyBudgetUsd: number;
  readonly shared: RedisLimits | undefined;
  #frames: FrameRateLimiter | undefined;
  #budget: DailyBudget | undefined;
  #now: () => number;

  constructor(options: UserLimitsOptions) {
    this.maxSessionsPerUser = options.maxSessionsPerUser;
    this.framesPerMinute = options.framesPerMinute;
    this.dailyBudgetUsd = options.dailyBudgetUsd;
    this.shared = options.shared;
    this.#now = options.now ?? Date.now;
    if (options.framesPerMinute > 0) {
      this.#frames = new FrameRateLimiter({
        perMinute: options.framesPerMinute,
        ...(options.monotonic ? { now: options.monotonic } : {}),
      });
    }
    if (options.dailyBudgetUsd > 0) {
      this.#budget = new DailyBudget({ budgetUsd: options.dailyBudgetUsd, now: this.#now });
    }
  }

  /** Whether the frame check does anything at all. */
  get limitsFrames(): boolean {
    return this.#frames !== undefined || this.#budget !== undefined;
  }

  /**
   * Sessions admitted and not yet in the caller's local count: between the answer of
   * {@link admitSession} and the caller's {@link settled}. Concurrent upgrades of one user
   * are each answered after an await, so the count they were checked against must include
   * those admitted meanwhile.
   */
  readonly #admitting = new Map<string, number>();

  /**
   * Whether `userId` may open one more session, given `localCount()` open here (read when
   * the answer is decided, after any wait). With Redis the count is every process's
   * (leases); without it, or when Redis does not answer in time, this process's. An answer
   * of true must be followed by {@link settled} once the session is in the local count (or
   * was given up), and the session given to {@link sessionClosed} when it ends.
   */
  async admitSession(
    userId: string,
    sessionId: string,
    localCount: () => number,
  ): Promise<boolean> {
    if (this.shared) {
      const shared = await orUndefined(
        this.shared.acquireSession(userId, sessionId, this.maxSessionsPerUser),
      );
      if (shared !== undefined) {
        if (shared) this.#hold(userId);
        return shared;
      }
    }
    if (localCount() + (this.#admitting.get(userId) ?? 0) >= this.maxSessionsPerUser) return false;
    this.shared?.track(userId, sessionId);
    this.#hold(userId);
    return true;
  }

  /** A session admitted by {@link admitSession} is in the local count now, or was given up. */
  settled(userId: string): void {
    const n = (this.#admitting.get(userId) ?? 0) - 1;
    if (n > 0) this.#admitting.set(userId, n);
    else this.#admitting.delete(userId);
  }

  #hold(userId: string): void {
    this.#admitting.set(userId, (this.#admitting.get(userId) ?? 0) + 1);
  }

  /** A session admitted by {@link admitSession} has ended (or never opened). */
  sessionClosed(userId: string, sessionId: string): void {
    this.shared?.releaseSession(userId, sessionId);
  }

  /**
   * Spends one frame of `userId`'s allowance: the budget first (a user over it spends no
   * frame), then the rate. Synchronous without Redis; with it, a promise that settles within
   * `REDIS_TIMEOUT_MS` and never rejects.
   */
  takeFrame(userId: string): FrameVerdict | Promise<FrameVerdict> {
    if (!this.limitsFrames) return 0;
    if (this.shared) return this.#takeShared(this.shared, userId);
    return this.#takeLocal(userId);
  }

  /** Adds what a model call was billed to `userId`'s total for today. */
  addCost(userId: string, usd: number): void {
    if (!this.#budget || !(usd > 0) || !Number.isFinite(usd)) return;
    // Kept here too, so a fallback while Redis is away still knows this process's share.
    this.#budget.add(userId, usd);
    this.shared?.addCost(userId, utcDay(this.#now()), usd);
  }

  /** Stops the shared limits' background work and closes the Redis connection. */
  async close(): Promise<void> {
    await this.shared?.close();
  }

  #takeLocal(userId: string): FrameVerdict {
    const over = this.#budget?.check(userId) ?? 0;
    if (over > 0) return { retryAfterMs: over, message: budgetMessage(this.dailyBudgetUsd) };
    return this.#frames?.take(userId) ?? 0;
  }

  async #takeShared(shared: RedisLimits, userId: string): Promise<FrameVerdict> {
    const now = this.#now();
    const verdict = await orUndefined(shared.takeFrame(userId, {
      framesPerMinute: this.framesPerMinute,
      dailyBudgetUsd: this.dailyBudgetUsd,
      day: utcDay(now),
    }));
    if (verdict === undefined) return this.#takeLocal(userId);
    if (verdict.kind === "budget") {
      return { retryAfterMs: msUntilUtcMidnight(now), message: budgetMessage(this.dailyBudgetUsd) };
    }
    return verdict.kind === "rate" ? Math.max(1, verdict.waitMs) : 0;
  }
}

/**
 * The shared store's answer, or undefined (decide locally) if it rejected: it is not meant to,
 * but a frame or an upgrade must get its answer whatever goes wrong there.
 */
async function orUndefined<T>(answer: Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await answer;
  } catch {
    return undefined;
  }
}
