/**
 * One WebSocket to a `/v1/proactive` server, from open through `client_hello` and
 * `session_ready` to close. Reconnecting, frames and tool calls live in `client.ts`; this file
 * knows one socket only.
 *
 * Every phase of the open (TCP, TLS, the HTTP upgrade, `session_ready`) runs under one
 * deadline, `handshakeTimeoutMs`, so a server that accepts and never answers cannot hold it.
 *
 * Every server message is validated with the protocol's `ServerMessage` schema before anyone
 * sees it; a message that is not JSON or not on the schema is reported through `onIgnored`
 * and otherwise dropped, so a newer server cannot crash an older client. A terminal message
 * (`analysis_outcome`, `server_error`) off the schema is coerced instead (`terminal.ts`): the
 * frame in flight must end in order, not wait for its deadline.
 *
 * @module
 */
import { ServerMessage as ServerMessageSchema } from "../protocol/messages.ts";
import type { ClientHello, ClientMessage, ServerMessage, SessionReady } from "../protocol/types.ts";
import { ClientError } from "./errors.ts";
import { padJson, utf8Length } from "./nagle_padding.ts";
import { coerceTerminal } from "./terminal.ts";

/**
 * A WebSocket constructor: the global one or a compatible library's. Deno and Node (undici)
 * accept `{ headers }` as the second argument; browsers do not, but every one takes a list
 * of subprotocols there.
 */
export type WebSocketConstructor = new (
  url: string,
  init?: { headers: Record<string, string> } | string[],
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
  /** Subprotocols to offer (the bearer token, in browsers); ignored when `headers` are given. */
  protocols?: string[];
  WebSocket: WebSocketConstructor;
  /** Sent as soon as the socket opens. */
  hello: ClientHello;
  /** Deadline of the attempt; past it the open fails with HANDSHAKE_TIMEOUT. */
  handshakeTimeoutMs: number;
  /** Part of the deadline the caller already spent (the token refresh); default 0. */
  elapsedMs?: number;
  /** Aborts the open; ignored once the session is ready. */
  signal: AbortSignal;
  /** Pad messages that would stall Deno's client (see `nagle_padding.ts`). */
  pad: boolean;
  /**
   * The largest message the server accepts, as far as the client knows; padding never goes
   * past it, nor past a `max_message_bytes` the server announces in `session_ready`.
   */
  maxMessageBytes: number;
  /** Every valid message after `session_ready`. */
  onMessage(message: ServerMessage, connection: Connection): void;
  /** A message that was dropped, and why (never its content). */
  onIgnored(reason: string): void;
  /** The socket closed after the session was ready. Called once. */
  onClose(connection: Connection, info: CloseInfo): void;
}

