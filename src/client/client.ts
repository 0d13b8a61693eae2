/**
 * `ProactiveClient`: the reference client of the `/v1/proactive` protocol, for Deno,
 * browsers and Node ≥ 22 (anything with a WHATWG `WebSocket`). It uses no `Deno.*` API.
 *
 * ```ts
 * await using client = await ProactiveClient.connect({ url: "ws://127.0.0.1:8080/v1/proactive" });
 * const outcome = await client.analyzeFrame(
 *   { app_name: "Slack", window_title: "#team", ocr_text: "Can you send the Q3 report?" },
 *   { onToolCall: (request) => mySearch(request.tool_kind, request.query) },
 * );
 * ```
 *
 * - **Frames are serialised.** The protocol answers every frame with exactly one terminal
 *   message, in order, and does not require the client to match `frame_id`; so the client
 *   sends one frame, waits for its terminal (answering its tool calls meanwhile), then sends
 *   the next. Calls may overlap; they are queued (bounded) and resolve in call order.
 * - **Tokens.** `token` goes into the upgrade request's `Authorization: Bearer` header, which
 *   Deno's and Node's WebSocket can send. Browsers cannot set WebSocket headers: there it is
 *   offered as the subprotocol `bearer.<token>` beside `proactive`, which the server selects
 *   (docs/protocol.md §1.1). `tokenTransport` chooses either way explicitly.
 * - **Reconnects.** A dropped socket is reopened with exponential backoff and full jitter; the
 *   frame in flight at the drop rejects with `ClientError` code `DISCONNECTED`, queued frames
 *   wait for the new session. A v1.1 `go_away` lets the running frame finish, then the client
 *   reconnects after `reconnect_after_ms`. A non-retryable `server_error` ends the session:
 *   nothing more is sent on it, the client closes it and the next frames wait for the next
 *   one. The backoff starts over only after a session that answered a frame or lived 10 s, so
 *   a server that drops every session at once is retried ever more slowly.
 * - **Server input.** Messages off the schema are reported (`ignored`) and dropped, except a
 *   terminal (`analysis_outcome`, `server_error`): it still ends the frame in flight, its
 *   fields coerced (`terminal.ts`), so one bad answer never stalls the session. A frame or
 *   tool result larger than the server accepts is never sent (it would close the socket):
 *   the frame rejects with `INVALID_FRAME`, the tool result becomes an `error`.
 * - **Deadlines.** Nothing waits forever. Each connect attempt (token, TCP, upgrade,
 *   `session_ready`) has `handshakeTimeoutMs`; each frame has `timeoutMs` (default 60 s, as
 *   the Omi desktop app), counted from the call, queueing included: then it rejects with
 *   `TIMEOUT`. A frame whose answer is still owed `stuckAfterMs` (60 s) after it was sent means
 *   the session is stuck (the server answers within 45 s): the client replaces the socket, as
 *   Omi does, whatever the frame's own `timeoutMs`.
 * - **Screen hashes.** In a browser (anything with `createImageBitmap` and a canvas), a frame
 *   with a `jpeg_base64` and no `screen_hash` gets the screenshot's perceptual hash
 *   (`screen_hash.ts`), so a v1.1 server can skip a screen that has not changed. It is
 *   computed while earlier frames are analysed and waits at most {@link SCREEN_HASH_WAIT_MS}
 *   once the frame's turn comes; a failure means no hash. A 1.0 session never sees the field.
 *
 * @module
 */
