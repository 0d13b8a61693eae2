/**
 * A tiny `/v1/proactive` server over `Deno.serve` whose every connection is driven by the
 * test: it receives decoded client messages (through the real codec) and sends whatever the
 * test says, including things our real server does not do yet (`go_away`, dropping the
 * socket mid-frame, off-schema messages, silence).
 */
import { decodeClientMessage } from "../../src/protocol/codec.ts";
import type { ClientMessage } from "../../src/protocol/messages.ts";

const WAIT_MS = 10_000;

/** `promise`, or a failure naming `what` after `ms`: a broken client fails, never hangs. */
export async function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** One accepted socket, seen from the server. */
export class ScriptedConnection {
  readonly socket: WebSocket;
  /** Upgrade request headers. */
  readonly headers: Headers;
  /** UTF-8 size of every text message received, in order. */
  readonly sizes: number[] = [];
  /** Every text message received, as sent, in order. */
  readonly raw: string[] = [];
  /** Settles once the socket closed. */
  readonly closed: Promise<void>;
  #inbox: ClientMessage[] = [];
  #wake: (() => void) | undefined;
  #isClosed = false;

  constructor(socket: WebSocket, headers: Headers) {
    this.socket = socket;
    this.headers = headers;
    this.closed = new Promise((resolve) => {
      socket.addEventListener("close", () => {
        this.#isClosed = true;
        this.#wake?.();
        resolve();
      });
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string") {
        this.sizes.push(new TextEncoder().encode(event.data).length);
        this.raw.push(event.data);
      }
      const decoded = decodeClientMessage(event.data);
      if (!decoded.ok) throw new Error(`client sent an invalid message: ${decoded.message}`);
      this.#inbox.push(decoded.message);
      this.#wake?.();
    });
  }

  /** The next client message, which must be of `type` (heartbeats are skipped). */
  async expect<T extends ClientMessage["type"]>(
    type: T,
  ): Promise<Extract<ClientMessage, { type: T }>> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const message = this.#inbox.shift();
      if (message?.type === "heartbeat") continue;
      if (message) {
        if (message.type !== type) throw new Error(`expected ${type}, got ${message.type}`);
        return message as Extract<ClientMessage, { type: T }>;
      }
      if (this.#isClosed) throw new Error(`socket closed while waiting for ${type}`);
      if (Date.now() > deadline) throw new Error(`no ${type} within ${WAIT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Messages received and not yet taken. */
  get unread(): number {
    return this.#inbox.length;
  }

  /** Answers a `client_hello` with `session_ready` (plus `extra` fields, if any). */
  async handshake(
    protocolVersion: "1.0" | "1.1" = "1.1",
    sessionId = "s-1",
    extra: Record<string, unknown> = {},
  ) {
    const hello = await this.expect("client_hello");
    this.send({
      ...extra,
      type: "session_ready",
      session_id: sessionId,
      protocol_version: protocolVersion,
      context_version: hello.context_version ?? "",
      max_model_iterations: 5,
      supported_tool_kinds: ["search_similar", "search_keywords"],
    });
    return hello;
  }

  /** Sends an object as JSON text. */
  send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Sends raw text. */
  sendRaw(text: string): void {
    this.socket.send(text);
  }

  /** A `no_task_found` outcome for `frameId`. */
  outcome(frameId: string, activity = "Reading"): void {
    this.send({
      type: "analysis_outcome",
      outcome_kind: "no_task_found",
      frame_id: frameId,
      context_summary: "nothing to do",
      current_activity: activity,
      usage: {
        model_calls: 1,
        tool_calls: 0,
        input_tokens: 10,
        output_tokens: 2,
        thinking_tokens: 0,
        model_ms: 1,
        tool_ms: 0,
        total_ms: 1,
        cost_usd: 0,
      },
    });
  }

  /** Waits (bounded) until the client closed the socket. */
  waitClosed(): Promise<void> {
    return within(this.closed, "socket close");
  }

  /** Closes the socket from the server side and waits for it. */
  async close(code = 1000, reason = ""): Promise<void> {
    if (!this.#isClosed) {
      try {
        this.socket.close(code, reason);
      } catch {
        // already closing
      }
    }
    await this.closed;
  }
}

/** A server whose connections are handed to the test in order. */
export class ScriptedServer implements AsyncDisposable {
  readonly url: string;
  readonly connections: ScriptedConnection[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;
  #waiting: Array<(c: ScriptedConnection) => void> = [];
  #stopping: Promise<void> | undefined;

  /** Listens on `hostname` (default loopback) and a free port. */
  constructor(hostname = "127.0.0.1") {
    this.#server = Deno.serve({ hostname, port: 0, onListen() {} }, (request) => {
      const headers = new Headers(request.headers);
      const { socket, response } = Deno.upgradeWebSocket(request);
      const connection = new ScriptedConnection(socket, headers);
      socket.addEventListener("open", () => {
        this.connections.push(connection);
        const waiter = this.#waiting.shift();
        waiter?.(connection);
      });
      return response;
    });
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    this.url = `ws://${host}:${this.#server.addr.port}/v1/proactive`;
  }

  /** The `n`-th accepted connection (0-based), waiting for it if needed. */
  connection(n: number): Promise<ScriptedConnection> {
    const existing = this.connections[n];
    if (existing) return Promise.resolve(existing);
    if (n !== this.connections.length + this.#waiting.length) {
      throw new Error("ask for connections in order");
    }
    return within(new Promise((resolve) => this.#waiting.push(resolve)), `connection ${n}`);
  }

  /** Closes every socket and stops listening; safe to call twice. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.all(this.connections.map((c) => c.close(1001)));
      await this.#server.shutdown();
    })();
    await this.#stopping;
  }
}
