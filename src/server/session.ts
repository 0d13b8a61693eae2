/**
 * The per-socket state machine of docs/protocol.md §5.
 *
 * A `Session` is fed every incoming payload (`handleMessage`) and the disconnect
 * (`handleClose`); it talks back through a {@link SessionSocket}. It owns the session's
 * context, the frame queue and the one pending tool wait, and drives {@link analyzeFrame}
 * for one frame at a time. It never touches `Deno.*`, so it can be driven by any socket.
 *
 * Ordering rule: every `frame_event` gets exactly one terminal message, in arrival order.
 * Frames that are refused (invalid, no context, dropped from a full queue) keep their place
 * in the queue as a ready-made reply, so a client that reads "until the next terminal"
 * never takes one frame's answer for another's.
 *
 * @module
 */
import { type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import { analyzeFrame } from "../analysis/analyze_frame.ts";
import type { AnalysisRequest, Model } from "../analysis/model.ts";
import type { Logger } from "../log.ts";
import { FRAME_TEXT_CHARS, headOf } from "../protocol/text.ts";
import {
  decodeClientMessage,
  DEFAULT_LIST_CAPS,
  encodeServerMessage,
  frameIdOf,
  type ListCaps,
} from "../protocol/codec.ts";
import {
  type AnalysisOutcome,
  type ClientHello,
  type FrameEvent,
  MAX_MODEL_ITERATIONS,
  type ProtocolVersion,
  type ServerError,
  type ServerMessage,
  type SessionContext,
  TOOL_KINDS,
  type ToolResult,
} from "../protocol/messages.ts";
import type { Metrics } from "./metrics.ts";
import { type FrameVerdict, retryAfterOf } from "./user_limits.ts";
import { UnchangedScreens } from "../frames/unchanged.ts";
import { IMAGE_WITHHELD_NOTE, type PrivacyGuard, type RedactionKind } from "../frames/privacy.ts";

const tracer = trace.getTracer("proactive");

/** What a session needs from its WebSocket. */
export interface SessionSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** Deadlines and bounds of a session. */
export interface SessionLimits {
  analysisTimeoutMs: number;
  modelCallTimeoutMs: number;
  toolResultTimeoutMs: number;
  maxMessageBytes: number;
  maxPendingFrames: number;
  /** Bytes the waiting frames may hold in all; beyond, the oldest waiting is dropped. */
  maxPendingBytes: number;
  /** How long the client may take to send `client_hello`; then the socket closes 1008. */
  helloTimeoutMs: number;
  /**
   * How long an analysed screen may answer for an identical one without a model call
   * (`SKIP_UNCHANGED_SEC`); 0 or absent turns the skip off.
   */
  skipUnchangedMs?: number;
  /** Bits two `screen_hash`es may differ in and still count as the same screen. */
  skipHashDistance?: number;
  /** Elements kept per context list and per `results[]`; the defaults when absent. */
  listCaps?: ListCaps;
  /**
   * The privacy guard (README "Privacy guard"): skips sensitive apps and windows, redacts
   * secrets before any model sees a frame. Absent: frames reach the model as sent.
   */
  privacy?: PrivacyGuard;
}

/** Options of {@link Session}. */
export interface SessionOptions {
  socket: SessionSocket;
  model: Model;
  limits: SessionLimits;
  log: Logger;
  /** Session id; a UUID by default. */
  id?: string;
  metrics: Metrics;
  /**
   * Spends one frame of the user's allowance: 0 when the frame may be analysed, else the
   * milliseconds until it may, alone or with the message saying why (the frame then gets
   * `RATE_LIMITED`). A promise (shared limits) must settle soon and never reject; the frame
   * waits in line for it. Default: no limit.
   */
  takeFrame?: () => FrameVerdict | Promise<FrameVerdict>;
  /**
   * Given the cost of each model call as it is billed, whatever the frame's end (the daily
   * budget).
   */
  onCost?: (usd: number) => void;
  /** Called once when the session ends, whoever closed it; given the session. */
  onClosed?: (session: Session) => void;
  /** Today's date as `YYYY-MM-DD`; injectable for tests. */
  today?: () => string;
}

/** WebSocket close codes we use. */
export const CLOSE = {
  goingAway: 1001,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;

/**
 * Refused frames we keep in line (tiny placeholders) beyond the live queue; a client that
 * outruns even that is misbehaving and is disconnected.
 */
const MAX_PLACEHOLDERS = 64;

interface FrameEntry {
  kind: "frame";
  request: AnalysisRequest;
  /** The client's perceptual hash of the screenshot, as sent. */
  screenHash?: string;
  /** Which of the session's contexts the frame is analysed against (their count so far). */
  context: number;
  receivedAt: number;
  /** What the frame holds in memory (its strings' lengths), for `maxPendingBytes`. */
  bytes: number;
  /** The shared limits' verdict, when it was not known at once. */
  admission?: Promise<FrameVerdict>;
}

type QueueEntry = FrameEntry | { kind: "reply"; message: ServerError };

interface PendingTool {
  requestId: string;
  resolve(result: ToolResult | undefined): void;
}

/** The frame budget when there is none: every frame may go ahead. */
const unlimited = (): number => 0;

const DAY_MS = 86_400_000;
let today = { date: "", until: 0 };

/** Today's date in UTC, `YYYY-MM-DD` (worked out again once the day it holds is over). */
function utcToday(): string {
  const now = Date.now();
  if (now >= today.until || now < today.until - DAY_MS) {
    const date = new Date(now).toISOString().slice(0, 10);
    today = { date, until: Date.parse(`${date}T00:00:00Z`) + DAY_MS };
  }
  return today.date;
}

/**
 * The context as kept for the session's lifetime: each list copied to its exact length (the
 * decoder builds them by `push`, which leaves room for more; an idle session would hold that
 * spare room for hours).
 */
function settled(context: SessionContext): SessionContext {
  for (const key of Object.keys(context) as Array<keyof SessionContext>) {
    const list = context[key];
    if (Array.isArray(list)) (context as Record<string, unknown>)[key] = list.slice();
  }
  return context;
}

/**
 * One client connection's state.
 *
 * Thousands of sessions sit idle between frames, so what a session holds before its first
 * frame is kept small: no timers, controllers or per-session closures beyond what the hello
 * needs; the rest is made when a frame needs it.
 */
export class Session {
  /** Stable for the whole connection, also across repeated `client_hello`. */
  readonly id: string;
  #socket: SessionSocket;
  #model: Model;
  #limits: SessionLimits;
  #log: Logger;
  #metrics: Metrics;
  #takeFrame: () => FrameVerdict | Promise<FrameVerdict>;
  #onCost: ((usd: number) => void) | undefined;
  #onClosed: ((session: Session) => void) | undefined;
  #today: () => string;
  #version: ProtocolVersion = "1.0";
  #context: SessionContext | undefined;
  #contextVersion = "";
  /** Counts the contexts the session was given: what the unchanged-screen check compares. */
  #contextGeneration = 0;
  #queue: QueueEntry[] = [];
  #running = false;
  #pendingTool: PendingTool | undefined;
  /** Aborts the running analysis when the socket goes; made by the first frame. */
  #disconnect: AbortController | undefined;
  #closed = false;
  /** Set once `handleClose` has run. */
  #ended = false;
  #draining = false;
  /** The frame being analysed, until its terminal message is sent. */
  #current: string | undefined;
  /** Set by the first `client_hello`: nothing is sent before `session_ready`. */
  #ready = false;
  /**
   * The unchanged-screen stage (docs/protocol.md §5.9); made by the first frame, absent when
   * the stage is off.
   */
  #unchanged: UnchangedScreens | undefined;
  /** Answers sent before the first hello. */
  #earlyReplies = 0;
  /** Closes a connection that never says hello. */
  #helloTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: SessionOptions) {
    this.id = options.id ?? crypto.randomUUID();
    this.#socket = options.socket;
    this.#model = options.model;
    this.#limits = options.limits;
    this.#log = options.log.child({ session: this.id });
    this.#metrics = options.metrics;
    this.#takeFrame = options.takeFrame ?? unlimited;
    this.#onClosed = options.onClosed;
    this.#onCost = options.onCost;
    this.#today = options.today ?? utcToday;
    this.#helloTimer = setTimeout(() => {
      this.#helloTimer = undefined;
      if (this.#ready) return;
      this.#log.info("no client_hello in time; closing", { ms: this.#limits.helloTimeoutMs });
      this.#metrics.helloTimeouts.inc();
      this.close(CLOSE.policyViolation, "No client_hello in time");
    }, this.#limits.helloTimeoutMs);
  }

  /** The negotiated protocol version ("1.0" until a hello asks for more). */
  get protocolVersion(): ProtocolVersion {
    return this.#version;
  }

  /** Whether a frame is running or waiting. */
  get #busy(): boolean {
    return this.#running || this.#queue.length > 0;
  }

  /** Whether the socket is gone or being closed by us. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Handles one incoming WebSocket payload (text or binary). */
  handleMessage(data: unknown): void {
    if (this.#closed) return;
    if (payloadBytesOver(data, this.#limits.maxMessageBytes)) {
      this.refuseOversize();
      return;
    }
    const decoded = decodeClientMessage(data, {
      ...(this.#context ? { knownContextVersion: this.#contextVersion } : {}),
      awaitedRequestId: this.#pendingTool?.requestId ?? null,
      caps: this.#limits.listCaps ?? DEFAULT_LIST_CAPS,
    });
    if (!decoded.ok) {
      this.#log.info("invalid message", { type: decoded.type ?? "unknown" });
      if (!this.#ready && decoded.type !== "tool_result") {
        // Before any hello nothing waits in line: it is answered at once (docs/protocol.md §5.1).
        this.#sendEarly(this.#invalid(decoded.message, decoded.frameId));
      } else if (decoded.type === "frame_event") {
        this.#enqueue({ kind: "reply", message: this.#invalid(decoded.message, decoded.frameId) });
      } else if (
        decoded.type === "tool_result" && this.#pendingTool &&
        this.#pendingTool.requestId === decoded.requestId
      ) {
        // Answering INVALID_MESSAGE now would land between a frame's tool call and its
        // outcome; the frame's own outcome tells the client what happened instead.
        this.#resolveTool({
          type: "tool_result",
          request_id: this.#pendingTool.requestId,
          error: "the client sent a malformed tool result",
        });
      } else if (decoded.type === "tool_result") {
        // A late or stray result, even a malformed one, is never an error (docs/protocol.md §2.4).
        this.#log.debug("tool result discarded: malformed and not awaited");
      } else if (this.#busy) {
        // Sent now it would be read as the running frame's terminal: it waits its turn.
        this.#enqueue({ kind: "reply", message: this.#invalid(decoded.message) });
      } else {
        this.#send(this.#invalid(decoded.message));
      }
      return;
    }
    if (decoded.discarded) {
      this.#log.debug("tool result discarded: no matching request");
      return;
    }
    const message = decoded.message;
    if (decoded.droppedContextItems) {
      this.#log.info("malformed context items left out", { count: decoded.droppedContextItems });
    }
    for (const [list, count] of Object.entries(decoded.cut)) {
      this.#metrics.listItemsCut.inc({ list }, count);
      this.#log.info("list cut to its cap", { list, count });
    }
    switch (message.type) {
      case "client_hello":
        return this.#onHello(message);
      case "frame_event":
        return this.#onFrame(message);
      case "tool_result":
        if (this.#pendingTool?.requestId === message.request_id) this.#resolveTool(message);
        else this.#log.debug("tool result discarded: no matching request");
        return;
      case "heartbeat":
        return;
    }
  }

  /** A message past `maxMessageBytes` came (or began): logged, then the socket closes 1009. */
  refuseOversize(): void {
    if (this.#closed) return;
    this.#log.warn("message too big", { limit: this.#limits.maxMessageBytes });
    this.close(CLOSE.tooBig, "Message too big");
  }

  /** The socket is gone: cancel the running analysis and every wait, drop the queue. */
  handleClose(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#closed = true;
    this.#queue = [];
    clearTimeout(this.#helloTimer);
    this.#helloTimer = undefined;
    this.#disconnect?.abort(disconnected());
    this.#onClosed?.(this);
  }

  /**
   * The process is draining: v1.1 clients get `go_away`; the running frame finishes; frames
   * that were waiting or arrive from now on get `SHUTTING_DOWN`, after which the socket
   * closes with 1001, as it does as soon as the session is idle.
   */
  drain(reconnectAfterMs: number): void {
    if (this.#closed || this.#draining) return;
    this.#draining = true;
    if (this.#version === "1.1") {
      this.#send({
        type: "go_away",
        reason: "Server is restarting",
        reconnect_after_ms: reconnectAfterMs,
      });
    }
    this.#queue = this.#queue.map((entry) =>
      entry.kind === "frame"
        ? { kind: "reply", message: shuttingDown(entry.request.frame.frameId) }
        : entry
    );
    if (this.#running) return;
    // Before the hello nothing may be sent, so there is nothing to wait for either.
    if (this.#queue.length && this.#ready) this.#startPump();
    else this.close(CLOSE.goingAway, "Server shutting down");
  }

  /** Closes the socket (after a non-retryable error, an oversize message, a drain). */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    try {
      this.#socket.close(code, reason);
    } catch {
      // Already closing.
    }
    this.handleClose();
  }

  /**
   * Ends the session now (a drain's budget is spent): a frame still running gets its
   * terminal `SHUTTING_DOWN`, so the client is not left waiting, then the socket closes 1001.
   */
  shutDown(): void {
    if (this.#closed) return;
    const pending = this.#pendingTool;
    if (pending && this.#current !== undefined && this.#version === "1.1") {
      this.#send({
        type: "tool_call_cancel",
        request_id: pending.requestId,
        frame_id: this.#current,
        reason: "shutdown",
      });
    }
    if (this.#current !== undefined) this.#sendTerminal(shuttingDown(this.#current));
    this.close(CLOSE.goingAway, "Server shutting down");
  }

  /** Makes `context` (of `version`) the session's, from its next frame on. */
  #takeContext(context: SessionContext, version: string | null | undefined): void {
    this.#context = settled(context);
    this.#contextVersion = version ?? "";
    this.#contextGeneration++;
  }

  #onHello(hello: ClientHello): void {
    this.#version = negotiateVersion(hello.protocol_version);
    if (hello.session_context) {
      this.#takeContext(hello.session_context, hello.context_version);
    }
    this.#log.info("client hello", {
      protocol: this.#version,
      app_version: (hello.app_version ?? "").slice(0, 32),
      os_version: (hello.os_version ?? "").slice(0, 32),
      active_tasks: hello.session_context?.active_tasks?.length ?? 0,
    });
    this.#send({
      type: "session_ready",
      session_id: this.id,
      protocol_version: this.#version,
      context_version: hello.context_version ?? "",
      max_model_iterations: MAX_MODEL_ITERATIONS,
      supported_tool_kinds: [...TOOL_KINDS],
      max_message_bytes: this.#limits.maxMessageBytes,
    });
    if (!this.#ready) {
      this.#ready = true;
      clearTimeout(this.#helloTimer);
      this.#helloTimer = undefined;
    }
  }

  #onFrame(frame: FrameEvent): void {
    if (!this.#ready) {
      // Before any hello a frame is answered at once, whatever it holds (docs/protocol.md §5.1).
      this.#sendEarly(noContext(frameIdOf(frame.screenshot_id, frame.frame_number)));
      return;
    }
    // docs/protocol.md §2.3: a newer context travels with the frame and is used by it.
    if (frame.session_context) {
      const version = frame.context_version;
      if (!this.#context || (version != null && version !== this.#contextVersion)) {
        this.#takeContext(frame.session_context, version);
      }
    }
    const frameId = frameIdOf(frame.screenshot_id, frame.frame_number);
    if (this.#draining) {
      this.#enqueue({ kind: "reply", message: shuttingDown(frameId) });
      return;
    }
    if (!this.#context) {
      this.#enqueue({ kind: "reply", message: noContext(frameId) });
      return;
    }
    const verdict = this.#takeFrame();
    const admission = verdict instanceof Promise ? verdict : undefined;
    const limited = admission ? undefined : this.#rateLimited(verdict as FrameVerdict, frameId);
    if (limited) {
      this.#enqueue({ kind: "reply", message: limited });
      return;
    }
    const request: AnalysisRequest = {
      frame: {
        frameId,
        // Cut to what any model reads (and the guard checks): see FRAME_TEXT_CHARS.
        appName: headOf(frame.app_name ?? "", FRAME_TEXT_CHARS.app),
        windowTitle: headOf(frame.window_title ?? "", FRAME_TEXT_CHARS.title),
        ocrText: headOf(frame.ocr_text ?? "", FRAME_TEXT_CHARS.ocr),
      },
      context: this.#context,
      today: this.#today(),
    };
    if (frame.jpeg_base64) request.frame.jpegBase64 = frame.jpeg_base64;
    // The strings as received: a cut one may still hold its whole text (V8 slices share it).
    const bytes = (frame.app_name?.length ?? 0) + (frame.window_title?.length ?? 0) +
      (frame.ocr_text?.length ?? 0) + (frame.jpeg_base64?.length ?? 0);
    const entry: FrameEntry = {
      kind: "frame",
      request,
      receivedAt: performance.now(),
      bytes,
      context: this.#contextGeneration,
    };
    if (frame.screen_hash) entry.screenHash = frame.screen_hash;
    if (admission) entry.admission = admission;
    this.#enqueue(entry);
  }

  /** The `RATE_LIMITED` answer of a refused verdict (counted), or undefined when admitted. */
  #rateLimited(verdict: FrameVerdict, frameId: string): ServerError | undefined {
    const retryAfterMs = retryAfterOf(verdict);
    if (!(retryAfterMs > 0)) return undefined;
    this.#metrics.rateLimitedTotal.inc();
    if (typeof verdict !== "number") this.#metrics.budgetLimitedTotal.inc();
    return {
      type: "server_error",
      code: "RATE_LIMITED",
      message: typeof verdict === "number"
        ? "Too many frames: slow down and retry later"
        : verdict.message,
      retryable: true,
      frame_id: frameId,
      retry_after_ms: retryAfterMs,
    };
  }

  #enqueue(entry: QueueEntry): void {
    if (entry.kind === "frame" && this.#running && entry.bytes > this.#limits.maxPendingBytes) {
      // Too big to wait at all: it alone gives way, the frames already waiting stay.
      entry = { kind: "reply", message: this.#dropped(entry) };
    } else if (entry.kind === "frame" && this.#running) {
      // It will wait: the freshest screen matters most, so the oldest waiting frames give way
      // until both the count and the bytes fit.
      let waiting = 0;
      let bytes = entry.bytes;
      for (const e of this.#queue) {
        if (e.kind === "frame") {
          waiting++;
          bytes += e.bytes;
        }
      }
      for (let i = 0; i < this.#queue.length; i++) {
        if (waiting < this.#limits.maxPendingFrames && bytes <= this.#limits.maxPendingBytes) break;
        const e = this.#queue[i];
        if (e?.kind !== "frame") continue;
        this.#queue[i] = { kind: "reply", message: this.#dropped(e) };
        waiting--;
        bytes -= e.bytes;
      }
    }
    if (this.#queue.length >= this.#limits.maxPendingFrames + MAX_PLACEHOLDERS) {
      this.#log.warn("too many frames in flight; closing");
      this.#send({
        type: "server_error",
        code: "INTERNAL",
        message: "Too many messages waiting: the session cannot go on",
        retryable: false,
      });
      this.close(CLOSE.internalError, "Too many messages waiting");
      return;
    }
    this.#queue.push(entry);
    this.#startPump();
  }

  /**
   * An immediate answer before the first hello. A client that keeps sending without ever
   * saying hello is closed (1008) once it has had {@link MAX_PLACEHOLDERS} of them.
   */
  #sendEarly(message: ServerError): void {
    if (++this.#earlyReplies > MAX_PLACEHOLDERS) {
      this.#log.warn("too many messages before client_hello; closing");
      this.close(CLOSE.policyViolation, "Too many messages before client_hello");
      return;
    }
    this.#send(message);
  }

  /** The terminal of a waiting frame that gave way to newer ones. */
  #dropped(entry: FrameEntry): ServerError {
    const frameId = entry.request.frame.frameId;
    this.#log.info("frame dropped", { frame: frameId });
    return {
      type: "server_error",
      code: "FRAME_DROPPED",
      message: "Frame dropped: newer frames arrived while it waited",
      retryable: true,
      frame_id: frameId,
    };
  }

  /** Starts {@link #pump} (nothing when it runs); a failure is logged, never unhandled. */
  #startPump(): void {
    this.#pump().catch((err) =>
      this.#log.error("frame queue failed", { error: err instanceof Error ? err.name : "unknown" })
    );
  }

  /** Works through the queue, one frame at a time, in order. */
  async #pump(): Promise<void> {
    if (this.#running || !this.#ready) return;
    this.#running = true;
    try {
      let entry: QueueEntry | undefined;
      while (!this.#closed && (entry = this.#queue.shift())) {
        if (entry.kind === "reply") this.#sendTerminal(entry.message);
        else if (entry.admission) {
          // Its verdict was still on its way from Redis (bounded by REDIS_TIMEOUT_MS).
          const admission = entry.admission;
          delete entry.admission;
          const limited = this.#rateLimited(await admission, entry.request.frame.frameId);
          if (limited) this.#sendTerminal(limited);
          else if (!this.#closed) await this.#traceFrame(entry);
        } else await this.#traceFrame(entry);
      }
    } finally {
      this.#running = false;
    }
    if (this.#draining) this.close(CLOSE.goingAway, "Server shutting down");
  }

  /** Runs a frame inside its own span, so the model-call spans nest under it. */
  #traceFrame(entry: FrameEntry): Promise<void> {
    return tracer.startActiveSpan("frame", async (span) => {
      try {
        span.setAttribute("session.id", this.id);
        await this.#runFrame(entry, span);
      } finally {
        span.end();
      }
    });
  }

  /** Sends a frame's terminal message; closes the socket after a non-retryable one. */
  #sendTerminal(message: AnalysisOutcome | ServerError): void {
    if (message.frame_id === this.#current) this.#current = undefined;
    this.#metrics.framesTotal.inc({
      outcome: message.type === "analysis_outcome" ? message.outcome_kind : message.code,
    });
    this.#send(message);
    if (message.type === "server_error" && !message.retryable) {
      this.close(
        message.code === "SHUTTING_DOWN" ? CLOSE.goingAway : CLOSE.internalError,
        message.code,
      );
    }
  }

  /** Runs a frame to its one terminal: whatever throws on the way, the client gets one. */
  async #runFrame(entry: FrameEntry, span: Span): Promise<void> {
    const { request } = entry;
    const { frameId } = request.frame;
    this.#current = frameId;
    const log = this.#log.child({ frame: frameId });
    try {
      await this.#analyse(entry, span, log);
    } catch (err) {
      log.error("analysis failed", { error: err instanceof Error ? err.name : "unknown" });
    } finally {
      // The model calls are over: the screenshot is not kept a moment longer.
      delete request.frame.jpegBase64;
    }
    const unanswered = this.#current !== undefined;
    this.#current = undefined;
    if (unanswered && this.#closed) log.debug("frame cancelled: the session ended");
    if (unanswered && !this.#closed) {
      // The core owes one terminal per frame; a bug must not leave the client waiting.
      this.#sendTerminal({
        type: "server_error",
        code: "INTERNAL",
        message: "Internal error while analysing the frame",
        retryable: true,
        frame_id: frameId,
      });
    }
  }

  /** The frame's stages: its deadline, privacy, unchanged screen, the model's tool loop. */
  async #analyse(
    { request, receivedAt, screenHash, context }: FrameEntry,
    span: Span,
    log: Logger,
  ): Promise<void> {
    const { frameId } = request.frame;
    const started = performance.now();
    const queuedMs = Math.round(started - receivedAt);
    // The client's clock started when it sent the frame, not when its turn came.
    const leftMs = Math.floor(this.#limits.analysisTimeoutMs - (started - receivedAt));
    if (leftMs <= 0) {
      // Its time ran out while it waited: it never reaches the model.
      log.info("frame done", { outcome: "ANALYSIS_TIMEOUT", ms: 0, queued_ms: queuedMs });
      span.setAttribute("frame.outcome", "ANALYSIS_TIMEOUT");
      span.setStatus({ code: SpanStatusCode.ERROR, message: "ANALYSIS_TIMEOUT" });
      this.#sendTerminal({
        type: "server_error",
        code: "ANALYSIS_TIMEOUT",
        message: "Analysis did not finish in time",
        retryable: true,
        frame_id: frameId,
      });
      return;
    }
    // Before anything else sees the frame: a private app ends here, secrets are redacted.
    const privacy = this.#limits.privacy?.check(request.frame);
    if (privacy?.skipped) {
      this.#metrics.framesSkipped.inc({ reason: "privacy" });
      log.info("frame done", { outcome: "no_task_found", skipped: "privacy", ms: 0 });
      span.setAttribute("frame.outcome", "no_task_found");
      span.setAttribute("frame.skipped", "privacy");
      privacy.skipped.usage.total_ms = Math.round(performance.now() - receivedAt);
      this.#sendTerminal(privacy.skipped);
      return;
    }
    const redactions = privacy?.counts ?? {};
    for (const [kind, n] of Object.entries(redactions) as Array<[RedactionKind, number]>) {
      this.#metrics.redactions.inc({ kind }, n);
    }
    const annotate = (m: AnalysisOutcome | ServerError): void => {
      if (m.type !== "analysis_outcome") return;
      if (Object.keys(redactions).length) m.usage.redactions = { ...redactions };
      if (privacy?.imageWithheld) m.context_summary += IMAGE_WITHHELD_NOTE;
    };
    const unchanged = this.#unchangedScreens()?.check(
      request.frame,
      screenHash,
      context,
      started,
    );
    if (unchanged?.skipped) {
      this.#metrics.framesSkipped.inc({ reason: "unchanged_screen" });
      log.info("frame done", { outcome: "no_task_found", skipped: "unchanged_screen", ms: 0 });
      span.setAttribute("frame.outcome", "no_task_found");
      span.setAttribute("frame.skipped", "unchanged_screen");
      unchanged.skipped.usage.total_ms = Math.round(performance.now() - receivedAt);
      annotate(unchanged.skipped);
      this.#sendTerminal(unchanged.skipped);
      return;
    }
    const analysis = analyzeFrame(request, {
      model: this.#model,
      signal: this.#disconnectSignal(),
      analysisTimeoutMs: leftMs,
      modelCallTimeoutMs: this.#limits.modelCallTimeoutMs,
      toolResultTimeoutMs: this.#limits.toolResultTimeoutMs,
      // Charged as billed: a frame that ends in an error or a timeout, or whose client left,
      // spent its calls all the same.
      onSpend: (spent) => {
        if (spent.costUsd > 0) this.#onCost?.(spent.costUsd);
      },
    });
    try {
      let input: ToolResult | undefined;
      for (;;) {
        const step = await analysis.next(input);
        if (step.done) break;
        const event = step.value;
        input = undefined;
        if (event.kind === "terminal") {
          const m = event.message;
          unchanged?.done(m);
          annotate(m);
          const ms = performance.now() - started;
          const outcome = m.type === "analysis_outcome" ? m.outcome_kind : m.code;
          this.#metrics.frameDuration.observe(ms / 1000);
          span.setAttribute("frame.outcome", outcome);
          if (m.type === "analysis_outcome") {
            span.setAttribute("frame.model_calls", m.usage.model_calls);
            span.setAttribute("frame.tool_calls", m.usage.tool_calls);
          } else span.setStatus({ code: SpanStatusCode.ERROR, message: m.code });
          log.info("frame done", {
            outcome,
            ms: Math.round(ms),
            queued_ms: queuedMs,
            model_calls: m.type === "analysis_outcome" ? m.usage.model_calls : undefined,
            model_ms: m.type === "analysis_outcome" ? m.usage.model_ms : undefined,
            tool_ms: m.type === "analysis_outcome" ? m.usage.tool_ms : undefined,
          });
          this.#sendTerminal(m);
          continue;
        }
        this.#send(event.message);
        this.#metrics.toolCallsTotal.inc({ tool_kind: event.message.tool_kind });
        const waitStarted = performance.now();
        input = await this.#waitForTool(event.message.request_id, event.signal);
        this.#metrics.toolWait.observe((performance.now() - waitStarted) / 1000);
        if (!input) this.#metrics.toolTimeouts.inc();
        if (!input && !this.#closed && this.#version === "1.1") {
          this.#send({
            type: "tool_call_cancel",
            request_id: event.message.request_id,
            frame_id: frameId,
            reason: "deadline",
          });
        }
      }
    } finally {
      await analysis.return(undefined).catch(() => {});
    }
  }

  /** The unchanged-screen stage, made on first use; undefined when it is off. */
  #unchangedScreens(): UnchangedScreens | undefined {
    const skipMs = this.#limits.skipUnchangedMs ?? 0;
    if (skipMs <= 0) return undefined;
    return this.#unchanged ??= new UnchangedScreens(skipMs, this.#limits.skipHashDistance ?? 4);
  }

  /** Aborts when the socket goes (already aborted if it has). */
  #disconnectSignal(): AbortSignal {
    if (!this.#disconnect) {
      this.#disconnect = new AbortController();
      if (this.#ended) this.#disconnect.abort(disconnected());
    }
    return this.#disconnect.signal;
  }

  #waitForTool(requestId: string, signal: AbortSignal): Promise<ToolResult | undefined> {
    if (signal.aborted || this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = () => finish(undefined);
      const finish = (result: ToolResult | undefined) => {
        signal.removeEventListener("abort", onAbort);
        if (this.#pendingTool === pending) this.#pendingTool = undefined;
        resolve(result);
      };
      const pending: PendingTool = { requestId, resolve: finish };
      this.#pendingTool = pending;
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #resolveTool(result: ToolResult): void {
    const pending = this.#pendingTool;
    this.#pendingTool = undefined;
    pending?.resolve(result);
  }

  #invalid(message: string, frameId?: string): ServerError {
    const error: ServerError = {
      type: "server_error",
      code: "INVALID_MESSAGE",
      message,
      retryable: true,
    };
    if (frameId !== undefined) error.frame_id = frameId;
    return error;
  }

  #send(message: ServerMessage): void {
    if (this.#closed) return;
    try {
      this.#socket.send(encodeServerMessage(message));
    } catch {
      this.handleClose();
    }
  }
}

