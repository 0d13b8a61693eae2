/**
 * A slowloris guard in front of `Deno.serve`, which has no header timeout of its own: a
 * connection that sends its request head slowly, in part or not at all stays open for ever.
 *
 * The guard owns the public listener. Each connection must send a complete request head
 * within `headerTimeoutMs`, and the server must start answering it within
 * `responseTimeoutMs` (authentication included); otherwise the connection is closed and
 * counted (`proactive_connection_timeouts_total{phase}`). A request that is not a WebSocket
 * upgrade is forwarded with `Connection: close`, and an upgrade the server refuses ends its
 * connection once the refusal is through, so no later request on the same connection escapes
 * the deadline. A WebSocket upgrade of `/v1/proactive` is served here, on the accepted
 * connection itself, when the guard is given the handler's upgrade (`upgrade`): the handler
 * decides it as it does for `Deno.serve`, and `websocket.ts` speaks the protocol, so a
 * session holds one socket and its bytes are read once. Anything else is copied both ways
 * untouched to the real server, which listens on loopback only. A failed accept (out of file
 * descriptors) is retried with backoff.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Handler, UpgradeAcceptor } from "./handler.ts";
import type { Metrics } from "./metrics.ts";
import { acceptKey, ServerWebSocket, validKey, writeAll } from "./websocket.ts";

/** Options of {@link startHeadGuard}. */
export interface HeadGuardOptions {
  hostname: string;
  port: number;
  /**
   * The real server, on loopback; read once per connection, so the guard may bind its public
   * port before the real server binds its own.
   */
  target: Deno.NetAddr | (() => Deno.NetAddr);
  headerTimeoutMs: number;
  responseTimeoutMs: number;
  metrics: Metrics;
  log: Logger;
  /**
   * Serves `/v1/proactive`'s WebSocket upgrades here, on the connection the guard accepted
   * (`websocket.ts`), instead of relaying them: the handler's upgrade. Absent: relayed.
   */
  upgrade?: Handler["upgradeWith"];
}

/** A running guard. */
export interface HeadGuard {
  readonly addr: Deno.NetAddr;
  /** Stops accepting; connections already accepted go on. */
  stopAccepting(): void;
  /**
   * Stops accepting, lets the connections still open end by themselves for up to `graceMs`
   * (what the server already wrote still reaches the client), then closes the rest.
   */
  close(graceMs: number): Promise<void>;
}

/** Largest request head accepted; larger gets 431. */
export const MAX_HEAD_BYTES = 64 * 1024;

const CHUNK_BYTES = 64 * 1024;
const ACCEPT_BACKOFF_MS = 10;
const MAX_ACCEPT_BACKOFF_MS = 1_000;
const HEAD_END = [13, 10, 13, 10];

/** Listens on `hostname:port` and forwards each connection once its head is complete. */
export function startHeadGuard(options: HeadGuardOptions): HeadGuard {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  /** What `close` must close: a connection still reading its head, or a relay. */
  const served: Served = { open: new Set(), tracker: new Tracker() };
  const { open, tracker } = served;
  let accepting = true;

  const accepted = (async () => {
    let failing = false;
    let backoffMs = ACCEPT_BACKOFF_MS;
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
        failing = false;
        backoffMs = ACCEPT_BACKOFF_MS;
      } catch (err) {
        if (!accepting) return; // The listener was closed.
        // Out of file descriptors or memory, a connection aborted in the backlog: the port
        // must go on serving once it passes, so wait a little and accept again.
        if (!failing) {
          failing = true;
          options.log.error("accept failed; retrying", {
            error: err instanceof Error ? err.name : "unknown",
          });
        }
        options.metrics.acceptErrors.inc();
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(MAX_ACCEPT_BACKOFF_MS, backoffMs * 2);
        continue;
      }
      tracker.add();
      void serveConnection(conn, options, served);
    }
  })();

  const stopAccepting = () => {
    if (!accepting) return;
    accepting = false;
    try {
      listener.close();
    } catch {
      // Already closed.
    }
  };
  return {
    addr: listener.addr as Deno.NetAddr,
    stopAccepting,
    async close(graceMs) {
      stopAccepting();
      await accepted;
      if (tracker.active) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          tracker.idle(),
          new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
        ]);
        clearTimeout(timer);
      }
      for (const item of open) closeQuietly(item);
      open.clear();
      await tracker.idle();
    },
  };
}

