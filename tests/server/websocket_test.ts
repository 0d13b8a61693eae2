/**
 * The WebSocket the slowloris guard serves itself (`src/server/websocket.ts`), over raw TCP
 * through the real server: the handshake, framing both ways, fragments, control frames, the
 * close handshake, and every protocol error with its close code (RFC 6455).
 */
import assert from "node:assert/strict";
import {
  acceptKey,
  encodeFrame,
  ServerWebSocket,
  unmask,
  utf8Text,
  validKey,
  writeAll,
} from "../../src/server/websocket.ts";
import { ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer, type TestServer } from "../fakes/test_server.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A client frame, masked as RFC 6455 requires (or not, to test the refusal). */
function clientFrame(
  opcode: number,
  payload: Uint8Array | string,
  options: { fin?: boolean; masked?: boolean; rsv?: number } = {},
): Uint8Array {
  const bytes = typeof payload === "string" ? enc.encode(payload) : payload;
  const masked = options.masked ?? true;
  const n = bytes.length;
  const size = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = new Uint8Array(size + (masked ? 4 : 0) + n);
  frame[0] = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv ?? 0) | opcode;
  const lengthByte = size === 2 ? n : size === 4 ? 126 : 127;
  frame[1] = (masked ? 0x80 : 0) | lengthByte;
  if (size === 4) new DataView(frame.buffer).setUint16(2, n);
  if (size === 10) new DataView(frame.buffer).setUint32(6, n);
  const mask = new Uint8Array([0x12, 0x34, 0x56, 0x78]);
  if (masked) frame.set(mask, size);
  const body = bytes.slice();
  if (masked) { for (let i = 0; i < n; i++) body[i]! ^= mask[i & 3]!; }
  frame.set(body, size + (masked ? 4 : 0));
  return frame;
}

/** A masked client frame's header alone, declaring a 64-bit length of `high`·2³² + `low`. */
function declaredHeader(opcode: number, high: number, low: number): Uint8Array {
  const header = new Uint8Array(14);
  header[0] = 0x80 | opcode;
  header[1] = 0x80 | 127;
  new DataView(header.buffer).setUint32(2, high);
  new DataView(header.buffer).setUint32(6, low);
  header.set([0x12, 0x34, 0x56, 0x78], 10);
  return header;
}

/** Sends `head` on a fresh connection; the response's head. */
async function answerTo(server: TestServer, head: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
  await writeAll(conn, enc.encode(head));
  let text = "";
  const chunk = new Uint8Array(16 * 1024);
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(chunk);
    if (n === null) break;
    text += dec.decode(chunk.subarray(0, n));
  }
  return text;
}