/** Why a session's analysis is aborted when its socket goes. */
function disconnected(): DOMException {
  return new DOMException("The client disconnected", "AbortError");
}

/** The answer to a frame that came before any context. */
function noContext(frameId: string): ServerError {
  return {
    type: "server_error",
    code: "NO_CONTEXT",
    message: "No session context yet: send client_hello with session_context first",
    retryable: true,
    frame_id: frameId,
  };
}

/** The terminal of a frame that arrived (or waited) while the process drains. */
function shuttingDown(frameId: string): ServerError {
  return {
    type: "server_error",
    code: "SHUTTING_DOWN",
    message: "Server is shutting down: reconnect to continue",
    retryable: false,
    frame_id: frameId,
  };
}

/** "1.1" when the client asks for 1.1 or later, else "1.0" (also for missing or junk). */
export function negotiateVersion(requested: string | null | undefined): ProtocolVersion {
  const m = /^(\d+)\.(\d+)/.exec(requested ?? "");
  if (!m) return "1.0";
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 1 || (major === 1 && minor >= 1) ? "1.1" : "1.0";
}

/** Whether a payload exceeds `max` UTF-8 bytes, without encoding it in the common case. */
function payloadBytesOver(data: unknown, max: number): boolean {
  if (typeof data === "string") {
    if (data.length > max) return true;
    if (data.length * 3 <= max) return false;
    return utf8BytesOver(data, max);
  }
  if (data instanceof ArrayBuffer) return data.byteLength > max;
  if (data instanceof Blob) return data.size > max;
  if (ArrayBuffer.isView(data)) return data.byteLength > max;
  return false;
}

/** Characters encoded per step when counting UTF-8 bytes. */
const COUNT_CHUNK = 256 * 1024;
const encoder = new TextEncoder();
let scratch: Uint8Array | undefined;

/**
 * Counts by encoding into one small reused buffer, a chunk at a time: a copy of the whole
 * message would cost a large allocation per message. A surrogate pair split between chunks
 * counts 2 bytes too many, which errs on the safe side.
 */
function utf8BytesOver(text: string, max: number): boolean {
  scratch ??= new Uint8Array(COUNT_CHUNK * 3);
  let bytes = 0;
  for (let i = 0; i < text.length; i += COUNT_CHUNK) {
    bytes += encoder.encodeInto(text.slice(i, i + COUNT_CHUNK), scratch).written;
    if (bytes > max) return true;
  }
  return false;
}