/**
 * Counts the connections being served, so that `close` can wait for them without a promise
 * per connection.
 */
class Tracker {
  active = 0;
  #waiters: Array<() => void> = [];

  add(): void {
    this.active++;
  }

  /** One connection is fully closed. */
  done(): void {
    if (--this.active > 0) return;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Settles once no connection is being served. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/**
 * Guards one connection's head, then hands it to a {@link Relay}, which closes it. Returns as
 * soon as the relay runs: an idle relayed connection holds no pending call of its own.
 */
async function serveConnection(
  conn: Deno.TcpConn,
  options: HeadGuardOptions,
  served: Served,
): Promise<void> {
  const { open, tracker } = served;
  open.add(conn);
  let upstream: Deno.TcpConn | undefined;
  try {
    // Small messages must not wait for delayed ACKs, on either hop.
    conn.setNoDelay(true);
    const head = await readHead(conn, options);
    if (head?.upgrade && oldHttp(head.text)) {
      // RFC 6455 §4.1: an upgrade needs HTTP/1.1 (Deno.serve would accept this one).
      await answer(conn, 400, "Bad Request");
    } else if (head?.upgrade && options.upgrade && ownUpgrade(head.text)) {
      open.delete(conn);
      await serveUpgrade(conn, head, options, served);
      return;
    } else if (head) {
      const target = typeof options.target === "function" ? options.target() : options.target;
      upstream = await Deno.connect({ hostname: target.hostname, port: target.port });
      upstream.setNoDelay(true);
      await writeAll(upstream, head.bytes);
      // Still open (`close` did not run meanwhile): the relay owns both from here on.
      if (open.delete(conn)) {
        new Relay(conn, upstream, options, head.upgrade, served);
        return;
      }
    }
  } catch {
    // Either side went away: nothing to answer.
  }
  closeQuietly(conn);
  open.delete(conn);
  if (upstream) closeQuietly(upstream);
  tracker.done();
}

/**
 * Reads until the request head is complete: the bytes to forward (head rewritten as needed,
 * plus whatever followed it), or `undefined` when the connection was closed or answered here.
 */
async function readHead(
  conn: Deno.Conn,
  options: HeadGuardOptions,
): Promise<ForwardedHead | undefined> {
  let buffer = new Uint8Array(1024);
  let length = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    options.metrics.connectionTimeouts.inc({ phase: "head" });
    options.log.info("connection closed: request head too slow", {
      ms: options.headerTimeoutMs,
      bytes: length,
    });
    // A client that sent part of a request is told why; closing ends the pending read.
    if (length > 0) void answer(conn, 408, "Request Timeout").finally(() => closeQuietly(conn));
    else closeQuietly(conn);
  }, options.headerTimeoutMs);
  try {
    for (;;) {
      if (length === buffer.length) {
        if (length >= MAX_HEAD_BYTES) {
          options.log.info("connection refused: request head too large", { bytes: length });
          await answer(conn, 431, "Request Header Fields Too Large");
          return undefined;
        }
        const grown = new Uint8Array(Math.min(MAX_HEAD_BYTES, buffer.length * 2));
        grown.set(buffer);
        buffer = grown;
      }
      let n: number | null;
      try {
        n = await conn.read(buffer.subarray(length));
      } catch {
        return undefined;
      }
      if (n === null || timedOut) return undefined;
      const from = Math.max(0, length - 3);
      length += n;
      const end = indexOfHeadEnd(buffer, from, length);
      if (end >= 0) return rewriteHead(buffer.subarray(0, end), buffer.subarray(end, length));
    }
  } finally {
    clearTimeout(timer);
  }
}

function indexOfHeadEnd(buffer: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 4 <= to; i++) {
    if (
      buffer[i] === HEAD_END[0] && buffer[i + 1] === HEAD_END[1] &&
      buffer[i + 2] === HEAD_END[2] && buffer[i + 3] === HEAD_END[3]
    ) {
      return i + 4;
    }
  }
  return -1;
}

/**
 * The head as forwarded: unchanged for a WebSocket upgrade; otherwise with
 * `Connection: close`, so that the server ends the connection after its answer.
 */
