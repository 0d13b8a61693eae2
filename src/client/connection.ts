/**
 * One WebSocket to a `/v1/proactive` server, from open through `client_hello` and
 * `session_ready` to close. Reconnecting, frames and tool calls live in `client.ts`; this file
 * knows one socket only.
 *
 * Every server message is validated with the protocol's `ServerMessage` schema before anyone
 * sees it; a message that is not JSON or not on the schema is reported through `onIgnored`
 * and otherwise dropped, so a newer server cannot crash an older client.
 *
 * @module
 */
import {
  type ClientHello,
  type ClientMessage,
  type ServerMessage,
  ServerMessage as ServerMessageSchema,
  type SessionReady,
} from "../protocol/messages.ts";
import { ClientError } from "./errors.ts";
import { padJson } from "./nagle_padding.ts";

/**
 * A WebSocket constructor: the global one or a compatible library's. Deno and Node (undici)
 * accept `{ headers }` as the second argument; browsers do not.
 */
export type WebSocketConstructor = new (
  url: string,
  init?: { headers: Record<string, string> },
) => WebSocket;

/** How a socket closed. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** Options of {@link Connection.open}. */
export interface ConnectionOptions {
  url: string;
  /** Upgrade-request headers (the bearer token); needs a constructor that supports them. */
  headers?: Record<string, string>;
  WebSocket: WebSocketConstructor;
  /** Sent as soon as the socket opens. */
  hello: ClientHello;
  handshakeTimeoutMs: number;
  /** Aborts the open; ignored once the session is ready. */
  signal: AbortSignal;
  /** Pad messages that would stall Deno's client (see `nagle_padding.ts`). */
  pad: boolean;
  /** Every valid message after `session_ready`. */
  onMessage(message: ServerMessage, connection: Connection): void;
  /** A message that was dropped, and why (never its content). */
  onIgnored(reason: string): void;
  /** The socket closed after the session was ready. Called once. */
  onClose(connection: Connection, info: CloseInfo): void;
}

/** Longest wait for the close handshake before a socket is given up on. */
const CLOSE_WAIT_MS = 2_000;

/** The URL without query or credentials, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "the server";
  }
}

/** A socket whose session is ready. */
export class Connection {
  /** The server's `session_ready`. */
  readonly ready: SessionReady;
  /** Settles once the socket has closed. */
  readonly closed: Promise<CloseInfo>;
  #socket: WebSocket;
  #pad: boolean;

  private constructor(
    socket: WebSocket,
    ready: SessionReady,
    closed: Promise<CloseInfo>,
    pad: boolean,
  ) {
    this.#socket = socket;
    this.ready = ready;
    this.closed = closed;
    this.#pad = pad;
  }