/** Longest wait for the close handshake before a socket is given up on. */
const CLOSE_WAIT_MS = 2_000;
/** Longest delay a timer can take (2^31 − 1 ms, ~24.8 days); larger ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a timer delay: at least 0, at most {@link MAX_TIMER_MS} (also for `Infinity`). */
export function timerDelay(ms: number): number {
  return Number.isFinite(ms) ? Math.min(MAX_TIMER_MS, Math.max(0, ms)) : MAX_TIMER_MS;
}

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
  /** Settles once the socket has closed (or was given up on, see {@link close}). */
  readonly closed: Promise<CloseInfo>;
  /** Messages are padded only up to this size (the smaller of the option and the server's). */
  readonly maxMessageBytes: number;
  #socket: WebSocket;
  #pad: boolean;
  #finish: (info: CloseInfo) => void;

  private constructor(
    socket: WebSocket,
    ready: SessionReady,
    closed: Promise<CloseInfo>,
    finish: (info: CloseInfo) => void,
    pad: boolean,
    maxMessageBytes: number,
  ) {
    this.#socket = socket;
    this.ready = ready;
    this.closed = closed;
    this.#finish = finish;
    this.#pad = pad;
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Opens a socket, says hello and waits for `session_ready`. */
  static open(options: ConnectionOptions): Promise<Connection> {
    const where = describeUrl(options.url);
    if (options.signal.aborted) return Promise.reject(options.signal.reason);
    let socket: WebSocket;
    try {
      socket = options.headers
        ? new options.WebSocket(options.url, { headers: options.headers })
        : options.protocols
        ? new options.WebSocket(options.url, options.protocols)
        : new options.WebSocket(options.url);
    } catch (err) {
      return Promise.reject(
        options.headers
          ? new ClientError(
            "HEADERS_UNSUPPORTED",
            "Cannot send a token: this WebSocket cannot set headers (browsers); " +
              'use tokenTransport "protocol"',
            { cause: err },
          )
          : options.protocols && (err as { name?: unknown } | null)?.name === "SyntaxError" &&
              URL.canParse(options.url)
          ? new ClientError(
            "CONNECT_FAILED",
            "Cannot send the token as a subprotocol: it holds characters a subprotocol cannot",
          )
          : new ClientError("CONNECT_FAILED", `Cannot connect to ${where}: ${openFailure(err)}`, {
            cause: err,
          }),
      );
    }

    return new Promise<Connection>((resolve, reject) => {
      let connection: Connection | undefined;
      let failure: unknown;
      let opened = false;
      let errorDetail = "";
      let closeTimer: ReturnType<typeof setTimeout> | undefined;
      let resolveClosed!: (info: CloseInfo) => void;
      const closed = new Promise<CloseInfo>((r) => (resolveClosed = r));
      let finished = false;
      /** The socket is over, by its close event or given up on: tells the owner once. */
      const finish = (info: CloseInfo) => {
        if (finished) return;
        finished = true;
        resolveClosed(info);
        if (connection) options.onClose(connection, info);
      };

      // The hello goes unpadded: the server's limit is only known from its session_ready,
      // and one 44 ms stall per session costs less than a 1009 close from a small limit.
      const send = (text: string) => socket.send(text);
      // One deadline from dialling to session_ready: a listener that accepts and never
      // answers the upgrade must not hold the open any more than a silent server does.
      const ms = options.handshakeTimeoutMs;
      const handshakeTimer = setTimeout(
        () =>
          fail(
            new ClientError(
              "HANDSHAKE_TIMEOUT",
              opened
                ? `No session_ready from ${where} within ${ms} ms`
                : `Cannot connect to ${where}: the WebSocket did not open within ${ms} ms`,
            ),
          ),
        timerDelay(Math.max(1, ms - (options.elapsedMs ?? 0))),
      );
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
        opened = true;
        if (failure !== undefined) return;
        try {
          send(JSON.stringify(options.hello));
        } catch (err) {
          return fail(new ClientError("CONNECT_FAILED", `Cannot greet ${where}`, { cause: err }));
        }
      });
      socket.addEventListener("error", (event) => {
        // Deno and Node put the cause in `message`; browsers say nothing.
        const message = (event as { message?: unknown }).message;
        if (typeof message === "string") errorDetail = message;
      });
      socket.addEventListener("message", (event) => {
        const parsed = parseServerMessage(event.data);
        if (typeof parsed === "string") return options.onIgnored(parsed);
        const { message, coerced } = parsed;
        if (coerced !== undefined) options.onIgnored(coerced);
        if (connection) return options.onMessage(message, connection);
        if (failure !== undefined) return;
        if (message.type !== "session_ready") {
          return options.onIgnored(`"${message.type}" before session_ready`);
        }
        settle();
        const announced = announcedLimit(event.data);
        connection = new Connection(
          socket,
          message,
          closed,
          finish,
          options.pad,
          Math.min(options.maxMessageBytes, announced ?? Infinity),
        );
        resolve(connection);
      });
      socket.addEventListener("close", (event) => {
        const info = { code: event.code, reason: event.reason };
        clearTimeout(closeTimer);
        settle();
        finish(info);
        if (connection) return;
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
    return this.sendText(JSON.stringify(message));
  }

  /** Whether `text` is larger than the server accepts (it would close the socket with 1009). */
  tooLarge(text: string): boolean {
    return text.length > this.maxMessageBytes ||
      (text.length * 3 > this.maxMessageBytes && utf8Length(text) > this.maxMessageBytes);
  }

  /** Sends one message, already JSON text; false when the socket is no longer open. */
  sendText(text: string): boolean {
    if (!this.open) return false;
    try {
      this.#socket.send(this.#pad ? padJson(text, this.maxMessageBytes) : text);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Closes the socket and waits (boundedly) until it has closed. A peer that never completes
   * the close handshake (a dead link) is given up on: `closed` settles and `onClose` runs
   * with 1006, so the owner can reconnect instead of waiting for a close event that may
   * never come.
   */
  async close(code = 1000, reason = ""): Promise<void> {
    try {
      this.#socket.close(code, reason);
    } catch {
      // Already closing.
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = await Promise.race([
      this.closed.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (gaveUp) this.#finish({ code: 1006, reason: "the close handshake timed out" });
  }
}

/**
 * A validated server message, or why it was dropped. An off-schema terminal message
 * (`analysis_outcome`, `server_error`) is not dropped but coerced (see `terminal.ts`), so the
 * frame in flight still ends; `coerced` then says so, for `onIgnored`.
 */
function parseServerMessage(data: unknown): { message: ServerMessage; coerced?: string } | string {
  if (typeof data !== "string") return "binary message";
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return "message is not JSON";
  }
  const parsed = ServerMessageSchema.safeParse(raw);
  if (parsed.success) return { message: parsed.data };
  const type = (raw as { type?: unknown } | null)?.type;
  const terminal = coerceTerminal(raw);
  if (terminal) {
    return { message: terminal, coerced: `off-schema "${terminal.type}" message, coerced` };
  }
  return typeof type === "string"
    ? `off-schema "${type.slice(0, 40)}" message`
    : "message without a type";
}

/** A positive integer `max_message_bytes` in a `session_ready` text, if the server sent one. */
function announcedLimit(data: unknown): number | undefined {
  try {
    const value = (JSON.parse(String(data)) as { max_message_bytes?: unknown }).max_message_bytes;
    return Number.isSafeInteger(value) && (value as number) > 0 ? value as number : undefined;
  } catch {
    return undefined;
  }
}

/** Why the WebSocket constructor threw: a bad URL (SyntaxError) or the library's words. */
function openFailure(err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name;
  if (name === "SyntaxError") return "invalid URL";
  const message = err instanceof Error ? err.message.replace(/\s+/g, " ").trim() : "";
  return message ? `the WebSocket could not be created (${message.slice(0, 160)})` : "invalid URL";
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
