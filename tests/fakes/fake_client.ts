/**
 * A desktop client over a real WebSocket, for session tests. Every message it receives is
 * checked against the server schemas (strict JSON types, as the Swift decoder is), so a
 * wrong type anywhere fails the test that caused it.
 */
import { ServerMessage } from "../../src/protocol/messages.ts";

/** How long a test waits for an expected message before failing (slow CI machines). */
export const WAIT_MS = 10_000;

/** A connected fake desktop. Dispose it (`await using`) to close the socket. */
export class FakeClient {
  readonly socket: WebSocket;
  /** Settles with the close code once the socket closes. */
  readonly closed: Promise<number>;
  #inbox: ServerMessage[] = [];
  #waiters: Array<() => void> = [];
  #closeCode: number | undefined;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", (event) => {
        this.#closeCode = event.code;
        resolve(event.code);
        this.#wake();
      });
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") throw new Error("server sent a binary frame");
      const parsed = ServerMessage.safeParse(JSON.parse(event.data));
      if (!parsed.success) {
        throw new Error(`server sent an off-schema message: ${event.data.slice(0, 300)}`);
      }
      this.#inbox.push(parsed.data);
      this.#wake();
    });
  }

  /** Opens a socket to `url` (with upgrade `headers`, e.g. a token) and waits until it is open. */
  static async connect(url: string, headers?: HeadersInit): Promise<FakeClient> {
    const socket = headers ? new WebSocket(url, { headers }) : new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error("connect failed")), { once: true });
    });
    return new FakeClient(socket);
  }

  /** Sends a message object as JSON text. */
  send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Sends raw text or bytes. */
  sendRaw(data: string | Uint8Array): void {
    this.socket.send(data);
  }

  /** Sends `client_hello` and returns the `session_ready`. */
  async hello(
    fields: Record<string, unknown> = {},
  ): Promise<ServerMessage & { type: "session_ready" }> {
    this.send({ type: "client_hello", protocol_version: "1.0", session_context: {}, ...fields });
    return await this.expect("session_ready");
  }

  /** The next message, whatever it is. */
  async next(timeoutMs = WAIT_MS): Promise<ServerMessage> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (this.#inbox.length === 0) {
      if (this.#closeCode !== undefined) {
        throw new Error(`socket closed (${this.#closeCode}) while waiting for a message`);
      }
      if (signal.aborted) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#waiters.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
    return this.#inbox.shift()!;
  }

  /** The next message, which must be of `type`. */
  async expect<T extends ServerMessage["type"]>(
    type: T,
    timeoutMs = WAIT_MS,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const message = await this.next(timeoutMs);
    if (message.type !== type) {
      throw new Error(`expected ${type}, got ${JSON.stringify(message).slice(0, 300)}`);
    }
    return message as Extract<ServerMessage, { type: T }>;
  }

  /** Asserts that nothing arrives for `ms` (used for heartbeats: silence is the spec). */
  async expectSilence(ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.#inbox.length) {
      throw new Error(`expected silence, got ${JSON.stringify(this.#inbox[0]).slice(0, 300)}`);
    }
  }

  /** Closes the socket and waits for the close to finish. */
  async close(): Promise<void> {
    if (this.#closeCode === undefined) this.socket.close();
    await this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/**
 * A WebSocket upgrade request sent with plain `fetch` to `url` (`ws:` or `http:`), so that a
 * refusal's status, headers and body can be read.
 */
export function rawUpgrade(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url.replace(/^ws/, "http"), {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      ...headers,
    },
  });
}
