/**
 * A minimal RFC 6455 WebSocket client on `Deno.connect`, for the benchmark's load generator
 * and the client-latency probe.
 *
 * Why not Deno's `WebSocket`: on loopback it stalls ~44 ms per client message of 1–64 KB
 * (see `ws_client_latency.ts` and BENCHMARKS.md), which would turn the 4 KB rows of
 * the benchmark into a measurement of that stall. This client sets `TCP_NODELAY` and writes
 * each frame (header, mask key and payload) in one write. It also costs the load generator
 * little CPU: a frame can be prepared once ({@link textFrame}) and sent again and again, and
 * the default mask key is all zeros (valid per RFC 6455 §5.3: the payload is XORed with it,
 * i.e. unchanged), so nothing is copied or masked per send.
 *
 * Only what the benchmark needs: text frames out, unfragmented frames in, pings answered.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options of {@link RawWebSocket.connect}. */
export interface RawConnectOptions {
  /** `TCP_NODELAY` (default true). */
  noDelay?: boolean;
  /** Gives up connecting after this many ms (default 10 000). */
  timeoutMs?: number;
}

/** Builds one client text frame (FIN, opcode 1) around `payload`, masked with `mask`. */
export function textFrame(payload: Uint8Array, mask?: Uint8Array): Uint8Array {
  const n = payload.length;
  const headerLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = new Uint8Array(headerLength + 4 + n);
  writeHeader(frame, 0x81, n);
  const body = headerLength + 4;
  frame.set(payload, body);
  if (mask && mask.some((b) => b !== 0)) {
    frame.set(mask, headerLength);
    for (let i = 0; i < n; i++) frame[body + i]! ^= mask[i & 3]!;
  }
  return frame;
}

function writeHeader(frame: Uint8Array, first: number, n: number): void {
  frame[0] = first;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = n >> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer, frame.byteOffset).setBigUint64(2, BigInt(n));
  }
}

/** Where the payload of a frame built by {@link textFrame} starts. */
export function payloadOffset(frame: Uint8Array): number {
  const len = frame[1]! & 0x7f;
  return (len < 126 ? 2 : len === 126 ? 4 : 10) + 4;
}

/** A client connection; one reader at a time. */
export class RawWebSocket {
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Opens `url` (`ws://host:port/path`) and completes the upgrade. */
  static async connect(url: string, options: RawConnectOptions = {}): Promise<RawWebSocket> {
    const u = new URL(url);
    const port = Number(u.port || 80);
    const conn = await Deno.connect({ hostname: u.hostname, port });
    const ws = new RawWebSocket(conn);
    const timer = setTimeout(() => ws.close(), options.timeoutMs ?? 10_000);
    try {
      conn.setNoDelay(options.noDelay ?? true);
      const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
      await ws.#write(encoder.encode(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ));
      for (;;) {
        const end = ws.#indexOfHeadEnd();
        if (end >= 0) {
          const head = decoder.decode(ws.#buf.subarray(ws.#start, end));
          ws.#start = end + 4;
          if (!/^HTTP\/1\.1 101/.test(head)) {
            ws.close();
            throw new Error(`Upgrade refused: ${head.split("\r\n")[0]}`);
          }
          return ws;
        }
        if (!(await ws.#fill())) throw new Error("Connection closed during the upgrade");
      }
    } catch (err) {
      ws.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether the connection is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `text` as one text frame (mask key all zeros unless `mask` is given). */
  sendText(text: string, mask?: Uint8Array): Promise<void> {
    return this.#write(textFrame(encoder.encode(text), mask));
  }

  /** Sends a frame built by {@link textFrame}. */
  sendFrame(frame: Uint8Array): Promise<void> {
    return this.#write(frame);
  }

  /** The next text message; `null` when the connection closed. Pings are answered. */
  async receive(): Promise<string | null> {
    for (;;) {
      const frame = this.#parse();
      if (frame) {
        const { opcode, payload } = frame;
        if (opcode === 0x1) return decoder.decode(payload);
        if (opcode === 0x8) {
          this.close();
          return null;
        }
        if (opcode === 0x9) {
          const pong = new Uint8Array(6 + payload.length);
          writeHeader(pong, 0x8a, payload.length);
          pong.set(payload, 6);
          await this.#write(pong).catch(() => {});
        }
        continue; // pong, binary or continuation: not used by the servers we talk to
      }
      if (!(await this.#fill())) {
        this.close();
        return null;
      }
    }
  }

  /** Closes the TCP connection at once (no closing handshake: it is a benchmark). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #write(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.length) written += await this.#conn.write(data.subarray(written));
  }

  /** Reads more bytes; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      const live = this.#end - this.#start;
      if (live * 2 > this.#buf.length) {
        const next = new Uint8Array(this.#buf.length * 2);
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = live;
    }
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buf.subarray(this.#end));
    } catch {
      return false;
    }
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  #parse(): { opcode: number; payload: Uint8Array } | undefined {
    const b = this.#buf;
    const s = this.#start;
    const available = this.#end - s;
    if (available < 2) return undefined;
    const opcode = b[s]! & 0x0f;
    let length = b[s + 1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (available < 4) return undefined;
      length = (b[s + 2]! << 8) | b[s + 3]!;
      offset = 4;
    } else if (length === 127) {
      if (available < 10) return undefined;
      length = Number(new DataView(b.buffer, b.byteOffset + s + 2, 8).getBigUint64(0));
      offset = 10;
    }
    if (available < offset + length) {
      // Make room for the whole frame so the next fill can complete it.
      if (offset + length > b.length) {
        const next = new Uint8Array(Math.max(b.length * 2, offset + length));
        next.set(b.subarray(s, this.#end));
        this.#buf = next;
        this.#end -= s;
        this.#start = 0;
      }
      return undefined;
    }
    const payload = b.slice(s + offset, s + offset + length);
    this.#start = s + offset + length;
    return { opcode, payload };
  }

  #indexOfHeadEnd(): number {
    const b = this.#buf;
    for (let i = this.#start; i + 3 < this.#end; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
    }
    return -1;
  }
}