function rewriteHead(head: Uint8Array, rest: Uint8Array): ForwardedHead {
  const text = latin1(head);
  const lines = text.slice(0, -4).split("\r\n");
  const isUpgrade = lines.some((line) => /^upgrade\s*:\s*websocket\s*$/i.test(line));
  let out: string;
  if (isUpgrade) out = text;
  else {
    const kept = lines.filter((line, i) => i === 0 || !/^connection\s*:/i.test(line));
    out = `${kept.join("\r\n")}\r\nConnection: close\r\n\r\n`;
  }
  const bytes = latin1Bytes(out, rest.length);
  bytes.set(rest, out.length);
  return { bytes, upgrade: isUpgrade, text, rest: rest.slice() };
}

/** A request head as forwarded, and whether it asked for a WebSocket upgrade. */
interface ForwardedHead {
  bytes: Uint8Array;
  upgrade: boolean;
  /** The head as it came, `\r\n\r\n` included. */
  text: string;
  /** What the client sent after the head. */
  rest: Uint8Array;
}

/** A token of RFC 9110 (header names). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether a head's request line is of HTTP/1.0. */
function oldHttp(text: string): boolean {
  return text.slice(0, text.indexOf("\r\n")).endsWith(" HTTP/1.0");
}

/** Whether a WebSocket upgrade head asks for `GET /v1/proactive` (its own, not relayed). */
function ownUpgrade(text: string): boolean {
  const line = text.slice(0, text.indexOf("\r\n"));
  return /^GET \/v1\/proactive(\?\S*)? HTTP\/1\.1$/.test(line);
}

/**
 * The request a head describes, or `undefined` when it is not well-formed HTTP/1.1 (which
 * includes a `Host` missing, empty or given twice: RFC 9112 §3.2, RFC 6455 §4.2.1).
 */
function requestOf(text: string): Request | undefined {
  const lines = text.slice(0, -4).split("\r\n");
  const [method, target] = lines[0]!.split(" ") as [string, string];
  const headers = new Headers();
  let hosts = 0;
  try {
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon);
      if (colon <= 0 || !TOKEN.test(name)) return undefined; // Obsolete folding, no name.
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "host" && (++hosts > 1 || value === "")) return undefined;
      headers.append(name, value);
    }
    if (hosts !== 1) return undefined;
    return new Request(`http://localhost${target}`, { method, headers });
  } catch {
    return undefined;
  }
}

/**
 * A WebSocket upgrade of `/v1/proactive`, served on `conn`: the handler decides it (every
 * check of `Deno.serve`'s path) within `responseTimeoutMs`; accepted, the connection becomes
 * a {@link ServerWebSocket}; refused, the refusal is written and the connection ends.
 */
async function serveUpgrade(
  conn: Deno.TcpConn,
  head: ForwardedHead,
  options: HeadGuardOptions,
  served: Served,
): Promise<void> {
  const { open, tracker } = served;
  const request = requestOf(head.text);
  if (!request) {
    await answer(conn, 400, "Bad Request");
    closeQuietly(conn);
    tracker.done();
    return;
  }
  const key = request.headers.get("sec-websocket-key");
  const accept = validKey(key) ? await acceptKey(key.trim()) : undefined;
  let socket: ServerWebSocket | undefined;
  /** Set once the guard gave up on the answer (deadline, close): too late to accept. */
  let abandoned = false;
  const acceptor: UpgradeAcceptor = (request, o) => {
    const connection = request.headers.get("connection") ?? "";
    if (
      abandoned || accept === undefined || request.headers.get("sec-websocket-version") !== "13" ||
      !connection.split(",").some((t) => t.trim().toLowerCase() === "upgrade")
    ) {
      throw new Error("malformed handshake");
    }
    socket = new ServerWebSocket(conn, {
      maxMessageBytes: o.maxMessageBytes,
      idleTimeoutSeconds: o.idleTimeoutSeconds,
    }, head.rest);
    socket.writeHandshake(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
        `sec-websocket-accept: ${accept}\r\n` +
        (o.protocol ? `sec-websocket-protocol: ${o.protocol}\r\n` : "") + "\r\n",
    );
    return { socket, response: new Response(null, { status: 204 }) };
  };
  // The client is watched meanwhile: the connection is closed by `close` or the deadline.
  const pending = { close: () => closeQuietly(conn) };
  open.add(pending);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      options.metrics.connectionTimeouts.inc({ phase: "response" });
      options.log.warn("connection closed: no response in time", {
        ms: options.responseTimeoutMs,
      });
      resolve(undefined);
    }, options.responseTimeoutMs);
  });
  let response: Response | undefined;
  try {
    response = await Promise.race([options.upgrade!(request, acceptor), timedOut]);
  } catch {
    response = undefined;
  } finally {
    clearTimeout(timer);
    open.delete(pending);
    abandoned = true;
  }
  if (socket) {
    // Accepted (even if the deadline passed meanwhile: a session exists and owns it now).
    const ws = socket;
    // The handler failed after making it (nothing will start it): it ends here.
    if (!response) ws.abort();
    const entry = { close: () => ws.abort() };
    open.add(entry);
    void ws.finished.then(() => {
      open.delete(entry);
      tracker.done();
    });
    return;
  }
  if (response) await writeResponse(conn, response);
  closeQuietly(conn);
  tracker.done();
}