import { abortable } from "../async/abortable.ts";
import {
  BEARER_SUBPROTOCOL_PREFIX,
  FrameEvent as FrameEventSchema,
  SUBPROTOCOL,
  ToolResultItem as ToolResultItemSchema,
} from "../protocol/messages.ts";
import type { ProtocolVersion } from "../protocol/messages.ts";
import type {
  AnalysisOutcome,
  ClientHello,
  FrameEvent,
  ServerError,
  ServerMessage,
  SessionContext,
  SessionReady,
  ToolCallRequest,
  ToolResult,
  ToolResultItem,
} from "../protocol/types.ts";
import { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from "./backoff.ts";
import {
  type CloseInfo,
  Connection,
  describeUrl,
  timerDelay,
  type WebSocketConstructor,
} from "./connection.ts";
import { abortError, ClientError } from "./errors.ts";
import { shouldPadMessages } from "./nagle_padding.ts";
import { canComputeScreenHash, computeScreenHash } from "./screen_hash.ts";

/** The terminal message of a frame: its outcome or the server's error for it. */
export type FrameTerminal = AnalysisOutcome | ServerError;

/** A frame to analyse: the `frame_event` fields. The client adds `type` and the context. */
export type FrameFields = Omit<FrameEvent, "type" | "context_version" | "session_context">;

/**
 * Runs a search the server asked for and returns the hits. `signal` aborts when the answer
 * is no longer wanted: the server cancelled the call or its deadline passed, the frame was
 * aborted, or the socket dropped. A thrown error goes back to the server as the `error` of
 * the `tool_result`.
 */
export type ToolCallHandler = (
  request: ToolCallRequest,
  signal: AbortSignal,
) => ToolResultItem[] | Promise<ToolResultItem[]>;

/** Options of {@link ProactiveClient.analyzeFrame}. */
export interface FrameOptions {
  /** Answers the frame's `tool_call_request`s; without it every search reports an error. */
  onToolCall?: ToolCallHandler;
  /** Aborts the call: a queued frame is never sent; a sent one stops being waited for. */
  signal?: AbortSignal;
  /**
   * Longest wait for the terminal, from this call (queueing included); then the call rejects
   * with `TIMEOUT`; a frame already sent still holds the session until its answer comes, at
   * most `stuckAfterMs` after it was sent. Default: the client's `frameTimeoutMs`.
   */
  timeoutMs?: number;
}

/** What happened to the connection, for logs and tests; never carries user content. */
export type ClientEvent =
  | { kind: "connected"; sessionId: string; protocolVersion: ProtocolVersion }
  | { kind: "disconnected"; code: number; reason: string }
  | { kind: "reconnecting"; attempt: number; delayMs: number }
  | { kind: "reconnect_failed"; attempt: number; error: ClientError }
  | { kind: "go_away"; reason: string; reconnectAfterMs: number }
  | { kind: "tool_call_cancelled"; requestId: string; reason: string }
  | { kind: "ignored"; reason: string }
  | { kind: "closed" };

/** How the client sends its token: an `Authorization` header or a `bearer.` subprotocol. */
export type TokenTransport = "header" | "protocol";

/** Options of {@link ProactiveClient.connect}. */
export interface ProactiveClientOptions {
  /** `ws://` or `wss://` URL of `/v1/proactive`. */
  url: string | URL;
  /** Bearer token, or a function returning a fresh one for every (re)connect. */
  token?: string | (() => string | Promise<string>);
  /**
   * How the token travels in the upgrade request (docs/protocol.md §1.1): `"header"` as
   * `Authorization: Bearer <token>`, `"protocol"` as the subprotocols `proactive` and
   * `bearer.<token>` (the server answers `proactive`; the token never comes back). Default
   * `"header"` where the WebSocket takes headers (Deno, Node, or a `WebSocket` option, which
   * is assumed to be such a library), `"protocol"` elsewhere (browsers, which cannot send
   * headers). Without a token nothing is sent either way. Needs a server that knows the
   * subprotocol.
   */
  tokenTransport?: TokenTransport;
  /** Default "1.1" (`go_away`, `tool_call_cancel`); "1.0" speaks exactly as Omi does. */
  protocolVersion?: ProtocolVersion;
  /** Sent in `client_hello`, for the server's logs. */
  appVersion?: string;
  /** Sent in `client_hello`, for the server's logs. */
  osVersion?: string;
  /** The user's tasks and goals; default `{}`. Change it later with `updateContext`. */
  context?: SessionContext;
  /** Version of `context`; default "0". */
  contextVersion?: string;
  /** Aborts the connect; aborting it later closes the client. */
  signal?: AbortSignal;
  /** Reconnect pacing after a drop, or `false` to fail instead. */
  reconnect?: ReconnectOptions | false;
  /**
   * Deadline of one connect attempt, from the token refresh through TCP, TLS and the upgrade
   * to `session_ready`; past it the attempt fails with `HANDSHAKE_TIMEOUT` (and a reconnect
   * attempt counts as failed). Default 15 000 (docs/protocol.md §5.1).
   */
  handshakeTimeoutMs?: number;
  /** Default `timeoutMs` of {@link ProactiveClient.analyzeFrame}; default 60 000. */
  frameTimeoutMs?: number;
  /**
   * How long after a frame was sent its answer may still be owed before the session counts
   * as stuck and its socket is replaced; default 60 000 (the server answers within 45 s).
   */
  stuckAfterMs?: number;
  /** Frames that may wait behind the one in flight; beyond, the oldest gives way. Default 16. */
  maxPendingFrames?: number;
  /**
   * WebSocket constructor; default `globalThis.WebSocket`. Without either, `connect` rejects
   * with `NO_WEBSOCKET`.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Pad 1–64 KB messages with trailing spaces to 64 KB so Deno's WebSocket client does not
   * stall ~44 ms on each (see `nagle_padding.ts`). Default: on in Deno when the URL's host is
   * loopback (127.0.0.0/8, ::1, localhost), off elsewhere, where it would cost up to 64× the
   * bytes. Never past `maxMessageBytes`.
   */
  padMessages?: boolean;
  /**
   * The largest message the server accepts (its `MAX_MESSAGE_BYTES`); padding never makes a
   * message larger. Default 16 MiB, the server's default. A smaller `max_message_bytes` in
   * `session_ready` wins.
   */
  maxMessageBytes?: number;
  /**
   * Give frames that carry a `jpeg_base64` and no `screen_hash` the screenshot's perceptual
   * hash (docs/protocol.md §5.9), so the server can skip a screen that has not changed even
   * when its JPEG bytes differ. Computed only where the runtime decodes images natively and has
   * a canvas (browsers, workers); Deno and Node send no hash. A frame never waits long for it
   * nor fails because of it. Default `true`; `false` sends only the hashes the caller gives.
   * Sessions that negotiated 1.0 never see a `screen_hash`, not even the caller's.
   */
  screenHash?: boolean;
  /** Connection events (connects, drops, ignored messages). */
  onEvent?: (event: ClientEvent) => void;
  /** Source of randomness for jitter, `[0, 1)`; injectable for tests. */
  random?: () => number;
}

interface PendingFrame {
  fields: FrameFields;
  onToolCall: ToolCallHandler | undefined;
  /** Set once the caller has its answer (terminal, error or abort). */
  settled: boolean;
  /** Sent, then abandoned by the caller: its terminal is still owed and will be dropped. */
  orphaned: boolean;
  settle(result: { ok: true; value: FrameTerminal } | { ok: false; error: unknown }): void;
  /** The frame has left the client (terminal, drop, failure): stops its deadlines. */
  done(): void;
  /** When it was sent (`performance.now()`), once it was. */
  sentAt?: number;
  /** Replaces the session if the frame's terminal is owed too long after it was sent. */
  stuckTimer?: ReturnType<typeof setTimeout>;
  /** The screenshot's perceptual hash is being computed; the frame waits for it (bounded). */
  hashing?: boolean;
  /** The computed `screen_hash`, once there is one. */
  screenHash?: string;
  /** Stops waiting for the hash: set once the frame's turn has come. */
  hashTimer?: ReturnType<typeof setTimeout>;
}

interface PendingTool {
  frame: PendingFrame | undefined;
  controller: AbortController;
}

/** Abort reason of a tool call whose frame the caller gave up on: the server is told. */
class FrameAbandoned extends Error {}

/** Default {@link ProactiveClientOptions.handshakeTimeoutMs}: docs/protocol.md §5.1's 15 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 15_000;
/** Default frame deadline: the Omi desktop app's 60 s, above the server's 45 s analysis cap. */
export const DEFAULT_FRAME_TIMEOUT_MS = 60_000;
/** Default {@link ProactiveClientOptions.stuckAfterMs}. */
export const DEFAULT_STUCK_AFTER_MS = 60_000;
/** Default {@link ProactiveClientOptions.maxMessageBytes}: the server's default, 16 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_PENDING_FRAMES = 16;
/** A session that lived this long counts as healthy: the next drop starts the backoff over. */
const STABLE_SESSION_MS = 10_000;
/**
 * Longest a frame whose turn has come waits for its `screen_hash`, then it goes without.
 * The hash starts when the frame is queued; headless Chromium (software rendering, 2 cores)
 * takes 11–15 ms for a 270 KB 1080p JPEG.
 */
export const SCREEN_HASH_WAIT_MS = 150;
/** Longest tool error text we send back. */
const MAX_TOOL_ERROR_CHARS = 500;

/** A connected `/v1/proactive` client. Close it with `close()` or `await using`. */
export class ProactiveClient implements AsyncDisposable {
  #url: string;
  #options: ProactiveClientOptions;
  #reconnect: Required<ReconnectOptions> | false;
  #WebSocket: WebSocketConstructor;
  #tokenTransport: TokenTransport;
  #pad: boolean;
  #random: () => number;
  /** Whether frames get a computed `screen_hash` (option, version and runtime allow it). */
  #hashScreens: boolean;

  #connection: Connection | undefined;
  #ready: SessionReady | undefined;
  /** Set by `go_away`: no new frames on this socket; reconnect after the delay. */
  #goAway: { reconnectAfterMs: number } | undefined;
  /** Set by a non-retryable `server_error`: the session is over, nothing more goes out on it. */
  #retiring = false;
  #queue: PendingFrame[] = [];
  #inFlight: PendingFrame | undefined;
  #tools = new Map<string, PendingTool>();
  #context: SessionContext;
  #contextVersion: string;
  /** The context version the server has cached for this socket. */
  #serverContextVersion: string | undefined;
  #frameNumber = 0;
  /**
   * The backoff step the next reconnect loop starts at: 0 after a session that proved itself
   * (answered a frame, or lived {@link STABLE_SESSION_MS}), else where the last loop ended, so
   * a server that accepts and at once drops sessions is retried ever more slowly.
   */
  #backoffStep = 0;
  /** When the current session became ready (`performance.now()`). */
  #sessionStartedAt = 0;
  /** Whether the current session has answered a frame. */
  #sessionAnswered = false;
  #contextCounter = 0;

  #closed = false;
  #life = new AbortController();
  #reconnecting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #onCallerAbort = () => void this.close();

  private constructor(options: ProactiveClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      throw new ClientError(
        "CONNECT_FAILED",
        `Cannot connect to ${url.protocol} URLs: use ws: or wss:`,
      );
    }
    this.#url = url.href;
    this.#options = options;
    this.#reconnect = options.reconnect === false
      ? false
      : { ...DEFAULT_RECONNECT, ...options.reconnect };
    const WebSocket: unknown = options.WebSocket ??
      (globalThis as { WebSocket?: unknown }).WebSocket;
    if (typeof WebSocket !== "function") {
      throw new ClientError(
        "NO_WEBSOCKET",
        "No WebSocket implementation is available: this runtime has no global WebSocket " +
          "(Node 22+, Deno and browsers have one); pass a constructor as the WebSocket option",
      );
    }
    this.#WebSocket = WebSocket as WebSocketConstructor;
    this.#tokenTransport = options.tokenTransport ??
      (options.WebSocket || webSocketTakesHeaders() ? "header" : "protocol");
    this.#pad = shouldPadMessages(url, options.padMessages);
    this.#random = options.random ?? Math.random;
    this.#hashScreens = options.screenHash !== false &&
      (options.protocolVersion ?? "1.1") === "1.1" && canComputeScreenHash();
    this.#context = options.context ?? {};
    this.#contextVersion = options.contextVersion ?? "0";
  }

  /** Opens a session: connects, sends `client_hello` and waits for `session_ready`. */
  static async connect(options: ProactiveClientOptions): Promise<ProactiveClient> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal, "Connecting");
    const client = new ProactiveClient(options);
    signal?.addEventListener("abort", client.#onCallerAbort, { once: true });
    try {
      await client.#open();
    } catch (err) {
      await client.close();
      if (signal?.aborted) throw abortError(signal, "Connecting");
      throw err;
    }
    return client;
  }

  /** The server's `session_ready` of the current (or last) session. */
  get session(): SessionReady | undefined {
    return this.#ready;
  }

  /** Whether a session is open right now. */
  get connected(): boolean {
    return this.#connection !== undefined;
  }

  /** Whether the client is closed for good. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a frame and resolves with its terminal message: an `analysis_outcome`, or the
   * server's `server_error` for it (passed through, including non-retryable ones). Rejects
   * with a {@link ClientError} when the frame cannot be answered: `DISCONNECTED`, `CLOSED`,
   * `ABORTED` (its signal), `TIMEOUT` (its deadline or signal), `FRAME_DROPPED`,
   * `INVALID_FRAME` (off the schema, or larger than the server accepts), `RECONNECT_FAILED`.
   */
  analyzeFrame(fields: FrameFields, options: FrameOptions = {}): Promise<FrameTerminal> {
    if (this.#closed) {
      return Promise.reject(
        new ClientError("CLOSED", "Cannot analyse a frame: the client is closed"),
      );
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal, "The frame"));
    const checked = FrameEventSchema.safeParse({ ...fields, type: "frame_event" });
    if (!checked.success) {
      const issue = checked.error.issues[0];
      const path = issue?.path.map(String).join(".") || "frame";
      return Promise.reject(
        new ClientError("INVALID_FRAME", `Cannot send the frame: "${path}" is invalid`),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.#options.frameTimeoutMs ??
      DEFAULT_FRAME_TIMEOUT_MS;
    return new Promise<FrameTerminal>((resolve, reject) => {
      const frame: PendingFrame = {
        fields: { ...fields, frame_number: fields.frame_number ?? ++this.#frameNumber },
        onToolCall: options.onToolCall,
        settled: false,
        orphaned: false,
        settle: (result) => {
          if (frame.settled) return;
          frame.settled = true;
          signal?.removeEventListener("abort", onAbort);
          if (result.ok) resolve(result.value);
          else reject(result.error);
        },
        done: () => {
          clearTimeout(deadline);
          clearTimeout(frame.stuckTimer);
          clearTimeout(frame.hashTimer);
          frame.hashing = false;
        },
      };
      if (this.#wantsScreenHash(fields)) this.#hashScreen(frame, fields.jpeg_base64);
      const onAbort = () => this.#abandon(frame, abortError(signal!, "The frame"));
      signal?.addEventListener("abort", onAbort, { once: true });
      // Kept after an abort of a sent frame (a no-op then): the stuck timer armed when it
      // was sent is what replaces the session if its terminal never comes.
      const deadline = setTimeout(
        () => this.#onFrameTimeout(frame, timeoutMs),
        timerDelay(timeoutMs),
      );
      if (this.#queue.length >= (this.#options.maxPendingFrames ?? DEFAULT_MAX_PENDING_FRAMES)) {
        const dropped = this.#queue.shift();
        dropped?.done();
        dropped?.settle({
          ok: false,
          error: new ClientError(
            "FRAME_DROPPED",
            "Frame dropped: newer frames arrived while it waited",
          ),
        });
      }
      this.#queue.push(frame);
      this.#pump();
    });
  }

  /**
   * Replaces the session context. It travels with the next frame (or the next hello after a
   * reconnect); the server replaces its copy only when `version` differs from the last one,
   * so a new context needs a new version (default: a fresh one).
   */
  updateContext(context: SessionContext, version?: string): void {
    this.#context = context;
    this.#contextVersion = version ?? `${Date.now().toString(36)}-${++this.#contextCounter}`;
  }

  /**
   * Closes the client for good: queued and in-flight frames reject with `CLOSED`, a pending
   * reconnect stops, and the socket closes (1000). Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Closes the client, as {@link close}: for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    const error = new ClientError("CLOSED", "The client was closed");
    this.#closed = true;
    this.#life.abort(error);
    this.#options.signal?.removeEventListener("abort", this.#onCallerAbort);
    this.#failFrames(error);
    const connection = this.#connection;
    this.#connection = undefined;
    await Promise.all([
      connection?.close(1000, "client closed"),
      this.#reconnecting?.catch(() => {}),
    ]);
    this.#emit({ kind: "closed" });
  }

  /** Opens a socket with the current context; on success it becomes the connection. */
  async #open(): Promise<void> {
    const hello: ClientHello = {
      type: "client_hello",
      protocol_version: this.#options.protocolVersion ?? "1.1",
      context_version: this.#contextVersion,
      session_context: this.#context,
    };
    if (this.#options.appVersion !== undefined) hello.app_version = this.#options.appVersion;
    if (this.#options.osVersion !== undefined) hello.os_version = this.#options.osVersion;
    const timeoutMs = this.#options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const started = performance.now();
    const source = this.#options.token;
    // A token refresh that hangs must not hold connect(), a reconnect or close(): it runs
    // under the attempt's deadline and the client's life.
    const token = typeof source === "function"
      ? await this.#withinDeadline(Promise.resolve().then(source), timeoutMs)
      : source;
    if (this.#closed) throw new ClientError("CLOSED", "The client was closed");
    const connection = await Connection.open({
      url: this.#url,
      ...(!token
        ? {}
        : this.#tokenTransport === "header"
        ? { headers: { authorization: `Bearer ${token}` } }
        : { protocols: [SUBPROTOCOL, `${BEARER_SUBPROTOCOL_PREFIX}${token}`] }),
      WebSocket: this.#WebSocket,
      hello,
      handshakeTimeoutMs: timeoutMs,
      elapsedMs: performance.now() - started,
      signal: this.#life.signal,
      pad: this.#pad,
      maxMessageBytes: this.#options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      onMessage: (message, from) => this.#onMessage(message, from),
      onIgnored: (reason) => this.#emit({ kind: "ignored", reason }),
      onClose: (from, info) => this.#onClose(from, info),
    });
    if (this.#closed) {
      await connection.close(1000, "client closed");
      throw new ClientError("CLOSED", "The client was closed");
    }
    this.#connection = connection;
    this.#ready = connection.ready;
    this.#goAway = undefined;
    this.#retiring = false;
    this.#sessionStartedAt = performance.now();
    this.#sessionAnswered = false;
    this.#serverContextVersion = hello.context_version ?? "";
    this.#emit({
      kind: "connected",
      sessionId: connection.ready.session_id,
      protocolVersion: connection.ready.protocol_version,
    });
    this.#pump();
  }

  /** `promise`, unless the client closes or `ms` pass first (then HANDSHAKE_TIMEOUT). */
  async #withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new ClientError(
            "HANDSHAKE_TIMEOUT",
            `Cannot connect to ${describeUrl(this.#url)}: the token function did not return ` +
              `within ${ms} ms`,
          ),
        ),
      timerDelay(ms),
    );
    const life = this.#life.signal;
    const onClose = () => deadline.abort(life.reason);
    life.addEventListener("abort", onClose, { once: true });
    if (life.aborted) onClose();
    try {
      return await abortable(promise, deadline.signal);
    } finally {
      clearTimeout(timer);
      life.removeEventListener("abort", onClose);
    }
  }

  /** Whether to compute a `screen_hash` for `fields`: a screenshot, no hash, a 1.1 session. */
  #wantsScreenHash(fields: FrameFields): fields is FrameFields & { jpeg_base64: string } {
    return this.#hashScreens && fields.screen_hash === undefined &&
      typeof fields.jpeg_base64 === "string" && fields.jpeg_base64 !== "" &&
      this.#ready?.protocol_version !== "1.0";
  }

  /** Starts computing `frame`'s hash; the frame is sent once it is there (or given up on). */
  #hashScreen(frame: PendingFrame, jpegBase64: string): void {
    frame.hashing = true;
    void computeScreenHash(jpegBase64).catch(() => undefined).then((hash) => {
      if (!frame.hashing) return; // sent without it, or gone
      frame.hashing = false;
      clearTimeout(frame.hashTimer);
      if (hash !== undefined) frame.screenHash = hash;
      if (this.#queue[0] === frame) this.#pump();
    });
  }

  /** Sends the next queued frame when the socket is free. */
  #pump(): void {
    const connection = this.#connection;
    if (this.#closed || !connection || this.#goAway || this.#retiring || this.#inFlight) return;
    const frame = this.#queue[0];
    if (!frame) return;
    if (frame.hashing) {
      // Its turn has come: the hash gets a short grace, then the frame goes without it.
      frame.hashTimer ??= setTimeout(() => {
        frame.hashing = false;
        this.#pump();
      }, SCREEN_HASH_WAIT_MS);
      return;
    }
    this.#queue.shift();
    const message: FrameEvent = { ...frame.fields, type: "frame_event" };
    // `screen_hash` is v1.1: a 1.0 server (Omi's protocol) never sees it.
    if (connection.ready.protocol_version !== "1.1") delete message.screen_hash;
    else if (message.screen_hash === undefined && frame.screenHash !== undefined) {
      message.screen_hash = frame.screenHash;
    }
    const withContext = this.#serverContextVersion !== this.#contextVersion;
    if (withContext) {
      message.context_version = this.#contextVersion;
      message.session_context = this.#context;
    }
    const text = JSON.stringify(message);
    if (connection.tooLarge(text)) {
      // The server would close the socket (1009) and every frame and tool call on it with
      // it; only this frame fails, and the caller learns why instead of "disconnected".
      frame.done();
      frame.settle({
        ok: false,
        error: new ClientError(
          "INVALID_FRAME",
          `Cannot send the frame: it is larger than the ${connection.maxMessageBytes} bytes ` +
            "the server accepts",
        ),
      });
      return this.#pump();
    }
    if (!connection.sendText(text)) {
      // The socket is closing; the frame goes out on the next session.
      this.#queue.unshift(frame);
      return;
    }
    if (withContext) this.#serverContextVersion = this.#contextVersion;
    frame.sentAt = performance.now();
    this.#inFlight = frame;
    // Past `stuckAfterMs` with its answer still owed, the session is stuck, whatever the
    // caller's own deadline: the frames behind it must not wait on it.
    frame.stuckTimer = setTimeout(() => {
      if (frame === this.#inFlight && connection === this.#connection) {
        void connection.close(1000, "frame answer overdue");
      }
    }, timerDelay(this.#options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS));
  }

  #onMessage(message: ServerMessage, from: Connection): void {
    if (from !== this.#connection) return;
    switch (message.type) {
      case "session_ready":
        this.#ready = message;
        return;
      case "tool_call_request":
        return this.#onToolCall(message, from);
      case "analysis_outcome":
        return this.#onTerminal(message, from);
      case "server_error":
        if (!message.retryable) {
          // The session is over (docs/protocol.md §3.5): it ends the frame in flight, if any,
          // and no frame may go out on this socket any more, not even one the caller starts
          // the moment it has this answer; they wait for the next session. The server closes
          // the socket right after; the client closes it too, so one that does not cannot
          // hold the frames behind.
          this.#retiring = true;
          this.#onTerminal(message, from);
          void from.close(1000, "session ended");
          return;
        }
        // Frame errors carry the frame id.
        if (message.frame_id !== undefined) return this.#onTerminal(message, from);
        return this.#emit({
          kind: "ignored",
          reason: `server_error ${message.code} without a frame`,
        });
      case "tool_call_cancel": {
        this.#emit({
          kind: "tool_call_cancelled",
          requestId: message.request_id,
          reason: message.reason,
        });
        const tool = this.#tools.get(message.request_id);
        tool?.controller.abort(
          new DOMException("The server cancelled the tool call", "AbortError"),
        );
        return;
      }
      case "go_away":
        this.#goAway = { reconnectAfterMs: message.reconnect_after_ms };
        this.#emit({
          kind: "go_away",
          reason: message.reason,
          reconnectAfterMs: message.reconnect_after_ms,
        });
        if (!this.#inFlight) void from.close(1000, "go_away");
        return;
    }
  }

  #onTerminal(message: FrameTerminal, from: Connection): void {
    const frame = this.#inFlight;
    if (!frame) {
      return this.#emit({ kind: "ignored", reason: `${message.type} with no frame in flight` });
    }
    this.#inFlight = undefined;
    frame.done();
    this.#abortTools(frame, new DOMException("The frame has ended", "AbortError"));
    frame.settle({ ok: true, value: message });
    // A session that ends each frame with a fatal error has not proved itself.
    if (message.type === "analysis_outcome" || message.retryable) this.#sessionAnswered = true;
    if (this.#goAway) void from.close(1000, "go_away");
    // After a non-retryable error the socket closes: the next frame waits for the next
    // session instead of being sent into the closing one.
    else if (!this.#retiring) this.#pump();
  }

  #onToolCall(request: ToolCallRequest, from: Connection): void {
    const frame = this.#inFlight;
    const controller = new AbortController();
    const tool: PendingTool = { frame, controller };
    this.#tools.set(request.request_id, tool);
    const deadline = setTimeout(
      () => controller.abort(new DOMException("The tool call deadline passed", "TimeoutError")),
      timerDelay(request.deadline_ms),
    );
    void this.#runTool(request, tool, from).finally(() => {
      clearTimeout(deadline);
      if (this.#tools.get(request.request_id) === tool) this.#tools.delete(request.request_id);
    });
  }

  async #runTool(request: ToolCallRequest, tool: PendingTool, from: Connection): Promise<void> {
    const reply: ToolResult = {
      type: "tool_result",
      request_id: request.request_id,
      frame_id: request.frame_id,
      results: [],
    };
    const { frame, controller } = tool;
    if (!frame || frame.orphaned) {
      reply.error = "The client cancelled this frame";
    } else if (!frame.onToolCall) {
      reply.error = "This client does not run searches";
    } else {
      const handler = frame.onToolCall;
      try {
        const results = await abortable(
          Promise.resolve().then(() => handler(request, controller.signal)),
          controller.signal,
        );
        const valid = ToolResultItemSchema.array().safeParse(results);
        if (valid.success) reply.results = valid.data;
        else reply.error = "The client's search returned malformed results";
      } catch (err) {
        if (controller.signal.aborted) {
          // Nobody waits for this answer any more, except after the caller gave up on the
          // frame: then the server is told, so the analysis ends early.
          if (!(controller.signal.reason instanceof FrameAbandoned)) return;
          reply.error = "The client cancelled this frame";
        } else {
          const text = err instanceof Error ? err.message : String(err);
          reply.error = text.slice(0, MAX_TOOL_ERROR_CHARS) || "The search failed";
        }
      }
    }
    if (from !== this.#connection) return;
    let text = JSON.stringify(reply);
    if (from.tooLarge(text)) {
      // Sent as it is, it would close the socket (1009) and lose the frame.
      text = JSON.stringify({
        ...reply,
        results: [],
        error: "The client's search results are larger than the server accepts",
      });
    }
    from.sendText(text);
  }

  /**
   * `frame`'s deadline passed: the caller gets `TIMEOUT`. Queued, it just leaves the queue.
   * Sent, its terminal is still owed and will be consumed in order; the session is only
   * declared stuck (and its socket replaced, as Omi does) once that terminal is owed
   * `stuckAfterMs` after the frame was sent, past the server's own 45 s promise, so
   * time a frame spent in this client's queue never costs a healthy session.
   */
  #onFrameTimeout(frame: PendingFrame, timeoutMs: number): void {
    // A sent frame's stuck timer (armed when it was sent) keeps running.
    this.#abandon(
      frame,
      new ClientError("TIMEOUT", `The frame got no answer within ${timeoutMs} ms`),
    );
  }

  /** The caller gave up on `frame` (its signal aborted or its deadline passed). */
  #abandon(frame: PendingFrame, error: ClientError): void {
    const index = this.#queue.indexOf(frame);
    if (index >= 0) {
      this.#queue.splice(index, 1);
      frame.done();
    } else if (frame === this.#inFlight) {
      // Its terminal is still owed by the server and must be consumed in order.
      frame.orphaned = true;
      this.#abortTools(frame, new FrameAbandoned("The caller aborted the frame"));
    }
    frame.settle({ ok: false, error });
  }

  #abortTools(frame: PendingFrame | undefined, reason: unknown): void {
    for (const tool of this.#tools.values()) {
      if (frame === undefined || tool.frame === frame) tool.controller.abort(reason);
    }
  }

  #onClose(from: Connection, info: CloseInfo): void {
    if (from !== this.#connection) return;
    this.#connection = undefined;
    this.#emit({ kind: "disconnected", code: info.code, reason: info.reason });
    this.#abortTools(undefined, new DOMException("The socket closed", "AbortError"));
    const frame = this.#inFlight;
    this.#inFlight = undefined;
    frame?.done();
    frame?.settle({
      ok: false,
      error: new ClientError(
        "DISCONNECTED",
        `The connection closed (code ${info.code}) before the frame was answered`,
      ),
    });
    if (this.#closed) return;
    const goAway = this.#goAway;
    this.#goAway = undefined;
    if (this.#reconnect === false) {
      this.#closeAfterFailure(
        new ClientError("DISCONNECTED", `The connection closed (code ${info.code})`),
      );
      return;
    }
    if (this.#sessionAnswered || performance.now() - this.#sessionStartedAt >= STABLE_SESSION_MS) {
      this.#backoffStep = 0;
    }
    this.#reconnecting = this.#reconnectLoop(this.#reconnect, goAway?.reconnectAfterMs);
  }

  async #reconnectLoop(
    policy: Required<ReconnectOptions>,
    goAwayDelayMs: number | undefined,
  ): Promise<void> {
    let lastError: ClientError | undefined;
    const firstStep = this.#backoffStep;
    for (let attempt = 0; attempt < Math.max(1, policy.maxAttempts); attempt++) {
      const delayMs = attempt === 0 && goAwayDelayMs !== undefined
        ? goAwayDelayMs + Math.floor(this.#random() * goAwayDelayMs * 0.2)
        : backoffDelay(firstStep + attempt, policy, this.#random);
      this.#emit({ kind: "reconnecting", attempt: attempt + 1, delayMs });
      if (!(await this.#sleep(delayMs))) return;
      try {
        await this.#open();
        // Should this session drop before it proves itself, the next loop goes on from here.
        this.#backoffStep = firstStep + attempt + 1;
        return;
      } catch (err) {
        if (this.#closed) return;
        lastError = err instanceof ClientError
          ? err
          : new ClientError("CONNECT_FAILED", "Cannot reconnect", { cause: err });
        this.#emit({ kind: "reconnect_failed", attempt: attempt + 1, error: lastError });
      }
    }
    this.#closeAfterFailure(
      new ClientError(
        "RECONNECT_FAILED",
        `Cannot reconnect to ${describeUrl(this.#url)} after ${policy.maxAttempts} attempts` +
          (lastError ? `: ${lastError.message}` : ""),
        { cause: lastError },
      ),
    );
  }

  /** Waits `ms`; false when the client closed meanwhile. */
  #sleep(ms: number): Promise<boolean> {
    const signal = this.#life.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(true);
      }, timerDelay(ms));
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Gives up for good after a drop: every waiting frame rejects with `error`. */
  #closeAfterFailure(error: ClientError): void {
    this.#closed = true;
    this.#life.abort(error);
    this.#options.signal?.removeEventListener("abort", this.#onCallerAbort);
    this.#failFrames(error);
    this.#closing ??= Promise.resolve();
    this.#emit({ kind: "closed" });
  }

  #failFrames(error: unknown): void {
    this.#abortTools(undefined, error);
    const frames = [...(this.#inFlight ? [this.#inFlight] : []), ...this.#queue.splice(0)];
    this.#inFlight = undefined;
    for (const frame of frames) {
      frame.done();
      frame.settle({ ok: false, error });
    }
  }

  #emit(event: ClientEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener's bug must not break the session.
    }
  }
}

/**
 * Whether the global WebSocket takes `{ headers }` (Deno, Node, Bun), read from the standard
 * `navigator.userAgent`; browsers' cannot.
 */
function webSocketTakesHeaders(): boolean {
  const agent = (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent;
  return typeof agent === "string" && /^(?:Deno|Node\.js|Bun)\//.test(agent);
}
