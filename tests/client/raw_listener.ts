/**
 * A raw TCP listener (`Deno.listen`) for servers that misbehave in ways no HTTP server does
 * on purpose: one that accepts a connection and never answers, one that answers the
 * WebSocket upgrade and then never speaks the protocol, and one that plays a session just far
 * enough (`session_ready`) and then drops the TCP connection. Each accepted connection is
 * handled by the listener's `mode` at the time it was accepted.
 */
import { acceptKey, encodeFrame, writeAll } from "../../src/server/websocket.ts";
import { within } from "./scripted_server.ts";

/**
 * - `silent`: accept, read and discard, never write a byte;
 * - `upgrade`: answer the HTTP upgrade (101), then send nothing (a close frame is answered, as
 *   any WebSocket library would);
 * - `session`: answer the upgrade and the `client_hello` with `session_ready`, then nothing.
 */
export type RawMode = "silent" | "upgrade" | "session";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One accepted TCP connection, seen from the listener. */
export class RawPeer {
  readonly mode: RawMode;
  /** Text messages received after the upgrade, in order. */
  readonly messages: string[] = [];
  /** Settles once the connection is over: the client closed it, or {@link drop} did. */
  readonly ended: Promise<void>;
  #conn: Deno.Conn;
  #closed = false;

  constructor(conn: Deno.Conn, mode: RawMode) {
    this.#conn = conn;
    this.mode = mode;
    this.ended = this.#run().catch(() => {}).finally(() => this.#close());
  }

  /** Closes the TCP connection without a WebSocket close frame (the client sees 1006). */
  async drop(): Promise<void> {
    this.#close();
    await this.ended;
  }

  /** Waits (bounded) until the client has closed its end. */
  waitEnded(): Promise<void> {
    return within(this.ended, "the client closing the TCP connection");
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #run(): Promise<void> {
    let buffer: Uint8Array = new Uint8Array(0);
    let upgraded = false;
    const chunk = new Uint8Array(65_536);
    for (;;) {
      const n = await this.#conn.read(chunk);
      if (n === null) return;
      if (this.mode === "silent") continue;
      buffer = concat(buffer, chunk.subarray(0, n));
      if (!upgraded) {
        const end = indexOfHeadersEnd(buffer);
        if (end < 0) continue;
        const head = decoder.decode(buffer.subarray(0, end));
        buffer = buffer.slice(end + 4);
        const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? "";
        await this.#write(encoder.encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${await acceptKey(key)}\r\n\r\n`,
        ));
        upgraded = true;
      }
      for (let frame = takeFrame(buffer); frame; frame = takeFrame(buffer)) {
        buffer = frame.rest;
        if (frame.opcode === 8) {
          await this.#write(encodeFrame(8, frame.payload.subarray(0, 2)));
          return;
        }
        if (frame.opcode !== 1) continue;
        const text = decoder.decode(frame.payload);
        this.messages.push(text);
        if (this.mode === "session" && this.messages.length === 1) {
          const hello = JSON.parse(text) as { context_version?: string };
          await this.#write(encodeFrame(
            1,
            encoder.encode(JSON.stringify({
              type: "session_ready",
              session_id: "raw-1",
              protocol_version: "1.1",
              context_version: hello.context_version ?? "",
              max_model_iterations: 5,
              supported_tool_kinds: ["search_similar", "search_keywords"],
            })),
          ));
        }
      }
    }
  }

  #write(bytes: Uint8Array): Promise<void> {
    return writeAll(this.#conn, bytes);
  }
}

/** A TCP listener on a free loopback port; `await using` closes it and every connection. */
export class RawListener implements AsyncDisposable {
  /** `ws://127.0.0.1:<port>/v1/proactive` */
  readonly url: string;
  /** How connections accepted from now on are handled. */
  mode: RawMode;
  /** Accepted connections, in order. */
  readonly peers: RawPeer[] = [];
  #listener: Deno.Listener;
  #accepting: Promise<void>;
  #waiting: Array<() => void> = [];

  constructor(mode: RawMode) {
    this.mode = mode;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.url = `ws://127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}/v1/proactive`;
    this.#accepting = this.#accept();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.peers.push(new RawPeer(conn, this.mode));
        for (const wake of this.#waiting.splice(0)) wake();
      }
    } catch {
      // the listener closed
    }
  }

  /** The `n`-th accepted connection (0-based), waiting (bounded) for it if needed. */
  async peer(n: number): Promise<RawPeer> {
    while (!this.peers[n]) {
      await within(new Promise<void>((resolve) => this.#waiting.push(resolve)), `connection ${n}`);
    }
    return this.peers[n]!;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    await this.#accepting;
    await Promise.all(this.peers.map((peer) => peer.drop()));
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOfHeadersEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** One complete client frame at the start of `bytes`, unmasked, or undefined. */
function takeFrame(
  bytes: Uint8Array,
): { opcode: number; payload: Uint8Array; rest: Uint8Array } | undefined {
  if (bytes.length < 2) return undefined;
  let length = bytes[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (bytes.length < 4) return undefined;
    length = (bytes[2]! << 8) | bytes[3]!;
    offset = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return undefined;
    length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(2));
    offset = 10;
  }
  const masked = (bytes[1]! & 0x80) !== 0;
  const mask = masked ? bytes.subarray(offset, offset + 4) : undefined;
  if (masked) offset += 4;
  if (bytes.length < offset + length) return undefined;
  const payload = bytes.slice(offset, offset + length);
  if (mask) { for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!; }
  return { opcode: bytes[0]! & 0x0f, payload, rest: bytes.slice(offset + length) };
}