/** Reason phrases of the statuses a refused upgrade gets (RFC 9110 §15). */
const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Writes a (refusal) response and its body, as HTTP/1.1 with `connection: close`. */
async function writeResponse(conn: Deno.Conn, response: Response): Promise<void> {
  try {
    const body = new Uint8Array(await response.arrayBuffer());
    const reason = response.statusText || REASONS[response.status] || "Unknown";
    let head = `HTTP/1.1 ${response.status} ${reason}\r\ndate: ${new Date().toUTCString()}\r\n`;
    for (const [name, value] of response.headers) {
      if (name !== "content-length" && name !== "connection" && name !== "date") {
        head += `${name}: ${value}\r\n`;
      }
    }
    head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
    const bytes = latin1Bytes(head, body.length);
    bytes.set(body, head.length);
    await writeAll(conn, bytes);
  } catch {
    // The client is gone.
  }
}

/** `text`'s characters as bytes (a request or response head), with `room` bytes after them. */
function latin1Bytes(text: string, room = 0): Uint8Array {
  const bytes = new Uint8Array(text.length + room);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
  return bytes;
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

/** What relays share: the guard's set of open connections and its count of them. */
interface Served {
  open: Set<{ close(): void }>;
  tracker: Tracker;
}

/**
 * Copies both ways until either side ends. The server must start answering within
 * `responseTimeoutMs`.
 *
 * A client that half-closes (sends its request, then EOF) still gets its answer: its EOF is
 * passed on, and the connection ends when the server's side does (or on any error). An
 * upgrade the server refuses (401, 429, …) is forwarded without `Connection: close` (the
 * upgrade needs its own `Connection` header), so its end is found here: once the refusal is
 * through, the connection ends, and no second head can follow unguarded.
 *
 * Thousands of these sit idle, so one holds little: the two connections and, per direction,
 * a {@link Pipe} waiting in one read on a small buffer.
 */
class Relay {
  readonly client: Deno.TcpConn;
  readonly upstream: Deno.TcpConn;
  /** Follows the server's answer to an upgrade until it is known to be a 101. */
  refusal: RefusalWatch | undefined;
  #served: Served;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pipes = 2;
  #closed = false;

  constructor(
    client: Deno.TcpConn,
    upstream: Deno.TcpConn,
    options: HeadGuardOptions,
    upgrade: boolean,
    served: Served,
  ) {
    this.client = client;
    this.upstream = upstream;
    this.#served = served;
    if (upgrade) this.refusal = new RefusalWatch();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      options.metrics.connectionTimeouts.inc({ phase: "response" });
      options.log.warn("connection closed: no response in time", {
        ms: options.responseTimeoutMs,
      });
      this.close();
    }, options.responseTimeoutMs);
    served.open.add(this);
    // One buffer for both directions' idle reads.
    const idle = new Uint8Array(2 * IDLE_BYTES);
    new Pipe(this, false, idle.subarray(0, IDLE_BYTES));
    new Pipe(this, true, idle.subarray(IDLE_BYTES));
  }

  /** The server's first bytes are on their way: its deadline is met. */
  answered(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Ends both connections (the pipes then end too). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.answered();
    this.refusal = undefined;
    closeQuietly(this.client);
    closeQuietly(this.upstream);
  }

  /**
   * A pipe ended (`eof`: its sender's EOF, or the end of a refusal; false when either side
   * failed). `client → upstream` at the client's EOF passes it on and lets the answer come;
   * anything else ends the relay.
   */
  async pipeEnded(down: boolean, eof: boolean): Promise<void> {
    if (!down && eof && !this.#closed) {
      try {
        await this.upstream.closeWrite();
      } catch {
        this.close();
      }
    } else this.close();
    if (--this.#pipes > 0) return;
    this.close();
    this.#served.open.delete(this);
    this.#served.tracker.done();
  }
}

