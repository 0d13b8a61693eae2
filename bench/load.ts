/**
 * Closed-loop load generator for `/v1/proactive`, run as its own process so that the CPU it
 * burns is not charged to the server under test.
 *
 * `--mode load`: `--sessions` sessions each send `client_hello` (small context), wait for
 * `session_ready`, then loop: send a `frame_event` (OCR text, the context as Omi sends it on
 * every frame, and a JPEG of exactly `--bytes` decoded bytes), answer every
 * `tool_call_request` at once with an empty `tool_result`, wait for the terminal message
 * (`analysis_outcome` or `server_error`), record the latency, send the next frame. Session
 * starts are spread over `--stagger-ms` (with a fixed model latency, sessions that start
 * together would stay in lock-step and queue behind each other for ever). After
 * `--warmup-ms` the measuring window of `--window-ms` starts; only frames whose terminal
 * arrives inside it count. Errors (`server_error`, sockets closed by the server, frames
 * without a terminal after `--frame-timeout-ms`, failed connects) are counted over the
 * warm-up and the window; a session that lost its socket reconnects.
 *
 * `--mode idle`: opens `--sessions` sessions (`--batch` connects at a time), each says hello
 * and gets `session_ready`, reports, then holds them until its stdin closes.
 *
 * Protocol with the orchestrator: JSON lines on stdout — `ready`, `window_start`,
 * `window_end`, `result` (load); `idle_ready`, `done` (idle).
 *
 * Sockets are the minimal client of `raw_ws.ts`, not Deno's `WebSocket` (which stalls
 * ~44 ms per 1–64 KB client message on loopback). Each session's frame is built once and
 * patched in place (fixed-width frame number), so sending costs the generator no copy.
 *
 * `--shape typical` is the load of an outside review instead: Deno's own `WebSocket` as the
 * client, a `client_hello` with a typical user's context (20 active tasks,
 * `typical_context.ts`) and frames with 2 KB of OCR text and no context (the hello's stands).
 * Its frames are far larger than 64 KB, past the sizes where Deno's client stalls.
 * `--ocr-chars N` (typical shape) sends N characters of an ordinary busy screen's text
 * instead (numbers, ids, dates, nothing the privacy guard redacts), for the guard's cost.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { payloadOffset, RawWebSocket, textFrame } from "./raw_ws.ts";
import { percentile } from "./stats.ts";
import { screen } from "./privacy.ts";
import { typicalContext } from "./typical_context.ts";

/** What a load run reports (`result` line). */
export interface LoadResult {
  event: "result";
  sessions: number;
  bytes: number;
  windowMs: number;
  /** Frames whose terminal arrived inside the window. */
  frames: number;
  framesPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Tool calls answered per counted frame. */
  toolCallsPerFrame: number;
  outcomes: Record<string, number>;
  /** Errors during warm-up and window, by kind (`server_error:<code>`, `closed`, …). */
  errors: Record<string, number>;
  errorCount: number;
}

/** The context every session sends (small, like a new user's). */
export const BENCH_CONTEXT = {
  active_tasks: [
    { task_id: 1, description: "Prepare the Q2 board deck", priority: "high", relevance_score: 1 },
    {
      task_id: 2,
      description: "Review Sam's pull request #482",
      priority: "medium",
      relevance_score: 2,
    },
    { task_id: 3, description: "Book flights to Berlin", priority: "low", relevance_score: 3 },
  ],
  completed_tasks: [{ task_id: 4, description: "Send the invoice to Acme" }],
  deleted_tasks: [{ task_id: 5, description: "Renew the gym membership" }],
  goals: [{ goal_id: "g1", title: "Ship v2 by March", description: "Launch the new onboarding" }],
};

const OCR_TEXT = "Dana Whitfield 10:42 AM: Hey, can you send me the Q3 report before Friday's " +
  "review? Also please double-check the revenue numbers on slide 4. Thanks!";

