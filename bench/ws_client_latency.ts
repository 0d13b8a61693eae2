/**
 * Round-trip latency of one WebSocket message on loopback, per message size, to check an
 * earlier finding: Deno's own `WebSocket` client was seen to stall ~44 ms per message for
 * client messages of roughly 1–16 KB (Nagle-like) while the server side did not.
 *
 * An echo server runs in its own process (`--serve`). For each size the client runs
 * strictly sequential round trips (send, wait for the answer, send the next) in three ways:
 * - `deno c→s`: Deno's `WebSocket` sends `size` bytes, the server answers 1 byte;
 * - `deno c→s, padded`: as `deno c→s`, the message padded with trailing spaces to 64 KB
 *   first (what the client library's `nagle_padding.ts` does), to check the workaround;
 * - `deno s→c`: Deno's `WebSocket` sends 1 byte, the server answers `size` bytes;
 * - `raw c→s`: the minimal client of `raw_ws.ts` (on `Deno.connect`, `setNoDelay(true)`,
 *   each frame, header, mask key and payload, in one write) sends `size` bytes;
 * - `raw c→s, Nagle on`: the same with `setNoDelay(false)`, to tell the two causes apart.
 *
 * Usage: `deno run --allow-net --allow-run --allow-read bench/ws_client_latency.ts
 * [--rounds 200] [--host 127.0.0.1] [--url ws://…] [--sizes 512,2048,…] [--json]`. `--host` is
 * the address the echo server listens on and the client dials (default loopback); `--url`
 * dials an echo server started apart (`--serve --host …`), e.g. in another network namespace
 * behind a veth pair, to measure a path with a real MTU.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { PAD_TO_BYTES } from "../src/client/nagle_padding.ts";
import { RawWebSocket } from "./raw_ws.ts";
import { percentile } from "./stats.ts";

/** Message sizes measured, bytes. */
export const WS_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536] as const;

/** Latency of one way of sending, per size. */
export interface WsLatencyRow {
  bytes: number;
  mode: "deno c→s" | "deno c→s, padded" | "deno s→c" | "raw c→s" | "raw c→s, Nagle on";
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Round trips slower than 30 ms (the stall the issue describes is ~40 ms). */
  stalls: number;
  rounds: number;
}

/** Echo server: a message "a…" is answered with "k"; "r<n>" is answered with n bytes. */
function serve(hostname: string): void {
  const server = Deno.serve({ hostname, port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (event) => {
      const text = String(event.data);
      if (text.startsWith("r")) socket.send("x".repeat(Number(text.slice(1))));
      else socket.send("k");
    };
    return response;
  });
  console.log(JSON.stringify({ port: server.addr.port }));
}

/** Round trips through Deno's WebSocket client; returns one duration per round, ms. */
async function denoRounds(
  url: string,
  makeMessage: () => string,
  rounds: number,
  warmup: number,
): Promise<number[]> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("Cannot connect to the echo server"));
  });
  let wake: () => void = () => {};
  ws.onmessage = () => wake();
  const times: number[] = [];
  for (let i = 0; i < warmup + rounds; i++) {
    const message = makeMessage();
    const answered = new Promise<void>((resolve) => wake = resolve);
    const started = performance.now();
    ws.send(message);
    await answered;
    if (i >= warmup) times.push(performance.now() - started);
  }
  ws.close();
  return times;
}

async function rawRounds(
  url: string,
  message: string,
  rounds: number,
  warmup: number,
  noDelay: boolean,
): Promise<number[]> {
  const ws = await RawWebSocket.connect(url, { noDelay });
  const times: number[] = [];
  for (let i = 0; i < warmup + rounds; i++) {
    const started = performance.now();
    // A fresh random mask key per message, as a browser or Deno's client would use.
    await ws.sendText(message, crypto.getRandomValues(new Uint8Array(4)));
    await ws.receive();
    if (i >= warmup) times.push(performance.now() - started);
  }
  ws.close();
  return times;
}

