/**
 * Reconnect delays: exponential backoff with full jitter (a uniformly random delay between 0
 * and the capped exponential), so a fleet of clients dropped together does not come back
 * together.
 *
 * @module
 */

/** How reconnects are paced. */
export interface ReconnectOptions {
  /** Cap of the first delay, ms. Default 500. */
  initialDelayMs?: number;
  /** Largest cap, ms. Default 30 000. */
  maxDelayMs?: number;
  /** Attempts after one drop before the client gives up. Default 8. */
  maxAttempts?: number;
}

/** The defaults of {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  maxAttempts: 8,
};

/**
 * The delay before reconnect attempt `attempt` (0 for the first):
 * `random() × min(maxDelayMs, initialDelayMs × 2^attempt)`, rounded down.
 */
export function backoffDelay(
  attempt: number,
  options: { initialDelayMs: number; maxDelayMs: number },
  random: () => number = Math.random,
): number {
  const cap = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt, 52));
  return Math.floor(Math.max(0, Math.min(1, random())) * cap);
}