/** Base64 of `bytes` bytes that look like a JPEG (SOI, JFIF APP0, noise, EOI). */
export function fakeJpegBase64(bytes: number): string {
  if (bytes <= 0) return "";
  const data = new Uint8Array(bytes);
  let x = 0x9e3779b9;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  const head = [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01];
  data.set(head.slice(0, Math.min(head.length, bytes)));
  if (bytes >= 2) data.set([0xff, 0xd9], bytes - 2);
  let binary = "";
  for (let i = 0; i < bytes; i += 0x8000) {
    binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

const DIGITS = 7;
const FIRST_FRAME = 10 ** (DIGITS - 1);

/** What a session sends: the small context on every frame, or a typical user's in the hello. */
export type LoadShape = "small" | "typical";

/** About 2 KB of OCR text: a chat window's worth of lines. */
export const TYPICAL_OCR_TEXT = Array.from(
  { length: 14 },
  (_, i) => `${OCR_TEXT} (${i + 1})`,
).join("\n").slice(0, 2048);

/** A session's frame, built once; `next()` patches the frame number in place. */
class PreparedFrame {
  readonly frame: Uint8Array;
  #offsets: number[];
  #n = FIRST_FRAME;
  #start: string;
  #mid: string;
  #rest: string;

  constructor(session: number, jpegBase64: string, shape: LoadShape, ocrText?: string) {
    this.#start = `{"type":"frame_event","frame_number":`;
    this.#mid = `,"screenshot_id":"s${String(session).padStart(5, "0")}-`;
    this.#rest = JSON.stringify(
      shape === "typical"
        ? {
          app_name: "Slack",
          window_title: "#design-review | Acme",
          ocr_text: ocrText ?? TYPICAL_OCR_TEXT,
          jpeg_base64: jpegBase64,
        }
        : {
          app_name: "Slack",
          window_title: "#design-review | Acme",
          ocr_text: OCR_TEXT,
          context_version: "v1",
          session_context: BENCH_CONTEXT,
          jpeg_base64: jpegBase64,
        },
    ).slice(1);
    this.frame = textFrame(new TextEncoder().encode(this.text()));
    const base = payloadOffset(this.frame);
    const start = this.#start.length;
    this.#offsets = [base + start, base + start + DIGITS + this.#mid.length];
  }

  /** Advances the frame number; returns the frame id the server will use. */
  next(): void {
    const digits = String(++this.#n);
    for (const offset of this.#offsets) {
      for (let i = 0; i < DIGITS; i++) this.frame[offset + i] = digits.charCodeAt(i);
    }
  }

  /** The frame as text, for a client that takes strings (Deno's `WebSocket`). */
  text(): string {
    return `${this.#start}${this.#n}${this.#mid}${this.#n}",${this.#rest}`;
  }
}

/** The socket of one session: `raw_ws.ts`'s, or Deno's `WebSocket` behind the same calls. */
interface LoadSocket {
  readonly closed: boolean;
  sendText(text: string): Promise<void>;
  sendPrepared(frame: PreparedFrame): Promise<void>;
  /** The next text message, or `null` once the socket is closed. */
  receive(): Promise<string | null>;
  close(): void;
}

class RawLoadSocket implements LoadSocket {
  constructor(readonly ws: RawWebSocket) {}
  get closed(): boolean {
    return this.ws.closed;
  }
  sendText(text: string): Promise<void> {
    return this.ws.sendText(text);
  }
  sendPrepared(frame: PreparedFrame): Promise<void> {
    return this.ws.sendFrame(frame.frame);
  }
  receive(): Promise<string | null> {
    return this.ws.receive();
  }
  close(): void {
    this.ws.close();
  }
}

/** Deno's own `WebSocket` client, as a desktop app written for Deno would use it. */
class DenoLoadSocket implements LoadSocket {
  #ws: WebSocket;
  #inbox: string[] = [];
  #waiter: ((text: string | null) => void) | undefined;
  #closed = false;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (event) => {
      const text = String(event.data);
      if (this.#waiter) {
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter(text);
      } else this.#inbox.push(text);
    };
    ws.onclose = () => this.#end();
    ws.onerror = () => this.#end();
  }

  static connect(url: string, timeoutMs: number): Promise<DenoLoadSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error("connect timed out"));
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new DenoLoadSocket(ws));
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error("connect failed"));
      };
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  #end(): void {
    this.#closed = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(null);
  }

  sendText(text: string): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("closed"));
    this.#ws.send(text);
    return Promise.resolve();
  }

  sendPrepared(frame: PreparedFrame): Promise<void> {
    return this.sendText(frame.text());
  }

  receive(): Promise<string | null> {
    const next = this.#inbox.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiter = resolve);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#ws.close();
    } catch {
      // already closing
    }
    this.#end();
  }
}

function emit(line: object): void {
  console.log(JSON.stringify(line));
}

