/**
 * Settles with `promise`, or rejects with the signal's reason as soon as `signal` aborts, so
 * a callee that ignores its signal still cannot hold us past a deadline.
 *
 * @module
 */

/** Races `promise` against `signal`; a late rejection of `promise` is swallowed. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