/** A raw connection: the upgrade by hand, then frames read as they come. */
class RawClient implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  #buffer: Uint8Array = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  static async open(
    server: TestServer,
    headers: Record<string, string> = {},
    after?: Uint8Array,
  ): Promise<{ client: RawClient; head: string }> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
    const client = new RawClient(conn);
    const all: Record<string, string> = {
      host: "127.0.0.1",
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": KEY,
      "sec-websocket-version": "13",
      ...headers,
    };
    const head = `GET /v1/proactive HTTP/1.1\r\n${
      Object.entries(all).filter(([, v]) => v !== "").map(([k, v]) => `${k}: ${v}\r\n`).join("")
    }\r\n`;
    const bytes = enc.encode(head);
    await client.write(after ? concat(bytes, after) : bytes);
    return { client, head: await client.readHead() };
  }

  write(bytes: Uint8Array): Promise<void> {
    return writeAll(this.conn, bytes);
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) return false;
    this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
    return true;
  }

  async readHead(): Promise<string> {
    for (;;) {
      const text = dec.decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = text.slice(0, end + 4);
        this.#buffer = this.#buffer.subarray(enc.encode(head).length);
        return head;
      }
      if (!await this.#more()) return text;
    }
  }

  /** The next server frame, or `undefined` at the end of the connection. */
  async frame(): Promise<{ fin: boolean; opcode: number; payload: Uint8Array } | undefined> {
    for (;;) {
      const b = this.#buffer;
      if (b.length >= 2) {
        assert.equal(b[1]! & 0x80, 0, "server frames are never masked");
        let n = b[1]! & 0x7f;
        let at = 2;
        if (n === 126 && b.length >= 4) {
          n = (b[2]! << 8) | b[3]!;
          at = 4;
        } else if (n === 127 && b.length >= 10) {
          n = new DataView(b.buffer, b.byteOffset).getUint32(6);
          at = 10;
        }
        if ((n < 126 || at > 2) && b.length >= at + n) {
          this.#buffer = b.subarray(at + n);
          return { fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, payload: b.slice(at, at + n) };
        }
      }
      if (!await this.#more()) return undefined;
    }
  }

  /** The next text message's JSON. */
  async json(): Promise<Record<string, unknown>> {
    const f = await this.frame();
    assert.ok(f, "a frame");
    assert.equal(f.opcode, 1);
    return JSON.parse(dec.decode(f.payload));
  }

  /** Reads until the server's close frame; its code and reason, then the TCP end. */
  async closeFrame(): Promise<{ code: number; reason: string }> {
    for (;;) {
      const f = await this.frame();
      assert.ok(f, "a close frame before the end of the connection");
      if (f.opcode !== 8) continue;
      const code = f.payload.length >= 2 ? (f.payload[0]! << 8) | f.payload[1]! : 1005;
      return { code, reason: dec.decode(f.payload.subarray(2)) };
    }
  }

  async ended(): Promise<boolean> {
    while (await this.frame() !== undefined) { /* drain */ }
    return true;
  }

  [Symbol.asyncDispose](): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // closed
    }
    return Promise.resolve();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const HELLO = JSON.stringify({ type: "client_hello", protocol_version: "1.1" });

