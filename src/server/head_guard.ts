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
 * the deadline. Otherwise bytes are copied both ways untouched to the real server, which
 * listens on loopback only. A failed accept (out of file descriptors) is retried with backoff.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Metrics } from "./metrics.ts";

/** Options of {@link startHeadGuard}. */
export interface HeadGuardOptions {
  hostname: string;
  port: number;
  /** The real server, on loopback. */
  target: Deno.NetAddr;
  headerTimeoutMs: number;
  responseTimeoutMs: number;
  metrics: Metrics;
  log: Logger;
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
  const open = new Set<Deno.Conn>();
  const running = new Set<Promise<void>>();
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
      const served = serveConnection(conn, options, open);
      running.add(served);
      void served.finally(() => running.delete(served));
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
      if (running.size) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.allSettled([...running]),
          new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
        ]);
        clearTimeout(timer);
      }
      for (const conn of open) closeQuietly(conn);
      open.clear();
      await Promise.allSettled([...running]);
    },
  };
}

async function serveConnection(
  conn: Deno.TcpConn,
  options: HeadGuardOptions,
  open: Set<Deno.Conn>,
): Promise<void> {
  open.add(conn);
  let upstream: Deno.TcpConn | undefined;
  try {
    // Small messages must not wait for delayed ACKs, on either hop.
    conn.setNoDelay(true);
    const head = await readHead(conn, options);
    if (!head) return;
    upstream = await Deno.connect({ hostname: options.target.hostname, port: options.target.port });
    open.add(upstream);
    upstream.setNoDelay(true);
    await writeAll(upstream, head.bytes);
    await relay(conn, upstream, options, head.upgrade);
  } catch {
    // Either side went away: nothing to answer.
  } finally {
    closeQuietly(conn);
    open.delete(conn);
    if (upstream) {
      closeQuietly(upstream);
      open.delete(upstream);
    }
  }
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
  const bytes = new Uint8Array(out.length + rest.length);
  for (let i = 0; i < out.length; i++) bytes[i] = out.charCodeAt(i) & 0xff;
  bytes.set(rest, out.length);
  return { bytes, upgrade: isUpgrade };
}

/** A request head as forwarded, and whether it asked for a WebSocket upgrade. */
interface ForwardedHead {
  bytes: Uint8Array;
  upgrade: boolean;
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

/**
 * Copies both ways until either side ends. The server must start answering within
 * `responseTimeoutMs`.
 */
async function relay(
  client: Deno.TcpConn,
  upstream: Deno.TcpConn,
  options: HeadGuardOptions,
  upgrade: boolean,
): Promise<void> {
  let answered = false;
  const timer = setTimeout(() => {
    if (answered) return;
    options.metrics.connectionTimeouts.inc({ phase: "response" });
    options.log.warn("connection closed: no response in time", { ms: options.responseTimeoutMs });
    closeQuietly(upstream);
    closeQuietly(client);
  }, options.responseTimeoutMs);
  let over!: () => void;
  const ended = new Promise<void>((resolve) => over = resolve);
  // A client that half-closes (sends its request, then EOF) still gets its answer: its EOF is
  // passed on, and the connection ends when the server's side does (or on any error).
  // An upgrade the server refuses (401, 429, …) is forwarded without `Connection: close`
  // (the upgrade needs its own `Connection` header), so its end is found here: once the
  // refusal is through, the connection ends, and no second head can follow unguarded.
  const refusal = upgrade ? new RefusalWatch() : undefined;
  const up = copy(client, upstream, () => {}).then(async (eof) => {
    if (!eof) return over();
    try {
      await upstream.closeWrite();
    } catch {
      over();
    }
  });
  const down = copy(upstream, client, () => {
    if (!answered) {
      answered = true;
      clearTimeout(timer);
    }
  }, refusal && ((chunk) => refusal.complete(chunk))).then(() => over());
  try {
    await ended;
  } finally {
    clearTimeout(timer);
    closeQuietly(client);
    closeQuietly(upstream);
    await Promise.allSettled([up, down]);
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
      if (this.#head.length >= MAX_HEAD_BYTES) this.#left = -1;
      return false;
    }
    const head = this.#head.slice(0, end);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (/^HTTP\/1\.[01] 101 /.test(head) || !length) {
      // Switched protocols, or a body whose end the server marks by closing: not watched.
      this.#left = -1;
      return false;
    }
    this.#left = Number(length[1]) - (this.#head.length - end - 4);
    this.#head = "";
    return this.#left <= 0;
  }
}

/**
 * Big buffers lent to connections that are moving data; an idle connection waits on a small
 * one of its own, so thousands of idle sessions cost little.
 */
const pool: Uint8Array[] = [];
const POOL_MAX = 64;
const IDLE_BYTES = 2048;

/**
 * Copies until `from` ends: true at its EOF, false when either side failed. `done`, when
 * given, sees each chunk once it is written and may end the copy (true).
 */
async function copy(
  from: Deno.Conn,
  to: Deno.Conn,
  onData: () => void,
  done?: (chunk: Uint8Array) => boolean,
): Promise<boolean> {
  const small = new Uint8Array(IDLE_BYTES);
  let big: Uint8Array | undefined;
  try {
    for (;;) {
      const buffer = big ?? small;
      const n = await from.read(buffer);
      if (n === null) return true;
      onData();
      await writeAll(to, buffer.subarray(0, n));
      if (done?.(buffer.subarray(0, n))) return true;
      if (n === buffer.length) big ??= pool.pop() ?? new Uint8Array(CHUNK_BYTES);
      else if (big) {
        if (pool.length < POOL_MAX) pool.push(big);
        big = undefined;
      }
    }
  } catch {
    return false; // Either side closed.
  } finally {
    if (big && pool.length < POOL_MAX) pool.push(big);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

async function answer(conn: Deno.Conn, status: number, reason: string): Promise<void> {
  const body = JSON.stringify({ error: reason.toLowerCase().replaceAll(" ", "_") });
  const text = `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
    `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
  try {
    await writeAll(conn, new TextEncoder().encode(text));
  } catch {
    // The client is gone.
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
