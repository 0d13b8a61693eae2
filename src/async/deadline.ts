/**
 * A deadline as a signal that can be cleared. `AbortSignal.timeout()` cannot be cancelled:
 * each one keeps its timer and a few KB alive until it fires, up to 45 s after the frame it
 * guarded ended, which the benchmark saw as heap growth and longer GC pauses. A `Deadline`
 * is disposed (`using`) when its scope ends, which takes it off the clock and removes the
 * listener on its parent.
 *
 * The clock is one timer for the whole process, not one per deadline: a frame makes two or
 * three deadlines and almost always disposes of them long before they are due, and setting
 * and clearing a timer each time cost more than the rest of a deadline. Deadlines are kept by
 * the {@link GRANULE_MS} slot they fall due in; the timer is set for the earliest slot and is
 * cleared as soon as no deadline is left, so an idle process holds no timer.
 *
 * @module
 */

/** Resolution of the clock: a deadline fires at most this much after it is due. */
export const GRANULE_MS = 4;

/** Deadlines by the slot they fall due in, and the one timer that serves them all. */
class Clock {
  readonly #slots = new Map<number, Set<Deadline>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The slot the timer is set for; `Infinity` when none is set. */
  #armed = Infinity;

  /** Puts `deadline` on the clock, due `ms` from now; returns its slot. */
  add(deadline: Deadline, ms: number): number {
    const slot = Math.ceil((performance.now() + Math.max(0, ms)) / GRANULE_MS);
    let due = this.#slots.get(slot);
    if (!due) this.#slots.set(slot, due = new Set());
    due.add(deadline);
    if (slot < this.#armed) this.#arm(slot);
    return slot;
  }

  /** Takes `deadline` off the clock (nothing when it is no longer on it). */
  remove(deadline: Deadline, slot: number): void {
    const due = this.#slots.get(slot);
    if (!due?.delete(deadline) || due.size > 0) return;
    this.#slots.delete(slot);
    if (this.#slots.size === 0) this.#disarm();
  }

  #arm(slot: number): void {
    clearTimeout(this.#timer);
    this.#armed = slot;
    this.#timer = setTimeout(
      () => this.#tick(),
      Math.max(0, slot * GRANULE_MS - performance.now()),
    );
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armed = Infinity;
  }

  /** Fires every deadline that is due, then sets the timer for the next one. */
  #tick(): void {
    this.#timer = undefined;
    this.#armed = Infinity;
    const now = Math.floor(performance.now() / GRANULE_MS);
    const fired: Deadline[] = [];
    let next = Infinity;
    for (const [slot, due] of this.#slots) {
      if (slot <= now) {
        this.#slots.delete(slot);
        for (const deadline of due) fired.push(deadline);
      } else if (slot < next) next = slot;
    }
    // Set before the listeners run: one that makes a new deadline sees a consistent clock.
    if (next !== Infinity) this.#arm(next);
    for (const deadline of fired) deadline[EXPIRE]();
  }
}

const clock = new Clock();
const EXPIRE = Symbol("expire");

/** A signal that aborts when `parent` does, or when `ms` have passed. */
export class Deadline implements Disposable {
  readonly #controller = new AbortController();
  readonly #parent: AbortSignal | undefined;
  /** The clock slot it is due in; `undefined` when it is not on the clock. */
  #slot: number | undefined;
  readonly #onParentAbort = () => {
    this.#off();
    this.#controller.abort(this.#parent?.reason);
  };
  #expired = false;

  /** Starts the clock; a `parent` that is already aborted aborts this one at once. */
  constructor(ms: number, parent?: AbortSignal) {
    this.#parent = parent;
    if (parent?.aborted) {
      this.#controller.abort(parent.reason);
      return;
    }
    parent?.addEventListener("abort", this.#onParentAbort, { once: true });
    this.#slot = clock.add(this, ms);
  }

  /** Aborts at the deadline (reason: a `TimeoutError`) or with the parent's reason. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether this deadline's own clock ran out (as opposed to the parent aborting). */
  get expired(): boolean {
    return this.#expired;
  }

  /** Called by the clock when it is due. */
  [EXPIRE](): void {
    this.#slot = undefined;
    this.#parent?.removeEventListener("abort", this.#onParentAbort);
    if (this.#controller.signal.aborted) return;
    this.#expired = true;
    this.#controller.abort(new DOMException("The deadline passed", "TimeoutError"));
  }

  #off(): void {
    if (this.#slot === undefined) return;
    clock.remove(this, this.#slot);
    this.#slot = undefined;
  }

  [Symbol.dispose](): void {
    this.#off();
    this.#parent?.removeEventListener("abort", this.#onParentAbort);
  }
}
