/**
 * The processes of a benchmark run: the fake Gemini, our server (`main.ts`), the bare
 * server, and load generators.
 *
 * @module
 */
import { type ChildProc, freePort, spawnDeno } from "./processes.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const BENCH_DIR = new URL("./", import.meta.url).pathname;

/**
 * Which server is under load: ours, the bare server, or the bare server making its model
 * calls through `@google/genai` (`bare_sdk`, what the SDK alone costs).
 */
export type ServerKind = "ours" | "bare" | "bare_sdk";
/** What the fake model answers. */
export type Scenario = "no_task" | "search_extract";

/** A running fake Gemini. */
export interface Fake {
  proc: ChildProc;
  /** `http://127.0.0.1:<port>`, the value of `GEMINI_BASE_URL`. */
  base: string;
}

/** A running server under test. */
export interface Server {
  kind: ServerKind;
  proc: ChildProc;
  /** `ws://127.0.0.1:<port>/v1/proactive`. */
  url: string;
}

/** Totals of the fake's `/stats`. */
export interface FakeStats {
  requests: number;
  serviceMs: number;
  calls: Record<string, number>;
}

/** Starts `fake_gemini.ts` on a free port. */
export async function startFake(): Promise<Fake> {
  const proc = spawnDeno("fake_gemini", {
    args: ["run", "--allow-net", "--allow-env", `${BENCH_DIR}fake_gemini.ts`, "--port", "0"],
  });
  const line = await proc.nextLine(30_000);
  if (!line) throw new Error(`fake_gemini did not start: ${proc.stderrTail}`);
  const { port } = JSON.parse(line) as { port: number };
  return { proc, base: `http://127.0.0.1:${port}` };
}

/** Switches the fake's scenario and fixed latency. */
export async function configureFake(
  fake: Fake,
  scenario: Scenario,
  latencyMs: number,
): Promise<void> {
  const response = await fetch(`${fake.base}/config`, {
    method: "POST",
    body: JSON.stringify({ scenario, latencyMs }),
  });
  await response.body?.cancel();
}

/** The fake's counters so far. */
export async function fakeStats(fake: Fake): Promise<FakeStats> {
  return await (await fetch(`${fake.base}/stats`)).json() as FakeStats;
}

/**
 * Starts `bare_server.ts` against the fake (with `--sdk` for `bare_sdk`). `denoFlags` go
 * before the script.
 */
export async function startBare(
  fake: Fake,
  denoFlags: string[] = [],
  kind: "bare" | "bare_sdk" = "bare",
): Promise<Server> {
  const proc = spawnDeno("bare_server", {
    args: [
      "run",
      ...denoFlags,
      "--allow-net",
      "--allow-env",
      `${BENCH_DIR}bare_server.ts`,
      "--port",
      "0",
      "--model-url",
      `${fake.base}/v1beta/models/gemini-2.5-flash:generateContent`,
      ...(kind === "bare_sdk" ? ["--sdk"] : []),
    ],
  });
  const line = await proc.nextLine(30_000);
  if (!line) throw new Error(`bare_server did not start: ${proc.stderrTail}`);
  const { port } = JSON.parse(line) as { port: number };
  return { kind, proc, url: `ws://127.0.0.1:${port}/v1/proactive` };
}

/** Variables passed through to our server; everything else comes from the bench. */
const PASS_ENV = [
  "HOME",
  "PATH",
  "DENO_DIR",
  "XDG_CACHE_HOME",
  "TMPDIR",
  "DENO_NO_UPDATE_CHECK",
  // To measure our server with its slowloris guard off (`HEADER_TIMEOUT_MS=0`).
  "HEADER_TIMEOUT_MS",
];

/** The environment our server runs with in the benchmark. */
export function ourEnv(port: number, fakeBase: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASS_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return {
    ...env,
    NO_COLOR: "1",
    HOST: "127.0.0.1",
    PORT: String(port),
    GEMINI_API_KEY: "bench-key",
    GEMINI_BASE_URL: fakeBase,
    LOG_LEVEL: "warn",
    RATE_LIMIT_FRAMES_PER_MINUTE: "0",
    // AUTH_MODE=none makes every session the same user; 10 000 is the variable's maximum.
    MAX_SESSIONS_PER_USER: "10000",
    MAX_SESSIONS: "100000",
    DRAIN_TIMEOUT_MS: "1000",
    METRICS_PORT: "0",
    // Every session sends the same screen again and again: with the skip on, ours would
    // answer all but the first from memory. The bench measures the model path.
    SKIP_UNCHANGED_SEC: "0",
  };
}

/**
 * Starts `main.ts` with the permissions of `deno task start` on a free port and waits for
 * `/healthz`. `denoFlags` go before the permissions (e.g. `--cpu-prof`).
 */
export async function startOurs(fake: Fake, denoFlags: string[] = []): Promise<Server> {
  const port = freePort();
  const proc = spawnDeno("main.ts", {
    args: ["run", ...denoFlags, "--allow-net", "--allow-env", "--allow-read=.", "main.ts"],
    cwd: ROOT,
    clearEnv: true,
    env: ourEnv(port, fake.base),
  });
  const deadline = performance.now() + 60_000;
  let exited = false;
  proc.child.status.then(() => exited = true);
  while (performance.now() < deadline && !exited) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      await response.body?.cancel();
      if (response.ok) return { kind: "ours", proc, url: `ws://127.0.0.1:${port}/v1/proactive` };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await proc.stop("SIGKILL");
  throw new Error(`main.ts did not become healthy: ${proc.stderrTail}`);
}

/** Starts the server of `kind`. */
export function startServer(kind: ServerKind, fake: Fake, denoFlags: string[] = []) {
  return kind === "ours" ? startOurs(fake, denoFlags) : startBare(fake, denoFlags, kind);
}

/** Starts `load.ts` against `server` with `args`. */
export function loadGenerator(server: Server, args: string[], stdin = false): ChildProc {
  return spawnDeno("load", {
    args: ["run", "--allow-net", `${BENCH_DIR}load.ts`, "--url", server.url, ...args],
    stdin,
  });
}