/**
 * Follows the server's first response to an upgrade request: a 101 is left alone; any other
 * answer is complete once its head and `content-length` bytes of body have gone through.
 */
class RefusalWatch {
  #head = "";
  /** Body bytes still to come; undefined until the head is read, -1 once not watching. */
  #left: number | undefined;

  /** False once the answer is known not to need watching (a 101, or no `content-length`). */
  get watching(): boolean {
    return this.#left !== -1;
  }

  /** Whether the refusal is now complete, given the next chunk the server sent. */
  complete(chunk: Uint8Array): boolean {
    if (this.#left === -1) return false;
    if (this.#left !== undefined) {
      this.#left -= chunk.length;
      return this.#left <= 0;
    }
    this.#head += latin1(chunk.subarray(0, MAX_HEAD_BYTES));
    const end = this.#head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (this.#head.length >= MAX_HEAD_BYTES) this.#stop();
      return false;
    }
    const head = this.#head.slice(0, end);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (/^HTTP\/1\.[01] 101 /.test(head) || !length) {
      // Switched protocols, or a body whose end the server marks by closing: not watched.
      this.#stop();
      return false;
    }
    this.#left = Number(length[1]) - (this.#head.length - end - 4);
    this.#head = "";
    return this.#left <= 0;
  }

  #stop(): void {
    this.#left = -1;
    this.#head = "";
  }
}

/**
 * Bytes an idle connection waits on, per direction. Kept small: thousands of connections
 * wait at once. A read that fills it is followed at once by one into a larger buffer (see
 * {@link Pipe}), so a longer message still goes out in one write.
 */
const IDLE_BYTES = 128;
/**
 * Buffers lent for a moment to pipes moving more than {@link IDLE_BYTES}: a medium one for
 * the common message (a hello, an outcome), a big one ({@link CHUNK_BYTES}) once that fills.
 */
const MEDIUM_BYTES = 4 * 1024;

/**
 * Buffers kept for reuse, by size. A burst of connections borrows many at once; the pools
 * keep at most 256 KiB of medium and 4 MiB of big buffers.
 */
const pools = {
  medium: { buffers: [] as Uint8Array[], max: 64 },
  big: { buffers: [] as Uint8Array[], max: 64 },
};

function borrow(bytes: number): Uint8Array {
  const pool = bytes === MEDIUM_BYTES ? pools.medium : pools.big;
  return pool.buffers.pop() ?? new Uint8Array(bytes);
}

function giveBack(buffer: Uint8Array): void {
  const pool = buffer.length === MEDIUM_BYTES ? pools.medium : pools.big;
  if (pool.buffers.length < pool.max) pool.buffers.push(buffer);
}

/** What {@link soon} answers when the promise has not settled yet. */
const PENDING = Symbol("pending");
/**
 * Microtask turns {@link soon} waits. A read whose bytes have already arrived settles within
 * two (Deno completes such an op when it is called); eight leave room.
 */
const SOON_TURNS = 8;

/** `promise`'s outcome if it settles within a few microtask turns, else {@link PENDING}. */
function soon<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  let later: Promise<T | typeof PENDING> = Promise.resolve(PENDING);
  for (let i = 1; i < SOON_TURNS; i++) later = later.then(pendingValue);
  return Promise.race([promise, later]);
}

function pendingValue(): typeof PENDING {
  return PENDING;
}

/**
 * Copies one way (`down`: server → client) until the sending side ends, then tells the relay.
 *
 * An idle pipe waits in one read on its small `idle` buffer and holds no call of its own
 * meanwhile (a callback, not an `await`: a suspended async function costs a few hundred
 * bytes more per direction). A read that fills its buffer means more is probably there: the
 * bytes move to a larger borrowed buffer (medium, then big) and the read goes on behind them
 * at once. If that read settles right away, it all goes out in one write; if not, the bytes
 * held so far go out now (nothing may wait for input that might never come) and the read
 * completes into the borrowed buffer later. The big buffer stays while reads fill it; once
 * a read does not fill its buffer, the borrowed one goes back and the pipe waits on its idle
 * buffer again.
 */
