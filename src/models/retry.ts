/**
 * What the providers share about retrying a model call: the jittered backoff, the server's
 * `Retry-After` hint, a wait that never runs past the call's deadline, and finding the Deno
 * permission error behind a failure.
 *
 * @module
 */
import type { ModelError } from "../analysis/model.ts";

/** The retry settings every provider takes. */
export interface BackoffOptions {
  /** Retries after the first attempt (default 2). */
  maxRetries?: number;
  /** First backoff in ms (default 500); doubles per retry, with full jitter. */
  retryBaseMs?: number;
  /** Longest wait between attempts in ms (default 5 000). */
  retryMaxMs?: number;
  /** Randomness for jitter, `[0, 1)`; injectable for tests. */
  random?: () => number;
}

/** The wait before retry `attempt` (0-based): full jitter, half to all of the exponential step. */
export function backoffMs(attempt: number, options: BackoffOptions): number {
  const base = options.retryBaseMs ?? 500;
  const max = options.retryMaxMs ?? 5_000;
  const random = options.random ?? Math.random;
  const step = Math.min(max, base * 2 ** attempt);
  return Math.round(step / 2 + random() * step / 2);
}

/** `Retry-After` in ms, from seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The Deno permission error in `err` or its causes: `NotCapable` when a permission flag is
 * missing, `PermissionDenied` when the operating system refuses.
 */
export function permissionError(err: unknown): Error | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) return e;
  }
  return undefined;
}

/**
 * Waits `ms` before the next attempt. Gives up at once (throwing `error`) when the wait
 * would end past `deadline`; stops with the signal's reason when it aborts.
 */
export function sleepBeforeRetry(
  ms: number,
  signal: AbortSignal,
  deadline: number | undefined,
  error: ModelError,
): Promise<void> {
  if (deadline !== undefined && performance.now() + ms >= deadline) return Promise.reject(error);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
