/**
 * The server side of a WebSocket (RFC 6455) on a TCP connection the slowloris guard already
 * owns, so an upgraded connection is served where it was accepted instead of being relayed
 * to `Deno.serve` over a second connection (two copies of every byte, two sockets per
 * session).
 *
 * What it does: masked client frames only; text and binary messages, fragmented or not,
 * with control frames between fragments; ping → pong; the close handshake both ways; UTF-8
 * checked on every text message (1007); messages past `maxMessageBytes` refused as soon as
 * their header says so (1009), never buffered; any other protocol error closes with 1002. No
 * extensions are negotiated (no compression). An idle peer is pinged every
 * `idleTimeoutSeconds` and closed (1001) when the next period passes without a byte from it.
 *
 * Reads go straight into each frame's payload buffer once its header is known, so a large
 * message is copied once; an idle connection waits on a small buffer.
 *
 * @module
 */

/** What the connection reports to its owner. */
export interface WebSocketEvents {
  /** A whole message: text as a string, binary as bytes. */
  message(data: string | Uint8Array): void;
  /** The connection ended (`code` 1006 when it ended without a close frame). */
  closed(code: number, reason: string): void;
  /** A message past `maxMessageBytes` began; the connection closes with 1009 after this. */
  tooBig?(): void;
}

/** Options of {@link ServerWebSocket}. */
export interface ServerWebSocketOptions {
  /** Largest message accepted; larger ones close the connection with 1009. */
  maxMessageBytes: number;
  /** Seconds without a byte from the peer before a ping, and as long again before closing; 0: never. */
  idleTimeoutSeconds: number;
  /** How long `close` waits for the peer's close frame before dropping the connection. */
  closeTimeoutMs?: number;
}

/** Close codes used here. */
export const WS_CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  invalidData: 1007,
  tooBig: 1009,
  noStatus: 1005,
  abnormal: 1006,
} as const;

const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;
/** Bytes an idle connection waits on: enough for a whole small frame's header and more. */
const IDLE_BYTES = 256;
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
/**
 * Bytes queued for a peer that does not read before it is dropped: far above what a session
 * ever has in flight (an outcome is a few KB), so only a peer that stopped reading meets it.
 */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/**
 * A frame's payload buffer starts at most this big; once that much of the payload has
 * arrived, it grows to the frame's whole length. A header alone sets aside no more.
 */
const GROW_FROM = 64 * 1024;
/** What one queued write costs besides its bytes (its promise and closure), for the cap. */
const WRITE_OVERHEAD_BYTES = 256;
/** Queued bytes past which the read loop waits for the peer to take what it was sent. */
const PAUSE_READING_BYTES = 1024 * 1024;
const EMPTY = new Uint8Array(0);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Several times faster than the fatal decoder: it replaces what is not UTF-8 with U+FFFD. */
const looseDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * `bytes` as text, or `undefined` when they are not UTF-8. The loose decoder answers for
 * almost every message: its text can only hold U+FFFD if the bytes did, or were invalid, and
 * only then does the strict one decide.
 */