function hello(shape: LoadShape): string {
  return JSON.stringify({
    type: "client_hello",
    protocol_version: "1.0",
    app_version: "bench",
    os_version: "linux",
    context_version: "v1",
    session_context: shape === "typical" ? typicalContext() : BENCH_CONTEXT,
  });
}

/** Connects and says hello; resolves once `session_ready` arrived. */
async function openSession(
  url: string,
  timeoutMs: number,
  shape: LoadShape = "small",
): Promise<LoadSocket> {
  const ws: LoadSocket = shape === "typical"
    ? await DenoLoadSocket.connect(url, timeoutMs)
    : new RawLoadSocket(await RawWebSocket.connect(url, { timeoutMs }));
  const timer = setTimeout(() => ws.close(), timeoutMs);
  try {
    await ws.sendText(hello(shape));
    for (;;) {
      const text = await ws.receive();
      if (text === null) throw new Error("closed before session_ready");
      if ((JSON.parse(text) as { type: string }).type === "session_ready") return ws;
    }
  } catch (err) {
    ws.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

interface LoadOptions {
  url: string;
  sessions: number;
  bytes: number;
  warmupMs: number;
  windowMs: number;
  frameTimeoutMs: number;
  drainMs: number;
  /** Session i sends its first frame after i/sessions of this (no lock-step convoys). */
  staggerMs: number;
  shape: LoadShape;
  /** Typical shape: this OCR text instead of {@link TYPICAL_OCR_TEXT}. */
  ocrText?: string;
}

async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const jpeg = fakeJpegBase64(o.bytes);
  const errors: Record<string, number> = {};
  const fail = (kind: string) => errors[kind] = (errors[kind] ?? 0) + 1;
  const outcomes: Record<string, number> = {};
  const latencies: number[] = [];
  let toolCalls = 0;
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let stopping = false;
  let counting = false;

  // Connect everyone first, so the warm-up starts with the full load.
  const sockets: (LoadSocket | undefined)[] = [];
  for (let i = 0; i < o.sessions; i += 100) {
    const batch = Array.from(
      { length: Math.min(100, o.sessions - i) },
      () =>
        openSession(o.url, 15_000, o.shape).catch(() => {
          fail("connect");
          return undefined;
        }),
    );
    sockets.push(...await Promise.all(batch));
  }
  emit({ event: "ready", sessions: sockets.filter(Boolean).length });
  counting = true;

  async function session(index: number): Promise<void> {
    const frame = new PreparedFrame(index, jpeg, o.shape, o.ocrText);
    let ws = sockets[index];
    if (o.staggerMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, (index / o.sessions) * o.staggerMs));
    }
    while (!stopping) {
      if (!ws || ws.closed) {
        try {
          ws = await openSession(o.url, 15_000, o.shape);
        } catch {
          fail("connect");
          await new Promise((resolve) => setTimeout(resolve, 100));
          ws = undefined;
          continue;
        }
      }
      frame.next();
      let timedOut = false;
      const socket = ws;
      const timer = setTimeout(() => {
        timedOut = true;
        socket.close();
      }, o.frameTimeoutMs);
      const sent = performance.now();
      let terminal: { type: string; outcome_kind?: string; code?: string } | undefined;
      let tools = 0;
      try {
        await socket.sendPrepared(frame);
        for (;;) {
          const text = await socket.receive();
          if (text === null) break;
          const message = JSON.parse(text) as {
            type: string;
            request_id?: string;
            frame_id?: string;
            outcome_kind?: string;
            code?: string;
          };
          if (message.type === "tool_call_request") {
            tools++;
            await socket.sendText(
              `{"type":"tool_result","request_id":"${message.request_id}","frame_id":"${message.frame_id}","results":[]}`,
            );
          } else if (message.type === "analysis_outcome" || message.type === "server_error") {
            terminal = message;
            break;
          }
        }
      } catch {
        // reported below as closed or timeout
      } finally {
        clearTimeout(timer);
      }
      const done = performance.now();
      if (!terminal) {
        if (!stopping || timedOut) fail(timedOut ? "timeout" : "closed");
        socket.close();
        ws = undefined;
        continue;
      }
      if (terminal.type === "server_error") {
        if (counting) fail(`server_error:${terminal.code}`);
      } else if (done >= windowStart && done <= windowEnd) {
        latencies.push(done - sent);
        toolCalls += tools;
        outcomes[terminal.outcome_kind ?? "?"] = (outcomes[terminal.outcome_kind ?? "?"] ?? 0) + 1;
      }
      if (done > windowEnd) break;
    }
    ws?.close();
  }

  const runs = Array.from({ length: o.sessions }, (_, i) => session(i));
  await new Promise((resolve) => setTimeout(resolve, o.warmupMs));
  windowStart = performance.now();
  emit({ event: "window_start" });
  await new Promise((resolve) => setTimeout(resolve, o.windowMs));
  windowEnd = performance.now();
  emit({ event: "window_end" });
  counting = false;
  stopping = true;
  // Let the frames in flight finish, so the next run starts on a quiet server.
  await Promise.race([
    Promise.all(runs),
    new Promise((resolve) => setTimeout(resolve, o.drainMs)),
  ]);
  for (const ws of sockets) ws?.close();

  const sorted = latencies.sort((a, b) => a - b);
  const windowMs = windowEnd - windowStart;
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    event: "result",
    sessions: o.sessions,
    bytes: o.bytes,
    windowMs: round(windowMs),
    frames: sorted.length,
    framesPerSecond: round(sorted.length / (windowMs / 1000)),
    latencyMs: {
      p50: round(percentile(sorted, 50)),
      p90: round(percentile(sorted, 90)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted.at(-1) ?? 0),
      mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    },
    toolCallsPerFrame: round(toolCalls / Math.max(1, sorted.length)),
    outcomes,
    errors,
    errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
  };
}

