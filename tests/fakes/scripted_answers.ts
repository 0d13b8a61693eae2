/**
 * What the fake model servers (`fake_gemini.ts`, `fake_openai.ts`) share: playing one
 * scripted answer — JSON or text at once, JSON after a delay, or a hang — and noticing a
 * client that went away before the answer was through.
 */

/** One scripted answer. */
export type ScriptedStep =
  | { json: unknown; status?: number; headers?: Record<string, string>; delayMs?: number }
  /** A body as it is: text, or bytes (say, gzip with its `content-encoding` header). */
  | { text: string | Uint8Array<ArrayBuffer>; status?: number; headers?: Record<string, string> }
  | { hang: true }
  /** A JSON-looking body that never ends: `prefix`, then 64 KiB chunks of `a` for as long as read. */
  | { endless: true; prefix?: string; status?: number };

const ENDLESS_CHUNK = new TextEncoder().encode("a".repeat(64 * 1024));

/** Plays steps; keeps the timers of delayed answers so that disposing clears them. */
export class StepPlayer {
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #abortWaiters: Array<() => void> = [];

  /** The response of `step`; `record.aborted` is set if the client leaves mid-answer. */
  respond(step: ScriptedStep, record: { aborted: boolean }): Response {
    if ("endless" in step) {
      let prefix: Uint8Array | undefined = new TextEncoder().encode(step.prefix ?? "");
      const stream = new ReadableStream<Uint8Array>({
        pull: (controller) => {
          controller.enqueue(prefix ?? ENDLESS_CHUNK);
          prefix = undefined;
        },
        cancel: () => this.#aborted(record),
      });
      return new Response(stream, {
        status: step.status ?? 200,
        headers: { "content-type": "application/json" },
      });
    }
    if ("hang" in step || ("delayMs" in step && step.delayMs)) {
      // Headers at once, the body held back: Deno.serve reports a client that goes away
      // reliably as a cancelled body stream (request.signal misses it for larger bodies).
      const ms = "hang" in step ? 60_000 : step.delayMs!;
      const payload = "hang" in step ? "" : JSON.stringify(step.json);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stream = new ReadableStream<Uint8Array>({
        start: (controller) => {
          timer = setTimeout(() => {
            this.#timers.delete(timer!);
            controller.enqueue(new TextEncoder().encode(payload));
            controller.close();
          }, ms);
          this.#timers.add(timer);
        },
        cancel: () => {
          clearTimeout(timer);
          this.#timers.delete(timer!);
          this.#aborted(record);
        },
      });
      const status = "hang" in step ? 200 : step.status ?? 200;
      return new Response(stream, { status, headers: { "content-type": "application/json" } });
    }
    if ("text" in step) {
      return new Response(step.text, { status: step.status ?? 200, headers: step.headers });
    }
    return Response.json(step.json, { status: step.status ?? 200, headers: step.headers });
  }

  #aborted(record: { aborted: boolean }): void {
    record.aborted = true;
    for (const wake of this.#abortWaiters.splice(0)) wake();
  }

  /** Resolves once a client abandoned an answer (at once if `already`). */
  sawAbort(already: boolean): Promise<void> {
    if (already) return Promise.resolve();
    return new Promise((resolve) => this.#abortWaiters.push(resolve));
  }

  /** Clears the timers of answers still held back. */
  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