export function utf8Text(bytes: Uint8Array): string | undefined {
  const text = looseDecoder.decode(bytes);
  if (!text.includes("\uFFFD")) return text;
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Payload buffers of large frames, kept for the next frame once a message is decoded (its
 * text no longer needs them): one 200 KB screenshot a frame would otherwise be one more
 * large allocation for the garbage collector each time. Powers of two from 64 KiB to 4 MiB,
 * at most {@link POOL_BYTES} in all.
 */
const pool = new Map<number, ArrayBuffer[]>();
const POOL_MIN = 64 * 1024;
const POOL_MAX = 4 * 1024 * 1024;
const POOL_BYTES = 8 * 1024 * 1024;
let pooledBytes = 0;

/** A buffer of `length` bytes, from the pool when the size is pooled. */
function borrowPayload(length: number): { bytes: Uint8Array; pooled: boolean } {
  if (length < POOL_MIN / 2 || length > POOL_MAX) {
    return { bytes: new Uint8Array(length), pooled: false };
  }
  let size = POOL_MIN;
  while (size < length) size *= 2;
  const buffer = pool.get(size)?.pop();
  if (buffer) pooledBytes -= size;
  return { bytes: new Uint8Array(buffer ?? new ArrayBuffer(size), 0, length), pooled: true };
}

/** Gives a borrowed buffer back for the next frame (or drops it when the pool is full). */
function givePayloadBack(bytes: Uint8Array): void {
  const buffer = bytes.buffer as ArrayBuffer;
  const size = buffer.byteLength;
  if (pooledBytes + size > POOL_BYTES) return;
  let list = pool.get(size);
  if (!list) pool.set(size, list = []);
  list.push(buffer);
  pooledBytes += size;
}

/** The GUID of RFC 6455 §1.3. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`. */
export async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + ACCEPT_GUID));
  let binary = "";
  for (const byte of new Uint8Array(digest)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Whether `key` is a valid `Sec-WebSocket-Key`: base64 of 16 bytes. */
export function validKey(key: string | null): key is string {
  return key !== null && /^[A-Za-z0-9+/]{22}==$/.test(key.trim());
}

/** Writes all of `bytes` to `conn` (a write may take only part of them). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** XORs `data` with the 4-byte `mask` in place, 32 bits at a time where aligned. */
export function unmask(data: Uint8Array, mask: Uint8Array): void {
  let i = 0;
  const n = data.length;
  if (n >= 16 && data.byteOffset % 4 === 0) {
    const words = new Uint32Array(data.buffer, data.byteOffset, n >>> 2);
    const m = LITTLE_ENDIAN
      ? (mask[0]! | (mask[1]! << 8) | (mask[2]! << 16) | (mask[3]! << 24)) >>> 0
      : ((mask[0]! << 24) | (mask[1]! << 16) | (mask[2]! << 8) | mask[3]!) >>> 0;
    for (let w = 0; w < words.length; w++) words[w]! ^= m;
    i = words.length * 4;
  }
  for (; i < n; i++) data[i]! ^= mask[i & 3]!;
}

/** A frame's header, once its bytes are in. */
interface FrameHeader {
  fin: boolean;
  opcode: number;
  length: number;
  mask: Uint8Array;
  /** Bytes of the header itself. */
  size: number;
}

/**
 * Parses a frame header from `bytes`: the header, `undefined` when more bytes are needed, or a
 * close code when the header is invalid. `fragmenting` says whether a fragmented message is
 * open, so that a data frame out of turn is a protocol error before its length is looked at
 * (`undefined`: not checked, the frame will not be delivered anyway).
 */
function parseHeader(
  bytes: Uint8Array,
  maxMessageBytes: number,
  fragmenting?: boolean,
): FrameHeader | number | undefined {
  if (bytes.length < 2) return undefined;
  const b0 = bytes[0]!;
  const b1 = bytes[1]!;
  if ((b0 & 0x70) !== 0) return WS_CLOSE.protocolError; // RSV bits: no extension agreed.
  if ((b1 & 0x80) === 0) return WS_CLOSE.protocolError; // Client frames must be masked.
  const opcode = b0 & 0x0f;
  const fin = (b0 & 0x80) !== 0;
  let length = b1 & 0x7f;
  let size = 2;
  if (opcode >= 8) {
    if (!fin || length > 125) return WS_CLOSE.protocolError;
    if (opcode !== OPCODE.close && opcode !== OPCODE.ping && opcode !== OPCODE.pong) {
      return WS_CLOSE.protocolError;
    }
  } else if (opcode > OPCODE.binary) return WS_CLOSE.protocolError;
  // RFC 6455 §5.4: continuations continue a message, and only one message is open at a time.
  else if (fragmenting !== undefined && (opcode === OPCODE.continuation) !== fragmenting) {
    return WS_CLOSE.protocolError;
  }
  if (length === 126) {
    if (bytes.length < 4) return undefined;
    length = (bytes[2]! << 8) | bytes[3]!;
    size = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, 10);
    const high = view.getUint32(2);
    // RFC 6455 §5.2: the most significant bit must be 0.
    if (high & 0x8000_0000) return WS_CLOSE.protocolError;
    if (high !== 0) return WS_CLOSE.tooBig; // ≥ 4 GiB.
    length = view.getUint32(6);
    size = 10;
  }
  if (length > maxMessageBytes) return WS_CLOSE.tooBig;
  if (bytes.length < size + 4) return undefined;
  return { fin, opcode, length, mask: bytes.slice(size, size + 4), size: size + 4 };
}