async function runIdle(url: string, sessions: number, batch: number): Promise<void> {
  const started = performance.now();
  const open: LoadSocket[] = [];
  let failed = 0;
  for (let i = 0; i < sessions; i += batch) {
    const results = await Promise.all(
      Array.from(
        { length: Math.min(batch, sessions - i) },
        () => openSession(url, 30_000).catch(() => undefined),
      ),
    );
    for (const ws of results) {
      if (ws) {
        open.push(ws);
        // Keep reading so pings are answered while the sessions sit idle.
        void (async () => {
          while (await ws.receive() !== null) { /* nothing is expected */ }
        })();
      } else failed++;
    }
  }
  emit({
    event: "idle_ready",
    opened: open.length,
    failed,
    ms: Math.round(performance.now() - started),
  });
  // Hold until the orchestrator closes our stdin.
  for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
  for (const ws of open) ws.close();
  emit({ event: "done" });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      url: { type: "string" },
      mode: { type: "string", default: "load" },
      sessions: { type: "string", default: "10" },
      bytes: { type: "string", default: "0" },
      "warmup-ms": { type: "string", default: "3000" },
      "window-ms": { type: "string", default: "10000" },
      "frame-timeout-ms": { type: "string", default: "30000" },
      "drain-ms": { type: "string", default: "5000" },
      "stagger-ms": { type: "string", default: "0" },
      batch: { type: "string", default: "100" },
      shape: { type: "string", default: "small" },
      "ocr-chars": { type: "string" },
    },
  });
  if (!values.url) {
    console.error("load: --url ws://host:port/v1/proactive is required");
    Deno.exit(2);
  }
  if (values.shape !== "small" && values.shape !== "typical") {
    console.error("load: --shape must be small or typical");
    Deno.exit(2);
  }
  const shape: LoadShape = values.shape;
  const ocrChars = values["ocr-chars"] === undefined ? undefined : Number(values["ocr-chars"]);
  if (
    ocrChars !== undefined && (shape !== "typical" || !(Number.isInteger(ocrChars) && ocrChars > 0))
  ) {
    console.error("load: --ocr-chars takes a positive integer, with --shape typical");
    Deno.exit(2);
  }
  if (values.mode === "idle") {
    await runIdle(values.url, Number(values.sessions), Number(values.batch));
  } else {
    emit(
      await runLoad({
        url: values.url,
        sessions: Number(values.sessions),
        bytes: Number(values.bytes),
        warmupMs: Number(values["warmup-ms"]),
        windowMs: Number(values["window-ms"]),
        frameTimeoutMs: Number(values["frame-timeout-ms"]),
        drainMs: Number(values["drain-ms"]),
        staggerMs: Number(values["stagger-ms"]),
        shape,
        ...(ocrChars === undefined ? {} : { ocrText: screen(ocrChars, { secrets: false }) }),
      }),
    );
  }
  Deno.exit(0);
}
