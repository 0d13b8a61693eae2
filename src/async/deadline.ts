/**
 * A deadline as a signal that can be cleared. `AbortSignal.timeout()` cannot be cancelled:
 * each one keeps its timer and a few KB alive until it fires, up to 45 s after the frame it
 * guarded ended, which the benchmark saw as heap growth and longer GC pauses. A `Deadline`
 * is disposed (`using`) when its scope ends, clearing the timer and the listener on its
 * parent.
 *
 * @module
 */

/** A signal that aborts when `parent` does, or when `ms` have passed. */
export class Deadline implements Disposable {
  readonly #controller = new AbortController();
  readonly #parent: AbortSignal | undefined;
  readonly #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onParentAbort = () => this.#controller.abort(this.#parent?.reason);
  #expired = false;

  /** Starts the clock; a `parent` that is already aborted aborts this one at once. */
  constructor(ms: number, parent?: AbortSignal) {
    this.#parent = parent;
    if (parent?.aborted) {
      this.#controller.abort(parent.reason);
      return;
    }
    parent?.addEventListener("abort", this.#onParentAbort, { once: true });
    this.#timer = setTimeout(() => {
      this.#expired = true;
      this.#controller.abort(new DOMException("The deadline passed", "TimeoutError"));
    }, Math.max(0, ms));
  }

  /** Aborts at the deadline (reason: a `TimeoutError`) or with the parent's reason. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether this deadline's own clock ran out (as opposed to the parent aborting). */
  get expired(): boolean {
    return this.#expired;
  }

  [Symbol.dispose](): void {
    clearTimeout(this.#timer);
    this.#parent?.removeEventListener("abort", this.#onParentAbort);
  }
}