/** One frame as the server writes it (never masked): header and payload in one buffer. */
export function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const size = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = new Uint8Array(size + n);
  frame[0] = 0x80 | opcode;
  if (size === 2) frame[1] = n;
  else if (size === 4) {
    frame[1] = 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 127;
    new DataView(frame.buffer).setUint32(6, n);
  }
  frame.set(payload, size);
  return frame;
}

/** A close frame's payload: the code, then the reason cut to fit 123 bytes of UTF-8. */
function closePayload(code: number, reason: string): Uint8Array {
  let bytes = encoder.encode(reason);
  while (bytes.length > 123) {
    reason = reason.slice(0, -1);
    bytes = encoder.encode(reason);
  }
  const payload = new Uint8Array(2 + bytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(bytes, 2);
  return payload;
}

/** Whether a peer may send `code` in a close frame (RFC 6455 §7.4). */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/** A WebSocket connection, server side, on `conn`. */
export class ServerWebSocket {
  readonly #conn: Deno.Conn;
  readonly #options: ServerWebSocketOptions;
  #events: WebSocketEvents | undefined;
  /** Bytes read but not yet parsed (a partial header, or what follows a frame). */
  #buffer: Uint8Array;
  /**
   * The message being received in fragments: one buffer, grown by doubling (never a list of
   * fragments: a million one-byte fragments would cost a million objects), its bytes so far,
   * and its opcode (0 when no fragmented message is open).
   */
  #fragments: Uint8Array = new Uint8Array(0);
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  #state: "open" | "closing" | "closed" = "open";
  /** Writes run one after the other, in order. */
  #writing: Promise<void> = Promise.resolve();
  /** Bytes handed to {@link #write} and not yet written. */
  #queued = 0;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last whole frame came (`performance.now()`): bytes alone do not count. */
  #lastFrameAt = performance.now();
  #pinged = false;
  /** The payload of the pong to send, while one is queued: only the latest ping is answered. */
  #pong: Uint8Array | undefined;
  /** The read loop has started (so `finished` settles through it). */
  #started = false;
  /** The current frame's payload is a pooled buffer, to give back once it is handled. */
  #pooled = false;
  /** The peer's close frame came: once ours is out, the handshake is complete. */
  #peerSentClose = false;
  #closeCode: number = WS_CLOSE.abnormal;
  #closeReason = "";
  /** Settles when the connection is closed and every callback has run. */
  readonly finished: Promise<void>;

  /**
   * Serves the WebSocket on `conn`; `rest` holds bytes the client sent after its request
   * head. Nothing is read until {@link start}; the handshake's answer is the first write
   * ({@link writeHandshake}).
   */
  constructor(
    conn: Deno.Conn,
    options: ServerWebSocketOptions,
    rest: Uint8Array = new Uint8Array(0),
  ) {
    this.#conn = conn;
    this.#options = options;
    this.#buffer = rest;
    let finish!: () => void;
    this.finished = new Promise((resolve) => finish = resolve);
    this.#finish = finish;
  }

  #finish: () => void;

  /** Whether messages can still be sent. */
  get open(): boolean {
    return this.#state === "open";
  }

  /** Queues the handshake's answer (the `101` head): before any frame. */
  writeHandshake(head: string): void {
    this.#write(encoder.encode(head));
  }

  /** Starts reading and reporting. */
  start(events: WebSocketEvents): void {
    this.#events = events;
    this.#started = true;
    this.#lastFrameAt = performance.now();
    this.#armIdle();
    void this.#readLoop();
  }

  /** Sends a text message; ignored once closing. */
  send(text: string): void {
    if (this.#state !== "open") return;
    this.#write(encodeFrame(OPCODE.text, encoder.encode(text)));
  }

  /**
   * Starts the close handshake: a close frame with `code` and `reason`, then the connection
   * ends when the peer answers with its own, or after the close timeout.
   */
  close(code: number = WS_CLOSE.normal, reason = ""): void {
    if (this.#state !== "open") return;
    this.#state = "closing";
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#write(encodeFrame(OPCODE.close, closePayload(code, reason)));
    this.#closeTimer = setTimeout(
      () => this.#terminate(),
      this.#options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
    );
  }

  /** Drops the connection at once, without a handshake. */
  abort(): void {
    this.#terminate();
    // Never started (the upgrade failed after its socket was made): nothing else will.
    if (!this.#started) this.#finish();
  }

  #write(bytes: Uint8Array): void {
    this.#enqueue(bytes.length, () => bytes);
  }

  /**
   * Queues a write of what `take` gives when its turn comes (`size` bytes, counted against the
   * cap until it is written); nothing when it gives nothing.
   */
  #enqueue(size: number, take: () => Uint8Array | undefined): void {
    const cost = size + WRITE_OVERHEAD_BYTES;
    this.#queued += cost;
    if (this.#queued > MAX_QUEUED_BYTES) {
      // The peer stopped reading: nothing more can reach it.
      this.#closeCode = WS_CLOSE.abnormal;
      this.#terminate();
      return;
    }
    this.#writing = this.#writing.then(async () => {
      try {
        const bytes = take();
        if (this.#state === "closed" || !bytes) return;
        await writeAll(this.#conn, bytes);
      } catch {
        this.#terminate();
      } finally {
        this.#queued -= cost;
      }
    });
  }

  /** Answers a ping: one pong queued at a time, carrying the latest ping's payload. */
  #answerPing(payload: Uint8Array): void {
    // RFC 6455 §5.5.2: answered until the peer's close came, our own close sent or not.
    if (this.#state === "closed" || this.#peerSentClose) return;
    const queued = this.#pong !== undefined;
    this.#pong = payload;
    if (queued) return;
    this.#enqueue(payload.length + 2, () => {
      const pong = this.#pong;
      this.#pong = undefined;
      return pong && encodeFrame(OPCODE.pong, pong);
    });
  }

  /**
   * The idle check: a peer silent (no whole frame) for half the period is pinged, one silent
   * for the whole period is closed with 1001, as Deno's `idleTimeout` does. One timer, set
   * for the next of those two moments and worked out again when it fires (a frame meanwhile
   * moves both).
   */
  #armIdle(): void {
    const seconds = this.#options.idleTimeoutSeconds;
    if (seconds <= 0 || this.#state !== "open") return;
    const periodMs = seconds * 1000;
    const silentMs = performance.now() - this.#lastFrameAt;
    if (silentMs >= periodMs) {
      this.close(WS_CLOSE.goingAway, "No response from ping frame");
      return;
    }
    let waitMs: number;
    if (this.#pinged) waitMs = periodMs - silentMs;
    else if (silentMs >= periodMs / 2) {
      this.#pinged = true;
      this.#write(encodeFrame(OPCODE.ping, EMPTY));
      waitMs = periodMs - silentMs;
    } else waitMs = periodMs / 2 - silentMs;
    if (this.#state !== "open") return; // The ping found the queue full: already closed.
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      this.#armIdle();
    }, Math.max(1, Math.ceil(waitMs)));
  }

  /** Fails the connection: a close frame with `code`, then the end (RFC 6455 §7.1.7). */
  #fail(code: number, reason: string): void {
    if (this.#state === "closed") return;
    if (this.#state === "open") {
      this.#state = "closing";
      this.#write(encodeFrame(OPCODE.close, closePayload(code, reason)));
    }
    this.#closeCode = code;
    this.#closeReason = reason;
  }

  /**
   * Ends the connection gracefully, within the close timeout: what is still being written
   * (a close frame) goes out, then our side's FIN, then whatever the peer still sends (the
   * rest of a refused message, its close frame) is read and dropped until it closes too.
   * Closing with unread bytes would make the kernel reset the connection, and the peer could
   * lose the close frame that says why.
   */
  async #linger(): Promise<void> {
    const timer = setTimeout(
      () => this.#terminate(),
      this.#options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
    );
    try {
      await this.#writing;
      // A complete close handshake: the server closes the TCP connection first (§7.1.1).
      if (this.#state === "closed" || this.#peerSentClose) return;
      await (this.#conn as Deno.TcpConn).closeWrite();
      const sink = new Uint8Array(4096);
      // Until the peer's EOF, or the timer closes the connection (the read then throws).
      while (await this.#conn.read(sink) !== null) {
        // dropped
      }
    } catch {
      // The connection is gone already.
    } finally {
      clearTimeout(timer);
    }
  }

  #terminate(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#idleTimer);
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #readLoop(): Promise<void> {
    /**
     * The frame's payload, held here (not in a per-iteration `const`) so that it can be let go
     * before the next wait: a suspended async function may keep a dead local's value alive,
     * and one held 15 MiB payload per idle connection adds up.
     */
    let payload: Uint8Array | undefined;
    try {
      for (;;) {
        const header = parseHeader(
          this.#buffer,
          this.#options.maxMessageBytes,
          this.#state === "open" ? this.#fragmentOpcode !== 0 : undefined,
        );
        if (typeof header === "number") {
          if (header === WS_CLOSE.tooBig) this.#events?.tooBig?.();
          this.#fail(header, header === WS_CLOSE.tooBig ? "Message too big" : "Protocol error");
          break;
        }
        if (header === undefined) {
          // A peer that does not read what it is sent is not read from either.
          if (this.#queued > PAUSE_READING_BYTES) await this.#writing;
          if (!await this.#readMore()) break;
          continue;
        }
        payload = await this.#payload(header);
        if (payload === undefined) break;
        const going = this.#frame(header, payload);
        // Whatever the frame became holds no reference to its payload now.
        if (this.#pooled) givePayloadBack(payload);
        this.#pooled = false;
        payload = undefined;
        if (!going) break;
      }
    } catch {
      // The connection failed under a read: it ends here.
    }
    if (this.#state !== "closed") await this.#linger();
    this.#terminate();
    const events = this.#events;
    this.#events = undefined;
    this.#fragments = new Uint8Array(0);
    try {
      events?.closed(this.#closeCode, this.#closeReason);
    } finally {
      // Settled whatever the listener did (a throw still surfaces, as in Deno's WebSocket).
      this.#finish();
    }
  }

  /** Reads more bytes after what is buffered; false at the end of the connection. */
  async #readMore(): Promise<boolean> {
    if (this.#state === "closed") return false;
    const kept = this.#buffer.length;
    // Idle: a small buffer. After part of a header: the part, and room behind it, in one.
    const chunk = new Uint8Array(kept > 0 ? kept + 16 * 1024 : IDLE_BYTES);
    if (kept > 0) chunk.set(this.#buffer);
    const n = await this.#conn.read(chunk.subarray(kept));
    if (n === null) return false;
    this.#buffer = chunk.subarray(0, kept + n);
    return true;
  }

  /**
   * The frame's payload, unmasked: what is buffered, then read straight into the payload's
   * own buffer. `undefined` when the connection ended first.
   */
  async #payload(header: FrameHeader): Promise<Uint8Array | undefined> {
    const total = header.size + header.length;
    let payload: Uint8Array;
    if (this.#buffer.length >= total) {
      payload = this.#buffer.slice(header.size, total);
      // Nothing left: let the chunk go (an idle connection holds no more than its read).
      this.#buffer = total === this.#buffer.length ? EMPTY : this.#buffer.subarray(total);
    } else {
      if (header.opcode <= OPCODE.binary) {
        const message = this.#fragmentBytes + header.length;
        if (message > this.#options.maxMessageBytes) {
          this.#events?.tooBig?.();
          this.#fail(WS_CLOSE.tooBig, "Message too big");
          return undefined;
        }
      }
      const first = Math.min(header.length, GROW_FROM);
      const borrowed = borrowPayload(first);
      payload = borrowed.bytes;
      let pooled = borrowed.pooled;
      let filled = this.#buffer.length - header.size;
      payload.set(this.#buffer.subarray(header.size));
      this.#buffer = EMPTY;
      while (filled < header.length) {
        if (this.#state === "closed") return undefined;
        if (filled === payload.length) {
          // The first part came: now the whole frame's length.
          const whole = borrowPayload(header.length);
          whole.bytes.set(payload);
          if (pooled) givePayloadBack(payload);
          payload = whole.bytes;
          pooled = whole.pooled;
        }
        const n = await this.#conn.read(payload.subarray(filled));
        if (n === null) return undefined;
        filled += n;
      }
      // Only a payload read to the end goes back: a read cut short may still hold it.
      this.#pooled = pooled;
    }
    unmask(payload, header.mask);
    return payload;
  }

  /** Handles one whole frame; false when the connection is ending. */
  #frame(header: FrameHeader, payload: Uint8Array): boolean {
    this.#lastFrameAt = performance.now();
    this.#pinged = false;
    switch (header.opcode) {
      case OPCODE.ping:
        this.#answerPing(payload);
        return true;
      case OPCODE.pong:
        return true;
      case OPCODE.close:
        return this.#peerClosed(payload);
    }
    // Closing: data is no longer delivered. Open: the header was checked against the
    // fragment state (parseHeader).
    if (this.#state !== "open") return true;
    if (this.#fragmentBytes + payload.length > this.#options.maxMessageBytes) {
      this.#events?.tooBig?.();
      this.#fail(WS_CLOSE.tooBig, "Message too big");
      return false;
    }
    let opcode = header.opcode;
    let message = payload;
    if (!header.fin || this.#fragmentOpcode !== 0) {
      if (this.#fragmentOpcode === 0) this.#fragmentOpcode = header.opcode;
      this.#appendFragment(payload);
      if (!header.fin) return true;
      opcode = this.#fragmentOpcode;
      message = this.#fragments.subarray(0, this.#fragmentBytes);
      this.#fragments = new Uint8Array(0);
      this.#fragmentBytes = 0;
      this.#fragmentOpcode = 0;
    }
    if (opcode === OPCODE.text) {
      const text = utf8Text(message);
      if (text === undefined) {
        this.#fail(WS_CLOSE.invalidData, "Invalid UTF-8");
        return false;
      }
      this.#events?.message(text);
    } else this.#events?.message(message === payload && this.#pooled ? message.slice() : message);
    return true;
  }

  /** Appends a fragment's bytes to the message being received (the cap is checked before). */
  #appendFragment(payload: Uint8Array): void {
    const needed = this.#fragmentBytes + payload.length;
    if (needed > this.#fragments.length) {
      const grown = new Uint8Array(
        Math.min(this.#options.maxMessageBytes, Math.max(needed, this.#fragments.length * 2, 1024)),
      );
      grown.set(this.#fragments.subarray(0, this.#fragmentBytes));
      this.#fragments = grown;
    }
    this.#fragments.set(payload, this.#fragmentBytes);
    this.#fragmentBytes = needed;
  }

  /** The peer's close frame: answered (unless we started), then the connection ends. */
  #peerClosed(payload: Uint8Array): boolean {
    this.#peerSentClose = true;
    let code: number = WS_CLOSE.noStatus;
    let reason = "";
    if (payload.length === 1) {
      this.#fail(WS_CLOSE.protocolError, "Bad close frame");
      return false;
    }
    if (payload.length >= 2) {
      code = (payload[0]! << 8) | payload[1]!;
      const text = utf8Text(payload.subarray(2));
      if (text === undefined) {
        this.#fail(WS_CLOSE.invalidData, "Invalid UTF-8");
        return false;
      }
      reason = text;
      if (!validCloseCode(code)) {
        this.#fail(WS_CLOSE.protocolError, "Bad close code");
        return false;
      }
    }
    if (this.#state === "open") {
      this.#state = "closing";
      this.#closeCode = code;
      this.#closeReason = reason;
      // The peer's code and reason, echoed (RFC 6455 §5.5.1).
      this.#write(
        encodeFrame(OPCODE.close, code === WS_CLOSE.noStatus ? EMPTY : closePayload(code, reason)),
      );
    }
    // The read loop ends: the server closes the TCP connection first (RFC 6455 §7.1.1),
    // once its frame is out.
    return false;
  }
}