  /** Opens a socket, says hello and waits for `session_ready`. */
  static open(options: ConnectionOptions): Promise<Connection> {
    const where = describeUrl(options.url);
    if (options.signal.aborted) return Promise.reject(options.signal.reason);
    let socket: WebSocket;
    try {
      socket = options.headers
        ? new options.WebSocket(options.url, { headers: options.headers })
        : new options.WebSocket(options.url);
    } catch (err) {
      return Promise.reject(
        options.headers
          ? new ClientError(
            "HEADERS_UNSUPPORTED",
            "Cannot send a token: this WebSocket cannot set headers (browsers); " +
              "authenticate with a cookie or through a proxy",
            { cause: err },
          )
          : new ClientError("CONNECT_FAILED", `Cannot connect to ${where}: invalid URL`, {
            cause: err,
          }),
      );
    }

    return new Promise<Connection>((resolve, reject) => {
      let connection: Connection | undefined;
      let failure: unknown;
      let errorDetail = "";
      let handshakeTimer: ReturnType<typeof setTimeout> | undefined;
      let closeTimer: ReturnType<typeof setTimeout> | undefined;
      let resolveClosed!: (info: CloseInfo) => void;
      const closed = new Promise<CloseInfo>((r) => (resolveClosed = r));

      const send = (text: string) => socket.send(options.pad ? padJson(text) : text);
      const settle = () => {
        clearTimeout(handshakeTimer);
        options.signal.removeEventListener("abort", onAbort);
      };
      /** Fails the open: closes the socket and rejects once it is closed (bounded). */
      const fail = (error: unknown) => {
        if (failure !== undefined || connection) return;
        failure = error;
        settle();
        try {
          socket.close(1000);
        } catch {
          // Already closing.
        }
        closeTimer = setTimeout(() => reject(failure), CLOSE_WAIT_MS);
      };
      const onAbort = () => fail(options.signal.reason);

      socket.addEventListener("open", () => {
        if (failure !== undefined) return;
        try {
          send(JSON.stringify(options.hello));
        } catch (err) {
          return fail(new ClientError("CONNECT_FAILED", `Cannot greet ${where}`, { cause: err }));
        }
        handshakeTimer = setTimeout(
          () =>
            fail(
              new ClientError(
                "HANDSHAKE_TIMEOUT",
                `No session_ready from ${where} within ${options.handshakeTimeoutMs} ms`,
              ),
            ),
          options.handshakeTimeoutMs,
        );
      });
      socket.addEventListener("error", (event) => {
        // Deno and Node put the cause in `message`; browsers say nothing.
        const message = (event as { message?: unknown }).message;
        if (typeof message === "string") errorDetail = message;
      });
      socket.addEventListener("message", (event) => {
        const message = parseServerMessage(event.data);
        if (typeof message === "string") return options.onIgnored(message);
        if (connection) return options.onMessage(message, connection);
        if (failure !== undefined) return;
        if (message.type !== "session_ready") {
          return options.onIgnored(`"${message.type}" before session_ready`);
        }
        settle();
        connection = new Connection(socket, message, closed, options.pad);
        resolve(connection);
      });
      socket.addEventListener("close", (event) => {
        const info = { code: event.code, reason: event.reason };
        clearTimeout(closeTimer);
        settle();
        resolveClosed(info);
        if (connection) return options.onClose(connection, info);
        if (failure !== undefined) return reject(failure);
        const detail = connectFailure(errorDetail, info);
        reject(new ClientError("CONNECT_FAILED", `Cannot connect to ${where}: ${detail}`));
      });
      options.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Whether messages can still be sent. */
  get open(): boolean {
    return this.#socket.readyState === 1; // OPEN; a library constructor may lack the static
  }

  /** Sends one message as JSON text; false when the socket is no longer open. */
  send(message: ClientMessage): boolean {
    if (!this.open) return false;
    const text = JSON.stringify(message);
    try {
      this.#socket.send(this.#pad ? padJson(text) : text);
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the socket and waits (boundedly) until it has closed. */
  async close(code = 1000, reason = ""): Promise<void> {
    try {
      this.#socket.close(code, reason);
    } catch {
      // Already closing.
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.closed,
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }
}

/** A validated server message, or why it was dropped. */
function parseServerMessage(data: unknown): ServerMessage | string {
  if (typeof data !== "string") return "binary message";
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return "message is not JSON";
  }
  const parsed = ServerMessageSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const type = (raw as { type?: unknown } | null)?.type;
  return typeof type === "string"
    ? `off-schema "${type.slice(0, 40)}" message`
    : "message without a type";
}

/** Why an open failed, in a few words (no headers, no tokens). */
function connectFailure(detail: string, info: CloseInfo): string {
  if (/refused|tcp connect/i.test(detail)) return "no server answered (TCP connect failed)";
  if (/\b(?:401|403)\b/.test(detail)) return "the server refused the credentials (HTTP 401/403)";
  if (/\b503\b/.test(detail)) return "the server is unavailable (HTTP 503)";
  if (/dns|lookup|resolve|not known/i.test(detail)) return "host not found";
  if (/certificate|tls/i.test(detail)) return "TLS failed";
  if (info.code !== 1006 && info.code !== 0) {
    return `closed before session_ready (code ${info.code})`;
  }
  const short = detail.replace(/^[A-Za-z]*Error:\s*/, "").replace(/\s+/g, " ").trim();
  return short ? short.slice(0, 160) : "the connection failed";
}
