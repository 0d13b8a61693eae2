/**
 * The per-user frame budget (`RATE_LIMIT_FRAMES_PER_MINUTE`): a token bucket per user,
 * shared by all of that user's sessions, so opening more sockets buys no more frames.
 *
 * A bucket holds up to one minute's budget and refills continuously. Buckets that have
 * refilled completely carry no information and are pruned, so memory follows the number
 * of recently active users, not every user ever seen.
 *
 * @module
 */

/** Options of {@link FrameRateLimiter}. */
export interface FrameRateLimiterOptions {
  /** Frames per user per minute; also the burst size. */
  perMinute: number;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** How many `take` calls between two pruning passes. */
const PRUNE_EVERY = 1024;

/** Per-user token buckets. */
export class FrameRateLimiter {
  #capacity: number;
  #perMs: number;
  #now: () => number;
  #buckets = new Map<string, Bucket>();
  #sincePrune = 0;

  constructor(options: FrameRateLimiterOptions) {
    this.#capacity = options.perMinute;
    this.#perMs = options.perMinute / 60_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Number of users currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Spends one frame of `userId`'s budget. Returns 0 when the frame may go ahead, else the
   * milliseconds until one frame's worth has refilled.
   */
  take(userId: string): number {
    const now = this.#now();
    if (++this.#sincePrune >= PRUNE_EVERY) this.#prune(now);
    const bucket = this.#buckets.get(userId) ?? { tokens: this.#capacity, at: now };
    const tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.at) * this.#perMs);
    if (tokens >= 1) {
      this.#buckets.set(userId, { tokens: tokens - 1, at: now });
      return 0;
    }
    this.#buckets.set(userId, { tokens, at: now });
    return Math.max(1, Math.ceil((1 - tokens) / this.#perMs));
  }

  #prune(now: number): void {
    this.#sincePrune = 0;
    for (const [user, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * this.#perMs >= this.#capacity) {
        this.#buckets.delete(user);
      }
    }
  }
}
