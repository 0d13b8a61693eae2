/**
 * `deno run -A --v8-flags=--expose-gc bench/pin_memory.ts`: the most one user can pin. Five
 * sessions (the default `MAX_SESSIONS_PER_USER`) each send a hello and five 15 MiB frames
 * while the model never answers (a listener that accepts and stays silent), so every session
 * holds one running frame and sees the rest arrive behind it. The real server runs in this
 * process, so its heap can be read before and after a forced collection; the client is a
 * separate process.
 *
 * @module
 */
import { buildAuthenticator, buildModel, sessionLimits } from "../src/compose.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/server/metrics.ts";
import { SessionRegistry } from "../src/server/registry.ts";
import { startServer } from "../src/server/server.ts";

const SESSIONS = 5;
const FRAMES = 5;
const FRAME_MIB = 15;

const CLIENT = `
const image = "A".repeat(${FRAME_MIB} * 1024 * 1024);
const sockets = [];
for (let s = 0; s < ${SESSIONS}; s++) {
  const ws = new WebSocket(Deno.args[0]);
  await new Promise((resolve) => ws.onopen = resolve);
  ws.send(JSON.stringify({ type: "client_hello", session_context: {} }));
  for (let f = 0; f < ${FRAMES}; f++) {
    ws.send(JSON.stringify({ type: "frame_event", frame_number: f, app_name: "X", jpeg_base64: image }));
  }
  sockets.push(ws);
}
console.log("sent");
await new Promise((resolve) => setTimeout(resolve, 60_000));
`;

const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const held: Deno.Conn[] = [];
const accepting = (async () => {
  for await (const conn of silent) held.push(conn);
})();
const config = loadConfig({
  GEMINI_API_KEY: "bench",
  GEMINI_BASE_URL: `http://127.0.0.1:${(silent.addr as Deno.NetAddr).port}`,
  RATE_LIMIT_FRAMES_PER_MINUTE: "0",
});
const log = createLogger({ level: "error" });
const registry = new SessionRegistry();
const metrics = new Metrics(() => registry.size);
const server = startServer({
  hostname: "127.0.0.1",
  port: 0,
  headerTimeoutMs: config.headerTimeoutMs,
  model: buildModel(config, log),
  authenticator: buildAuthenticator(config),
  registry,
  log,
  metrics,
  maxSessions: 100,
  maxSessionsPerUser: config.maxSessionsPerUser,
  idleTimeoutSeconds: 30,
  limits: sessionLimits(config),
});
const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);
// deno-lint-ignore no-explicit-any
const gc = (globalThis as any).gc as (() => void) | undefined;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
gc();
const before = Deno.memoryUsage();
const client = new Deno.Command(Deno.execPath(), {
  args: ["eval", CLIENT, `ws://127.0.0.1:${server.addr.port}/v1/proactive`],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = client.stdout.pipeThrough(new TextDecoderStream()).getReader();
await reader.read(); // "sent"
let peak = 0;
for (let i = 0; i < 8; i++) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  peak = Math.max(peak, Deno.memoryUsage().rss);
}
const loaded = Deno.memoryUsage();
gc();
const collected = Deno.memoryUsage();
console.log(
  `one user, ${SESSIONS} sessions x ${FRAMES} frames x ${FRAME_MIB} MiB, model silent:\n` +
    `  before: rss ${mib(before.rss)} MiB, heap ${mib(before.heapUsed)} MiB, external ${
      mib(before.external)
    } MiB\n` +
    `  loaded: rss peak ${mib(peak)} MiB, heap ${mib(loaded.heapUsed)} MiB, external ${
      mib(loaded.external)
    } MiB\n` +
    `  after a collection: heap ${mib(collected.heapUsed)} MiB, external ${
      mib(collected.external)
    } MiB ` +
    `(retained: ${
      mib(collected.heapUsed + collected.external - before.heapUsed - before.external)
    } MiB)`,
);
client.kill("SIGKILL");
await client.status;
await reader.cancel();
await server.shutdown();
silent.close();
for (const conn of held) conn.close();
await accepting;
Deno.exit(0);
