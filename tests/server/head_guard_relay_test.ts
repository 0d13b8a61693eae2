/**
 * The guard's relay on its own, in front of a raw TCP upstream that answers an upgrade with a
 * 101 and then echoes: every byte arrives, in order, whatever the message sizes and pauses
 * (the idle, medium and big buffers, and a message that fills the idle buffer exactly and is
 * followed by nothing).
 */
import assert from "node:assert/strict";
import { silentLogger } from "../../src/log.ts";
import { startHeadGuard } from "../../src/server/head_guard.ts";
import { Metrics } from "../../src/server/metrics.ts";

const SWITCHED = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
const HEAD = "GET /v1/proactive HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";

/** Answers the head with a 101, then echoes every byte until the guard hangs up. */
async function echo(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  let head = "";
  try {
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) return;
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    await conn.write(new TextEncoder().encode(SWITCHED));
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) return;
      let written = 0;
      while (written < n) written += await conn.write(buffer.subarray(written, n));
    }
  } catch {
    // The guard closed.
  } finally {
    conn.close();
  }
}

async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const n = await conn.read(out.subarray(at));
    if (n === null) throw new Error(`EOF after ${at} of ${length} bytes`);
    at += n;
  }
  return out;
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

Deno.test("head guard relay: every byte arrives both ways, whatever the sizes", async () => {
  const upstream = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echoes: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of upstream) echoes.push(echo(conn));
  })();
  const guard = startHeadGuard({
    hostname: "127.0.0.1",
    port: 0,
    target: upstream.addr as Deno.NetAddr,
    headerTimeoutMs: 5_000,
    responseTimeoutMs: 5_000,
    metrics: new Metrics(() => 0),
    log: silentLogger,
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: guard.addr.port });
    try {
      await conn.write(new TextEncoder().encode(HEAD));
      const answer = new TextDecoder().decode(await readExactly(conn, SWITCHED.length));
      assert.equal(answer, SWITCHED);
      const sizes = [
        1,
        2,
        127,
        128,
        129,
        255,
        256,
        4095,
        4096,
        4097,
        4224,
        65_536,
        70_000,
        300_001,
      ];
      for (const [i, size] of sizes.entries()) {
        const sent = pattern(size, i);
        const writing = conn.write(sent).then(async function rest(n): Promise<void> {
          let written = n;
          while (written < size) written += await conn.write(sent.subarray(written));
        });
        const received = await readExactly(conn, size);
        await writing;
        assert.deepEqual(received, sent, `message of ${size} bytes`);
      }
      // Exactly the idle buffer's size, then a pause: it must not wait for more input.
      for (const size of [128, 128 + 4096 - 128]) {
        const sent = pattern(size, 7);
        await conn.write(sent);
        const received = await readExactly(conn, size);
        assert.deepEqual(received, sent, `message of ${size} bytes before a pause`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Several messages back to back, read as one stream.
      const burst = [pattern(128, 1), pattern(3, 2), pattern(5000, 3), pattern(128, 4)];
      for (const part of burst) await conn.write(part);
      const total = burst.reduce((sum, part) => sum + part.length, 0);
      const joined = new Uint8Array(total);
      let at = 0;
      for (const part of burst) {
        joined.set(part, at);
        at += part.length;
      }
      assert.deepEqual(await readExactly(conn, total), joined);
    } finally {
      conn.close();
    }
  } finally {
    await guard.close(1_000);
    upstream.close();
    await accepting.catch(() => {});
    await Promise.all(echoes);
  }
});