class Pipe {
  readonly #relay: Relay;
  readonly #down: boolean;
  readonly #idle: Uint8Array;
  /** The borrowed buffer in use, if any. */
  #borrowed: Uint8Array | undefined;
  /** The read in flight, if any: its buffer is in use. */
  #reading: Promise<number | null> | undefined;
  /** Settles an idle read: its count, `null` at EOF, or the error (one closure for both). */
  readonly #onIdleRead = (outcome: unknown) => {
    if (typeof outcome === "number" || outcome === null) void this.#burst(outcome);
    else void this.#end(false);
  };

  constructor(relay: Relay, down: boolean, idle: Uint8Array) {
    this.#relay = relay;
    this.#down = down;
    this.#idle = idle;
    this.#wait();
  }

  get #from(): Deno.Conn {
    return this.#down ? this.#relay.upstream : this.#relay.client;
  }

  /** Waits for the next bytes on the idle buffer. */
  #wait(): void {
    this.#reading = this.#from.read(this.#idle);
    this.#reading.then(this.#onIdleRead, this.#onIdleRead);
  }

  /** A read on the idle buffer gave `first` bytes: moves the burst they began, then waits. */
  async #burst(first: number | null): Promise<void> {
    this.#reading = undefined;
    if (first === null) return await this.#end(true);
    try {
      let buffer = this.#idle;
      /** Bytes in `buffer`, of which the first `sent` are forwarded. */
      let at = first;
      let sent = 0;
      for (;;) {
        if (at === buffer.length && buffer.length < CHUNK_BYTES) {
          // Full: the rest is probably here already; read on behind it in a larger buffer.
          const larger = borrow(buffer === this.#idle ? MEDIUM_BYTES : CHUNK_BYTES);
          larger.set(buffer.subarray(sent, at));
          at -= sent;
          sent = 0;
          if (this.#borrowed) giveBack(this.#borrowed);
          buffer = this.#borrowed = larger;
        } else {
          if (await this.#forward(buffer.subarray(sent, at))) return await this.#end(true);
          // A read that did not fill its buffer ends the burst.
          if (at < buffer.length) break;
          at = 0;
          sent = 0;
        }
        const reading = this.#reading = this.#from.read(at === 0 ? buffer : buffer.subarray(at));
        let n = sent < at ? await soon(reading) : await reading;
        if (n === PENDING) {
          if (await this.#forward(buffer.subarray(sent, at))) return await this.#end(true);
          sent = at;
          n = await reading;
        }
        this.#reading = undefined;
        if (n === null) {
          if (sent < at) await this.#forward(buffer.subarray(sent, at));
          return await this.#end(true);
        }
        at += n;
      }
    } catch {
      return await this.#end(false); // Either side closed.
    }
    this.#release();
    this.#wait();
  }

  /** Writes one chunk on; true when the relay should end here (a refusal is through). */
  async #forward(chunk: Uint8Array): Promise<boolean> {
    const relay = this.#relay;
    if (!this.#down) {
      await writeAll(relay.upstream, chunk);
      return false;
    }
    relay.answered();
    await writeAll(relay.client, chunk);
    const refusal = relay.refusal;
    if (!refusal) return false;
    if (refusal.complete(chunk)) return true;
    if (!refusal.watching) relay.refusal = undefined;
    return false;
  }

  #release(): void {
    if (this.#borrowed) giveBack(this.#borrowed);
    this.#borrowed = undefined;
  }

  async #end(eof: boolean): Promise<void> {
    if (this.#reading) {
      // Ended while a read was in flight (closing the connection ends it): its buffer may
      // still be written to, so it does not go back to the pool.
      this.#reading.catch(() => {});
      this.#reading = undefined;
      this.#borrowed = undefined;
    } else this.#release();
    await this.#relay.pipeEnded(this.#down, eof);
  }
}

async function answer(conn: Deno.Conn, status: number, reason: string): Promise<void> {
  const body = JSON.stringify({ error: reason.toLowerCase().replaceAll(" ", "_") });
  const text = `HTTP/1.1 ${status} ${reason}\r\ndate: ${new Date().toUTCString()}\r\n` +
    `content-type: application/json\r\ncontent-length: ${body.length}\r\n` +
    `connection: close\r\n\r\n${body}`;
  try {
    await writeAll(conn, new TextEncoder().encode(text));
  } catch {
    // The client is gone.
  }
}

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
