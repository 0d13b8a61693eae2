/**
 * The slowloris guard over real TCP: connections that send their request head slowly, in
 * part or not at all, and requests the server does not answer, are closed and counted.
 */
import assert from "node:assert/strict";
import type { AuthResult } from "../../src/auth/authenticator.ts";
import { denoEnv } from "../fakes/deno_env.ts";
import { ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";

/** Reads until the peer closes; resolves with everything it sent. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch {
      n = null;
    }
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  return new TextDecoder().decode(
    chunks.reduce((all, c) => {
      const joined = new Uint8Array(all.length + c.length);
      joined.set(all);
      joined.set(c, all.length);
      return joined;
    }, new Uint8Array()),
  );
}

/** A complete WebSocket upgrade request for /v1/proactive. */
const UPGRADE_HEAD =
  "GET /v1/proactive HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

function timeoutsOf(text: string, phase: string): number {
  const m = new RegExp(`^proactive_connection_timeouts_total\\{phase="${phase}"\\} (\\d+)$`, "m")
    .exec(text);
  return m ? Number(m[1]) : 0;
}

Deno.test("head guard: slow or silent connections are closed and counted", async (t) => {
  await using server = startTestServer({ model: new ScriptedModel([]), headerTimeoutMs: 300 });
  const { port } = server.server.addr;

  await t.step("a connection that sends nothing is closed", async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await readToEnd(conn), "");
    assert.equal(timeoutsOf(server.metrics.render(), "head"), 1);
  });

  await t.step("a head trickled a byte at a time is answered 408 and closed", async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const head = "GET /v1/proactive HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
    const closed = readToEnd(conn);
    let sending = true;
    const trickle = (async () => {
      for (const byte of new TextEncoder().encode(head)) {
        if (!sending) break;
        try {
          await conn.write(new Uint8Array([byte]));
        } catch {
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const answer = await closed;
    sending = false;
    await trickle;
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.equal(timeoutsOf(server.metrics.render(), "head"), 2);
  });

  await t.step("a head larger than 64 KiB gets 431", async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const closed = readToEnd(conn);
    const big = `GET /healthz HTTP/1.1\r\nX-Junk: ${"a".repeat(70 * 1024)}`;
    await conn.write(new TextEncoder().encode(big)).catch(() => 0);
    assert.match(await closed, /^HTTP\/1\.1 431 /);
  });

  await t.step("a prompt request is served, and its connection ends after the answer", async () => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const closed = readToEnd(conn);
    // A keep-alive client gets one request per connection: no second head escapes the guard.
    await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    const answer = await closed;
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /\{"status":"ok"\}$/);
    assert.equal(answer.match(/HTTP\/1\.1/g)?.length, 1);
  });

  await t.step("WebSocket sessions go through the guard unchanged", async () => {
    await using client = await server.connect();
    const ready = await client.hello();
    assert.equal(ready.type, "session_ready");
  });
});

Deno.test("head guard: an upgrade the server never answers is closed and counted", async () => {
  let release!: () => void;
  const stuck = new Promise<void>((resolve) => release = resolve);
  // An authenticator that ignores its signal: the guard's own deadline must end the wait.
  const authenticator = {
    authenticate: async (): Promise<AuthResult> => {
      await stuck;
      return { ok: false, status: 401, reason: "missing_token" };
    },
  };
  await using server = startTestServer({
    model: new ScriptedModel([]),
    authenticator,
    headerTimeoutMs: 5_000,
    responseTimeoutMs: 300,
  });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
  const closed = readToEnd(conn);
  await conn.write(new TextEncoder().encode(UPGRADE_HEAD));
  assert.equal(await closed, "");
  assert.equal(timeoutsOf(server.metrics.render(), "response"), 1);
  release();
});

Deno.test("head guard: a refused upgrade ends its connection after the answer", async () => {
  const refusing = {
    authenticate: (): Promise<AuthResult> =>
      Promise.resolve({ ok: false, status: 401, reason: "missing_token" }),
  };
  await using server = startTestServer({
    model: new ScriptedModel([]),
    authenticator: refusing,
    headerTimeoutMs: 5_000,
  });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
  const closed = readToEnd(conn);
  await conn.write(new TextEncoder().encode(UPGRADE_HEAD));
  // Without the guard ending it, the connection would stay open for a second, unguarded head.
  const answer = await closed;
  assert.match(answer, /^HTTP\/1\.1 401 /);
  assert.match(answer, /"error":"missing_token"/);
});

Deno.test("head guard: a client that half-closes after its request still gets the answer", async () => {
  await using server = startTestServer({ model: new ScriptedModel([]) });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
  await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  await conn.closeWrite();
  assert.match(await readToEnd(conn), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"status":"ok"\}$/);
});

Deno.test("head guard: the port keeps serving after accept fails (out of file descriptors)", async () => {
  // main.ts under a small descriptor limit: a burst of connections exhausts it, then closes.
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'ulimit -n 120 && exec "$0" run --allow-net --allow-env --allow-read "$1"',
      Deno.execPath(),
      main,
    ],
    clearEnv: true,
    env: denoEnv({ PORT: "0", METRICS_PORT: "0", NO_COLOR: "1" }),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const read = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const pumps = Promise.all([read(child.stdout), read(child.stderr)]);
  try {
    let port = 0;
    for (let i = 0; i < 300 && !port; i++) {
      port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1] ?? 0);
      if (!port) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(port, `main.ts did not start: ${output}`);
    const burst: Deno.Conn[] = [];
    for (let i = 0; i < 200; i++) {
      try {
        burst.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      } catch {
        break;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const conn of burst) conn.close();
    // The guard retries with a backoff of at most 1 s; then it answers again.
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = await fetch(`http://127.0.0.1:${port}/healthz`, {
        signal: AbortSignal.timeout(2_000),
      })
        .then(async (r) => {
          await r.body?.cancel();
          return r.status;
        })
        .catch(() => 0);
    }
    assert.equal(status, 200);
    assert.match(output, /accept failed; retrying/);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await pumps;
  }
});