Deno.test("websocket helpers: accept key, key shape, unmask, frames", async () => {
  // RFC 6455 §1.3's example.
  assert.equal(await acceptKey(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert.ok(validKey(KEY));
  assert.ok(!validKey("short=="));
  assert.ok(!validKey(null));
  for (const n of [0, 3, 16, 17, 1001]) {
    const data = Uint8Array.from({ length: n }, (_, i) => i & 0xff);
    const mask = new Uint8Array([1, 2, 3, 250]);
    const masked = data.map((b, i) => b ^ mask[i & 3]!);
    unmask(masked, mask);
    assert.deepEqual(masked, data, `length ${n}`);
  }
  // UTF-8: a real U+FFFD is text; bytes that are not UTF-8 are not.
  assert.equal(utf8Text(enc.encode("a\uFFFDb é")), "a\uFFFDb é");
  assert.equal(utf8Text(new Uint8Array([0x61, 0xff])), undefined);
  assert.equal(utf8Text(new Uint8Array([0xed, 0xa0, 0x80])), undefined, "a lone surrogate");
  assert.equal(utf8Text(new Uint8Array([0xc3])), undefined, "a cut sequence");
  assert.deepEqual([...encodeFrame(1, enc.encode("hi"))], [0x81, 2, 104, 105]);
  assert.deepEqual([...encodeFrame(2, new Uint8Array(300)).subarray(0, 4)], [0x82, 126, 1, 44]);
  assert.deepEqual(
    [...encodeFrame(1, new Uint8Array(70_000)).subarray(0, 10)],
    [0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70],
  );
});

Deno.test("the guard's WebSocket, over raw TCP", async (t) => {
  await using server = startTestServer({
    model: new ScriptedModel([]),
    limits: { maxMessageBytes: 64 * 1024 },
  });

  await t.step("handshake: 101 with the accept key; no subprotocol unless offered", async () => {
    const { client, head } = await RawClient.open(server);
    await using _ = client;
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    assert.doesNotMatch(head, /sec-websocket-protocol/i);
    await client.write(clientFrame(1, HELLO));
    assert.equal((await client.json()).type, "session_ready");
  });

  await t.step("the offered proactive subprotocol is selected", async () => {
    const { client, head } = await RawClient.open(server, {
      "sec-websocket-protocol": "proactive",
    });
    await using _ = client;
    assert.match(head, /\r\nsec-websocket-protocol: proactive\r\n/i);
  });

  await t.step("a message sent with the head, in the same write, is read", async () => {
    const { client } = await RawClient.open(server, {}, clientFrame(1, HELLO));
    await using _ = client;
    assert.equal((await client.json()).type, "session_ready");
  });

  await t.step("a malformed handshake is refused with 400, as Deno.serve's would be", async () => {
    const malformed: Record<string, string>[] = [
      { "sec-websocket-key": "" },
      { connection: "keep-alive" },
      { host: "" },
      { "sec-websocket-version": "" },
    ];
    for (const headers of malformed) {
      const { client, head } = await RawClient.open(server, headers);
      await using _ = client;
      assert.match(head, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(headers));
      assert.match(head, /\r\ndate: /);
      assert.match(head, /\r\nconnection: close\r\n/);
      assert.ok(await client.ended());
    }
  });

  await t.step("a version other than 13 gets 426 naming the version spoken", async () => {
    for (const version of ["12", "8", "14"]) {
      const { client, head } = await RawClient.open(server, { "sec-websocket-version": version });
      await using _ = client;
      assert.match(head, /^HTTP\/1\.1 426 Upgrade Required\r\n/, version);
      assert.match(head, /\r\nsec-websocket-version: 13\r\n/i);
      assert.ok(await client.ended());
    }
  });

  await t.step("a head with two Hosts, or an upgrade over HTTP/1.0, gets 400", async () => {
    const upgrade = `upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${KEY}\r\n` +
      "sec-websocket-version: 13\r\n";
    const twoHosts = `GET /v1/proactive HTTP/1.1\r\nhost: a\r\nhost: b\r\n${upgrade}\r\n`;
    assert.match(await answerTo(server, twoHosts), /^HTTP\/1\.1 400 Bad Request\r\n/);
    const http10 = `GET /v1/proactive HTTP/1.0\r\nhost: a\r\n${upgrade}\r\n`;
    assert.match(await answerTo(server, http10), /^HTTP\/1\.1 400 Bad Request\r\n/);
    // Not only our own path: Deno.serve's, where the guard relays, would accept it.
    const elsewhere = `GET /healthz HTTP/1.0\r\nhost: a\r\n${upgrade}\r\n`;
    assert.match(await answerTo(server, elsewhere), /^HTTP\/1\.1 400 Bad Request\r\n/);
  });

  await t.step("fragments with a ping between them make one message; ping gets pong", async () => {
    const { client } = await RawClient.open(server);
    await using _ = client;
    const [a, b] = [HELLO.slice(0, 10), HELLO.slice(10)];
    await client.write(concat(
      concat(clientFrame(1, a, { fin: false }), clientFrame(9, "p1")),
      clientFrame(0, b),
    ));
    const pong = await client.frame();
    assert.equal(pong?.opcode, 10);
    assert.equal(dec.decode(pong!.payload), "p1");
    assert.equal((await client.json()).type, "session_ready");
  });

  await t.step("five thousand one-byte fragments make one message", async () => {
    const { client } = await RawClient.open(server);
    await using _ = client;
    const parts = [...HELLO].map((ch, i) => clientFrame(i === 0 ? 1 : 0, ch, { fin: false }));
    const pad = Array.from(
      { length: 5_000 - parts.length },
      () => clientFrame(0, " ", { fin: false }),
    );
    const all = [...parts, ...pad, clientFrame(0, " ")];
    const bytes = new Uint8Array(all.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of all) {
      bytes.set(f, at);
      at += f.length;
    }
    await client.write(bytes);
    assert.equal((await client.json()).type, "session_ready");
  });

  await t.step(
    "a message as large as the cap goes through, 16-bit and 64-bit lengths",
    async () => {
      const { client } = await RawClient.open(server);
      await using _ = client;
      await client.write(clientFrame(1, HELLO));
      await client.json();
      // An unknown type of ~64 KB: answered INVALID_MESSAGE, so it was read whole.
      const big = JSON.stringify({ type: "heartbeat", pad: "x".repeat(64 * 1024 - 40) });
      assert.ok(big.length <= 64 * 1024 && big.length > 65_535 - 1024);
      await client.write(clientFrame(1, big));
      await client.write(clientFrame(1, "not json"));
      assert.equal((await client.json()).type, "server_error");
    },
  );

  const refusals: Array<[string, Uint8Array, number]> = [
    ["an unmasked frame", clientFrame(1, HELLO, { masked: false }), 1002],
    ["RSV bits without an extension", clientFrame(1, HELLO, { rsv: 0x40 }), 1002],
    ["an unknown opcode", clientFrame(3, "x"), 1002],
    ["a fragmented ping", clientFrame(9, "x", { fin: false }), 1002],
    ["a control frame over 125 bytes", clientFrame(9, "x".repeat(126)), 1002],
    ["a continuation with nothing to continue", clientFrame(0, "x"), 1002],
    [
      "a new message inside a fragmented one",
      concat(
        clientFrame(1, "{", { fin: false }),
        clientFrame(1, "}"),
      ),
      1002,
    ],
    ["text that is not UTF-8", clientFrame(1, new Uint8Array([0x7b, 0xff, 0x7d])), 1007],
    ["a message over the cap", clientFrame(1, "x".repeat(64 * 1024 + 1)), 1009],
    [
      "fragments over the cap together",
      concat(
        clientFrame(1, "x".repeat(40 * 1024), { fin: false }),
        clientFrame(0, "x".repeat(40 * 1024)),
      ),
      1009,
    ],
    ["a close frame of one byte", clientFrame(8, new Uint8Array([3])), 1002],
    ["a close code no peer may send", clientFrame(8, new Uint8Array([0x03, 0xed])), 1002],
    // Protocol errors whatever the length: not 1009 because the length is also too big.
    ["a 64-bit length with its top bit set", declaredHeader(2, 0x8000_0000, 1), 1002],
    ["a continuation of nothing, over the cap", declaredHeader(0, 0, 70_000), 1002],
    [
      "a new message inside a fragmented one, the two over the cap",
      concat(
        clientFrame(1, "x".repeat(40 * 1024), { fin: false }),
        clientFrame(1, "x".repeat(40 * 1024)),
      ),
      1002,
    ],
  ];
  for (const [what, bytes, code] of refusals) {
    await t.step(`${what} closes with ${code}, then the connection ends`, async () => {
      const { client } = await RawClient.open(server);
      await using _ = client;
      await client.write(clientFrame(1, HELLO));
      assert.equal((await client.json()).type, "session_ready");
      await client.write(bytes);
      assert.equal((await client.closeFrame()).code, code);
      assert.ok(await client.ended());
    });
  }

  await t.step(
    "the client's close is answered with its code and reason; the session ends",
    async () => {
      const { client } = await RawClient.open(server);
      await using _ = client;
      await client.write(clientFrame(1, HELLO));
      await client.json();
      const before = server.registry.size;
      await client.write(clientFrame(8, concat(new Uint8Array([0x03, 0xe8]), enc.encode("bye"))));
      assert.deepEqual(await client.closeFrame(), { code: 1000, reason: "bye" });
      assert.ok(await client.ended());
      for (let i = 0; i < 50 && server.registry.size >= before; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(server.registry.size, before - 1);
    },
  );

  await t.step("a client that vanishes without a close frame ends its session", async () => {
    const { client } = await RawClient.open(server);
    await client.write(clientFrame(1, HELLO));
    await client.json();
    const before = server.registry.size;
    client.conn.close();
    for (let i = 0; i < 50 && server.registry.size >= before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(server.registry.size, before - 1);
  });
});

Deno.test("a ping that comes after the server's close, before the peer's, gets its pong", async () => {
  // RFC 6455 §5.5.2: pongs are owed until the peer's close frame; the hello timeout closes.
  await using server = startTestServer({
    model: new ScriptedModel([]),
    limits: { helloTimeoutMs: 200 },
  });
  const { client } = await RawClient.open(server);
  await using _ = client;
  assert.equal((await client.closeFrame()).code, 1008);
  await client.write(clientFrame(9, "still there?"));
  const pong = await client.frame();
  assert.equal(pong?.opcode, 10);
  assert.equal(dec.decode(pong!.payload), "still there?");
  await client.write(clientFrame(8, new Uint8Array([0x03, 0xe8])));
  assert.ok(await client.ended());
});

Deno.test("the guard's WebSocket pings an idle peer and closes one that stays silent", async () => {
  await using server = startTestServer({ model: new ScriptedModel([]), idleTimeoutSeconds: 1 });
  const { client } = await RawClient.open(server);
  await using _ = client;
  await client.write(clientFrame(1, HELLO));
  await client.json();
  // Silent: a ping after half the period, then a close (1001, with its reason) at the period.
  const started = performance.now();
  const ping = await client.frame();
  assert.equal(ping?.opcode, 9);
  const close = await client.closeFrame();
  const ms = performance.now() - started;
  assert.deepEqual(close, { code: 1001, reason: "No response from ping frame" });
  assert.ok(ms >= 500 && ms < 4_000, `closed after ${ms} ms`);
  assert.ok(await client.ended());
});

Deno.test("the guard's WebSocket closes a peer that trickles a frame byte by byte", async () => {
  await using server = startTestServer({ model: new ScriptedModel([]), idleTimeoutSeconds: 1 });
  const { client } = await RawClient.open(server);
  await using _ = client;
  await client.write(clientFrame(1, HELLO));
  await client.json();
  // A header announcing 1000 bytes, then one byte every 200 ms: bytes, but never a frame.
  const frame = clientFrame(1, "x".repeat(1000));
  await client.write(frame.subarray(0, 8));
  let stop = false;
  const trickle = (async () => {
    for (let i = 8; i < frame.length && !stop; i++) {
      await new Promise((r) => setTimeout(r, 200));
      await client.write(frame.subarray(i, i + 1)).catch(() => stop = true);
    }
  })();
  const started = performance.now();
  const close = await client.closeFrame();
  stop = true;
  await trickle;
  assert.equal(close.code, 1001);
  assert.ok(performance.now() - started < 4_000);
});

Deno.test("the guard's WebSocket keeps a peer that answers pings", async () => {
  await using server = startTestServer({ model: new ScriptedModel([]), idleTimeoutSeconds: 1 });
  const { client } = await RawClient.open(server);
  await using _ = client;
  await client.write(clientFrame(1, HELLO));
  await client.json();
  for (let i = 0; i < 2; i++) {
    const ping = await client.frame();
    assert.equal(ping?.opcode, 9);
    await client.write(clientFrame(10, ping!.payload));
  }
  // Still open: a frame is answered.
  await client.write(clientFrame(1, "not json"));
  assert.equal((await client.json()).type, "server_error");
});

Deno.test("the guard's WebSocket takes a message larger than its first buffer, byte for byte", async () => {
  await using server = startTestServer({
    model: new ScriptedModel([]),
    limits: { maxMessageBytes: 3 * 1024 * 1024 },
  });
  const { client } = await RawClient.open(server);
  await using _ = client;
  await client.write(clientFrame(1, HELLO));
  await client.json();
  // 2.5 MB of JSON the codec refuses by its type: answered, so it arrived whole and intact.
  const big = JSON.stringify({ type: "nonsense", pad: "é".repeat(1_250_000) });
  await client.write(clientFrame(1, big));
  const answer = await client.json();
  assert.equal(answer.type, "server_error");
  assert.equal(answer.code, "INVALID_MESSAGE");
});

Deno.test("a peer that stops reading is dropped once 16 MiB wait to be written to it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  listener.close();
  const ws = new ServerWebSocket(conn, { maxMessageBytes: 1024, idleTimeoutSeconds: 0 });
  const closed = Promise.withResolvers<number>();
  ws.start({ message() {}, closed: (code: number) => closed.resolve(code) });
  const mib = "x".repeat(1024 * 1024);
  for (let i = 0; i < 17 && ws.open; i++) ws.send(mib);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([
    closed.promise,
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("still open"), 10_000)),
  ]);
  clearTimeout(timer);
  if (code === "still open") ws.abort();
  assert.equal(code, 1006);
  await ws.finished;
  client.close();
});
