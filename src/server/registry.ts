/**
 * The live sessions of this process: counted for limits (per process and per user) and
 * drained together on shutdown.
 *
 * @module
 */
import { Deadline } from "../async/deadline.ts";
import type { Session } from "./session.ts";

/** Live sessions, and whether the process is draining. */
export class SessionRegistry {
  #sessions = new Map<Session, string>();
  #perUser = new Map<string, number>();
  #draining = false;
  #onEmpty: Array<() => void> = [];

  /** Number of open sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** True once shutdown has begun: readiness fails and new upgrades are refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Open sessions of `userId`. */
  sessionsOf(userId: string): number {
    return this.#perUser.get(userId) ?? 0;
  }

  /** The user of a live session; undefined once it is forgotten. */
  userOf(session: Session): string | undefined {
    return this.#sessions.get(session);
  }

  /** Adds a session of `userId`; the caller removes it when its socket closes. */
  add(session: Session, userId: string): void {
    if (this.#sessions.has(session)) return;
    this.#sessions.set(session, userId);
    this.#perUser.set(userId, this.sessionsOf(userId) + 1);
  }

  /** Forgets a session. */
  delete(session: Session): void {
    const userId = this.#sessions.get(session);
    if (userId === undefined) return;
    this.#sessions.delete(session);
    const left = this.sessionsOf(userId) - 1;
    if (left > 0) this.#perUser.set(userId, left);
    else this.#perUser.delete(userId);
    if (this.#sessions.size === 0) { for (const wake of this.#onEmpty.splice(0)) wake(); }
  }

  /** Marks the process as draining. */
  startDraining(): void {
    this.#draining = true;
  }

  /**
   * Graceful drain: refuse new sessions, ask every session to finish its running frame and
   * close (v1.1 clients get `go_away` first), and wait at most `timeoutMs` for them. What is
   * still open then is closed with 1001. Resolves with the number of sessions force-closed.
   */
  async drain(timeoutMs: number, reconnectAfterMs: number): Promise<number> {
    this.startDraining();
    for (const session of this.#sessions.keys()) session.drain(reconnectAfterMs);
    if (this.#sessions.size > 0) {
      using deadline = new Deadline(timeoutMs);
      await new Promise<void>((resolve) => {
        const done = () => {
          deadline.signal.removeEventListener("abort", done);
          this.#onEmpty = this.#onEmpty.filter((wake) => wake !== done);
          resolve();
        };
        this.#onEmpty.push(done);
        deadline.signal.addEventListener("abort", done, { once: true });
      });
    }
    const forced = this.#sessions.size;
    this.closeAll();
    return forced;
  }

  /** Ends every session now: running frames get `SHUTTING_DOWN`, sockets close with 1001. */
  closeAll(): void {
    for (const session of [...this.#sessions.keys()]) {
      session.shutDown();
      this.delete(session);
    }
  }
}
