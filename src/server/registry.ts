/**
 * The live sessions of this process: counted for limits and closed together on shutdown.
 *
 * @module
 */
import { CLOSE, type Session } from "./session.ts";

/** Live sessions, and whether the process is draining. */
export class SessionRegistry {
  #sessions = new Set<Session>();
  #draining = false;

  /** Number of open sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** True once shutdown has begun: readiness fails and new upgrades are refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Adds a session; the caller removes it when its socket closes. */
  add(session: Session): void {
    this.#sessions.add(session);
  }

  /** Forgets a session. */
  delete(session: Session): void {
    this.#sessions.delete(session);
  }

  /** Marks the process as draining. */
  startDraining(): void {
    this.#draining = true;
  }

  /** Closes every session with 1001 (going away). */
  closeAll(reason = "Server shutting down"): void {
    for (const session of this.#sessions) session.close(CLOSE.goingAway, reason);
    this.#sessions.clear();
  }
}