function row(bytes: number, mode: WsLatencyRow["mode"], times: number[]): WsLatencyRow {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    bytes,
    mode,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    meanMs: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length),
    stalls: times.filter((t) => t > 30).length,
    rounds: times.length,
  };
}

/** Options of {@link measureWsClientLatency}. */
export interface WsLatencyOptions {
  /** Address the echo server listens on and the client dials; default loopback. */
  host?: string;
  /** An echo server already running (`--serve`), e.g. in another network namespace. */
  url?: string;
  /** Message sizes, bytes; default {@link WS_SIZES}. */
  sizes?: readonly number[];
}

/** Measures every size and way against an echo server (started and stopped here by default). */
export async function measureWsClientLatency(
  rounds = 200,
  options: WsLatencyOptions = {},
): Promise<WsLatencyRow[]> {
  if (options.url) return await measureAgainst(options.url, rounds, options.sizes ?? WS_SIZES);
  const host = options.host ?? "127.0.0.1";
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      import.meta.filename ?? new URL(import.meta.url).pathname,
      "--serve",
      "--host",
      host,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("The echo server did not start");
      text += value;
    }
    reader.releaseLock();
    const port = JSON.parse(text.split("\n")[0]!).port as number;
    const url = `ws://${host.includes(":") ? `[${host}]` : host}:${port}/`;
    return await measureAgainst(url, rounds, options.sizes ?? WS_SIZES);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
}

async function measureAgainst(
  url: string,
  rounds: number,
  sizes: readonly number[],
): Promise<WsLatencyRow[]> {
  const warmup = Math.min(20, rounds);
  const rows: WsLatencyRow[] = [];
  for (const bytes of sizes) {
    const payload = "a" + "x".repeat(bytes - 1);
    const padded = payload + " ".repeat(Math.max(0, PAD_TO_BYTES - bytes));
    rows.push(row(bytes, "deno c→s", await denoRounds(url, () => payload, rounds, warmup)));
    rows.push(
      row(bytes, "deno c→s, padded", await denoRounds(url, () => padded, rounds, warmup)),
    );
    rows.push(row(bytes, "deno s→c", await denoRounds(url, () => `r${bytes}`, rounds, warmup)));
    rows.push(
      row(bytes, "raw c→s", await rawRounds(url, payload, rounds, warmup, true)),
      row(bytes, "raw c→s, Nagle on", await rawRounds(url, payload, rounds, warmup, false)),
    );
  }
  return rows;
}

/** The rows as a Markdown table. */
export function wsLatencyTable(rows: WsLatencyRow[]): string {
  const lines = [
    "| message | way | p50 ms | p95 ms | p99 ms | mean ms | rounds > 30 ms |",
    "| --: | --- | --: | --: | --: | --: | --: |",
  ];
  for (const r of rows) {
    const size = r.bytes >= 1024 && r.bytes % 1024 === 0 ? `${r.bytes / 1024} KB` : `${r.bytes} B`;
    lines.push(
      `| ${size} | ${r.mode} | ${r.p50Ms.toFixed(2)} | ${r.p95Ms.toFixed(2)} | ${
        r.p99Ms.toFixed(2)
      } | ${r.meanMs.toFixed(2)} | ${r.stalls}/${r.rounds} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "boolean", default: false },
      rounds: { type: "string", default: "200" },
      host: { type: "string", default: "127.0.0.1" },
      url: { type: "string" },
      sizes: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  if (values.serve) serve(values.host);
  else {
    const sizes = values.sizes?.split(",").map(Number) ?? WS_SIZES;
    const rows = await measureWsClientLatency(Number(values.rounds), {
      host: values.host,
      sizes,
      ...(values.url ? { url: values.url } : {}),
    });
    console.log(values.json ? JSON.stringify(rows) : wsLatencyTable(rows));
  }
}
