/**
 * `deno task bench [--quick] [--write | --out FILE]`: our server against the bare server,
 * one after the other in the same run, with the same fake Gemini process, on this machine.
 * The figures go to stdout; only `--write` (BENCHMARKS.md) or `--out FILE` writes a file.
 *
 * Every speed target is a ratio to the bare server measured in the same run, never
 * an absolute figure. Steps:
 * 1. Deno's WebSocket client latency per message size (`ws_client_latency.ts`).
 * 2. Resident memory per idle session: a fresh server per kind, 3 000 sessions after hello.
 * 3. The fake Gemini (one process for the whole run) is switched between scenarios and
 *    latencies through its `/config`. For each cell, ours runs first, then bare, back to
 *    back, each freshly started and driven by its own load-generator process (`load.ts`):
 *    - target: frames/s at 50 sessions × 200 KB, instant model;
 *    - target: frames/s and server CPU per frame under an outside review's load (Deno's own
 *      `WebSocket` client, 20 active tasks in the hello, 2 KB of OCR, 200 KB JPEG);
 *    - target: added latency at 10 sessions × 200 KB, model fixed at 200 ms, where nothing
 *      queues (and, for context, at 20 ms, where both servers saturate their JS thread);
 *    - the matrix: scenarios (no_task, search_extract) × frame sizes (0, 4 KB, 200 KB,
 *      1 MB) at 10 sessions, instant model; target: server CPU per no_task frame.
 *    Before the load runs, the prompt's cacheable prefix (`prompt_prefix.ts`, in-process).
 * 4. A table on stdout and, with `--write` or `--out`, the figures between the `bench`
 *    markers of BENCHMARKS.md or FILE (anything outside the markers is kept).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type LoadResult, type LoadShape, TYPICAL_OCR_TEXT } from "./load.ts";
import { type ChildProc, children } from "./processes.ts";
import {
  configureFake,
  type Fake,
  fakeStats,
  loadGenerator,
  type Scenario,
  type Server,
  type ServerKind,
  startFake,
  startServer,
} from "./servers.ts";
import { DEFAULT_SKIP_APPS, DEFAULT_SKIP_TITLES, PrivacyGuard } from "../src/frames/privacy.ts";
import { screen } from "./privacy.ts";
import {
  cpuMsFromStat,
  machineBusyMsFromStat,
  percentile,
  readProcFiles,
  rssKibOf,
} from "./stats.ts";
import { measurePromptPrefix, type PrefixReport, prefixTable } from "./prompt_prefix.ts";
import { measureSdkOverhead, type SdkOverhead, sdkOverheadTable } from "./sdk_overhead.ts";
import { measureWsClientLatency, type WsLatencyRow, wsLatencyTable } from "./ws_client_latency.ts";

/**
 * The shared prefix before the prompt was ordered for the cache, measured once with
 * `prompt_prefix.ts`'s session at that commit (the code that produced it is gone).
 */
const PREFIX_BEFORE = {
  commit: "ae300a0",
  acrossFramesBytes: 61,
  acrossFramesShare: "0.2%",
  toolLoopBytes: "9,754",
  toolLoopShare: "66.6%",
} as const;

const ROOT = new URL("../", import.meta.url).pathname;

/** Durations and sizes of one mode. */
interface Plan {
  wsRounds: number;
  idleSessions: number;
  targetReps: number;
  targetWarmupMs: number;
  targetWindowMs: number;
  matrixWarmupMs: number;
  matrixWindowMs: number;
  /** Pairs run again at most, in the whole run, when other processes were busy. */
  maxRepeats: number;
}

const FULL: Plan = {
  wsRounds: 100,
  idleSessions: 3_000,
  targetReps: 2,
  targetWarmupMs: 3_000,
  targetWindowMs: 10_000,
  matrixWarmupMs: 2_000,
  matrixWindowMs: 8_000,
  maxRepeats: 4,
};

const QUICK: Plan = {
  wsRounds: 30,
  idleSessions: 3_000,
  targetReps: 1,
  targetWarmupMs: 1_000,
  targetWindowMs: 4_000,
  matrixWarmupMs: 1_000,
  matrixWindowMs: 2_500,
  maxRepeats: 1,
};

/** Model calls per frame of each scenario (the fake never fails, so never a retry). */
const MODEL_CALLS: Record<Scenario, number> = { no_task: 1, search_extract: 2 };

const SIZES = [0, 4 * 1024, 200 * 1024, 1024 * 1024] as const;
/** Frame sizes where the SDK's fixed cost per call is measured on its own (`bare_sdk`). */
const SDK_FLOOR_SIZES = [0, 4 * 1024] as const;
/** OCR characters of the privacy guard's cost: the prompt's cap. */
const PRIVACY_OCR_CHARS = 12_000;
const SCENARIOS: Scenario[] = ["no_task", "search_extract"];
const TARGET_SESSIONS = 50;
const MATRIX_SESSIONS = 10;
/**
 * Model latency of the added-latency target. At 10 sessions × 200 KB frames, a 20 ms model
 * drives ~300–400 frames/s, which saturates a server's one JS thread on this class of
 * machine (the bare server's too), so its p99 measures queueing for the CPU, not the
 * latency a server adds to a frame. At 200 ms (still faster than Gemini) nothing queues.
 */
const LATENCY_MS = 200;
/** The fast model of the brief, reported beside the target for context. */
const FAST_LATENCY_MS = 20;

/** Share of the machine other processes may use during a pair before it is run again. */
const OTHER_BUSY_LIMIT = 0.15;

/** The targets, each a ratio to the bare server in the same run. */
const TARGETS = {
  throughputRatio: 0.9,
  cpuRatio: 1.3,
  addedP99Ratio: 1.5,
  memoryRatio: 1.25,
} as const;

/** One load run and what was read around its window. */
interface RunRecord {
  server: ServerKind;
  scenario: Scenario;
  bytes: number;
  sessions: number;
  modelLatencyMs: number;
  result: LoadResult;
  /** CPU of each process during the window, ms per counted frame. */
  serverCpuMsPerFrame: number;
  loadCpuMsPerFrame: number;
  fakeCpuMsPerFrame: number;
  /** Share of the machine's CPU used during the window, all three processes, 0..1. */
  machineBusy: number;
  /** Share of the machine's CPU used during the window by processes outside the bench. */
  otherBusy: number;
  /** Model requests during the window per counted frame. */
  modelCallsPerFrame: number;
  /** Mean time the fake held a request (its latency plus reading the body), ms. */
  modelMsPerCall: number;
  /** Latency minus model time (model calls per frame × model ms per call). */
  addedP50Ms: number;
  addedP99Ms: number;
}

/** Resident memory of a fresh server before and after opening idle sessions. */
export interface MemoryRecord {
  server: ServerKind;
  sessions: number;
  failed: number;
  beforeKib: number;
  afterKib: number;
  perSessionKib: number;
  openMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function log(line: string): void {
  console.error(line);
}

let ticksPerSecond = 100;

async function readClockTicks(): Promise<number> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** CPU ms so far of the server, the load generator, the fake and the whole machine. */
async function cpuOf(server: ChildProc, gen: ChildProc, fake: ChildProc) {
  const [s = "", l = "", f = "", m = ""] = await readProcFiles([
    `/proc/${server.pid}/stat`,
    `/proc/${gen.pid}/stat`,
    `/proc/${fake.pid}/stat`,
    "/proc/stat",
  ]);
  return {
    server: cpuMsFromStat(s, ticksPerSecond),
    load: cpuMsFromStat(l, ticksPerSecond),
    fake: cpuMsFromStat(f, ticksPerSecond),
    machine: machineBusyMsFromStat(m, ticksPerSecond),
  };
}

// ---------------------------------------------------------------------------------------
// Measurements

export async function loadRun(
  server: Server,
  fake: Fake,
  spec: {
    scenario: Scenario;
    bytes: number;
    sessions: number;
    modelLatencyMs: number;
    warmupMs: number;
    windowMs: number;
    /** The load generator's `--shape` (default `small`). */
    shape?: LoadShape;
    /** Typical shape: this much of an ordinary busy screen's OCR text (`--ocr-chars`). */
    ocrChars?: number;
  },
): Promise<RunRecord> {
  await configureFake(fake, spec.scenario, spec.modelLatencyMs);
  const gen = loadGenerator(server, [
    "--sessions",
    String(spec.sessions),
    "--bytes",
    String(spec.bytes),
    "--warmup-ms",
    String(spec.warmupMs),
    "--window-ms",
    String(spec.windowMs),
    "--stagger-ms",
    String(spec.modelLatencyMs * MODEL_CALLS[spec.scenario]),
    "--shape",
    spec.shape ?? "small",
    ...(spec.ocrChars === undefined ? [] : ["--ocr-chars", String(spec.ocrChars)]),
  ]);
  try {
    await gen.nextEvent("ready", 120_000);
    await gen.nextEvent("window_start", spec.warmupMs + 60_000);
    const t0 = performance.now();
    const cpu0 = await cpuOf(server.proc, gen, fake.proc);
    const stats0 = await fakeStats(fake);
    await gen.nextEvent("window_end", spec.windowMs + 60_000);
    const cpu1 = await cpuOf(server.proc, gen, fake.proc);
    const elapsed = performance.now() - t0;
    const stats1 = await fakeStats(fake);
    const result = await gen.nextEvent<LoadResult>("result", 60_000);
    const frames = Math.max(1, result.frames);
    const calls = stats1.requests - stats0.requests;
    const modelCallsPerFrame = calls / frames;
    const modelMsPerCall = calls > 0 ? (stats1.serviceMs - stats0.serviceMs) / calls : 0;
    // The scenario's exact call count: calls started in the window ÷ frames finished in it
    // is off by a frame or two, which is several ms of "model time" with a slow model.
    const modelMsPerFrame = MODEL_CALLS[spec.scenario] * modelMsPerCall;
    const cores = navigator.hardwareConcurrency || 1;
    const used = (cpu1.server - cpu0.server) + (cpu1.load - cpu0.load) + (cpu1.fake - cpu0.fake);
    return {
      server: server.kind,
      scenario: spec.scenario,
      bytes: spec.bytes,
      sessions: spec.sessions,
      modelLatencyMs: spec.modelLatencyMs,
      result,
      serverCpuMsPerFrame: (cpu1.server - cpu0.server) / frames,
      loadCpuMsPerFrame: (cpu1.load - cpu0.load) / frames,
      fakeCpuMsPerFrame: (cpu1.fake - cpu0.fake) / frames,
      machineBusy: used / (elapsed * cores),
      otherBusy: Math.max(0, (cpu1.machine - cpu0.machine) - used) / (elapsed * cores),
      modelCallsPerFrame,
      modelMsPerCall,
      addedP50Ms: result.latencyMs.p50 - modelMsPerFrame,
      addedP99Ms: result.latencyMs.p99 - modelMsPerFrame,
    };
  } finally {
    await gen.stop();
  }
}

/** Resident memory per idle session of a fresh `kind` server, after a warm-up. */
export async function idleMemory(
  kind: ServerKind,
  fake: Fake,
  sessions: number,
): Promise<MemoryRecord> {
  const server = await startServer(kind, fake);
  try {
    // Warm-up: one-time costs (lazy imports, JIT, first buffers) are not per-session costs.
    const warm = loadGenerator(server, ["--mode", "idle", "--sessions", "50"], true);
    await warm.nextEvent("idle_ready", 60_000);
    await warm.closeStdin();
    await warm.nextEvent("done", 30_000);
    await warm.stop();
    await sleep(1_000);
    const beforeKib = await rssKibOf(server.proc.pid);
    const gen = loadGenerator(server, ["--mode", "idle", "--sessions", String(sessions)], true);
    try {
      const ready = await gen.nextEvent<{ opened: number; failed: number; ms: number }>(
        "idle_ready",
        240_000,
      );
      await sleep(2_000);
      const afterKib = await rssKibOf(server.proc.pid);
      await gen.closeStdin();
      await gen.nextEvent("done", 30_000).catch(() => {});
      return {
        server: kind,
        sessions: ready.opened,
        failed: ready.failed,
        beforeKib,
        afterKib,
        perSessionKib: (afterKib - beforeKib) / Math.max(1, ready.opened),
        openMs: ready.ms,
      };
    } finally {
      await gen.stop();
    }
  } finally {
    await server.proc.stop();
  }
}

// ---------------------------------------------------------------------------------------
// Report

function sizeLabel(bytes: number): string {
  if (bytes === 0) return "0";
  if (bytes >= 1024 * 1024) return `${bytes / (1024 * 1024)} MB`;
  return `${bytes / 1024} KB`;
}

function f(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

function errorsText(r: LoadResult): string {
  if (r.errorCount === 0) return "0";
  return `${r.errorCount} (${Object.entries(r.errors).map(([k, v]) => `${k}: ${v}`).join(", ")})`;
}

function progress(r: RunRecord): string {
  return `${r.server.padEnd(4)} ${r.scenario.padEnd(14)} ${sizeLabel(r.bytes).padStart(6)} ` +
    `${String(r.sessions).padStart(2)} sessions model ${r.modelLatencyMs} ms: ` +
    `${f(r.result.framesPerSecond)} frames/s, p50 ${f(r.result.latencyMs.p50)} ms, ` +
    `p99 ${f(r.result.latencyMs.p99)} ms, added p99 ${f(r.addedP99Ms)} ms, ` +
    `server CPU ${f(r.serverCpuMsPerFrame, 2)} ms/frame, other processes ${
      f(r.otherBusy * 100, 0)
    }%, errors ${errorsText(r.result)}`;
}

/** Mean over repetitions of the same cell. */
function combine(runs: RunRecord[]): RunRecord {
  const first = runs[0]!;
  if (runs.length === 1) return first;
  const mean = (pick: (r: RunRecord) => number) =>
    runs.reduce((a, r) => a + pick(r), 0) / runs.length;
  const errors: Record<string, number> = {};
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.result.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  return {
    ...first,
    result: {
      ...first.result,
      frames: runs.reduce((a, r) => a + r.result.frames, 0),
      framesPerSecond: mean((r) => r.result.framesPerSecond),
      latencyMs: {
        p50: mean((r) => r.result.latencyMs.p50),
        p90: mean((r) => r.result.latencyMs.p90),
        p99: mean((r) => r.result.latencyMs.p99),
        max: Math.max(...runs.map((r) => r.result.latencyMs.max)),
        mean: mean((r) => r.result.latencyMs.mean),
      },
      errors,
      errorCount: runs.reduce((a, r) => a + r.result.errorCount, 0),
    },
    serverCpuMsPerFrame: mean((r) => r.serverCpuMsPerFrame),
    loadCpuMsPerFrame: mean((r) => r.loadCpuMsPerFrame),
    fakeCpuMsPerFrame: mean((r) => r.fakeCpuMsPerFrame),
    machineBusy: mean((r) => r.machineBusy),
    otherBusy: mean((r) => r.otherBusy),
    modelCallsPerFrame: mean((r) => r.modelCallsPerFrame),
    modelMsPerCall: mean((r) => r.modelMsPerCall),
    addedP50Ms: mean((r) => r.addedP50Ms),
    addedP99Ms: mean((r) => r.addedP99Ms),
  };
}

interface Report {
  quick: boolean;
  command: string;
  date: string;
  machine: { cores: string; cpu: string; memory: string; kernel: string };
  deno: string;
  throughput: { ours: RunRecord; bare: RunRecord; reps: { ours: number; bare: number }[] };
  /** The outside review's load: Deno's WebSocket, 20 tasks in the hello, 2 KB OCR, 200 KB. */
  typical: { ours: RunRecord; bare: RunRecord; reps: { ours: number; bare: number }[] };
  prefix: PrefixReport;
  sdk: SdkOverhead;
  latency: { ours: RunRecord; bare: RunRecord };
  latencyFast: { ours: RunRecord; bare: RunRecord };
  memory: { ours: MemoryRecord; bare: MemoryRecord };
  matrix: { ours: RunRecord; bare: RunRecord }[];
  ws: WsLatencyRow[];
  /**
   * The bare server on `@google/genai` (`bare_sdk`) at the small frames, no_task, each run
   * next to a run of the bare server of its own.
   */
  sdkFloor: { sdk: RunRecord; bare: RunRecord }[];
  privacy: PrivacyCost;
  wallSeconds: number;
  /** Pairs that were run again because other processes were busy. */
  repeats?: number;
}

/** The privacy guard's CPU per frame, and the frame it is part of. */
interface PrivacyCost {
  ocrChars: number;
  /** `PrivacyGuard.check` on a frame of `ocrChars` characters, in-process, median µs. */
  guardUs: number;
  /** The same at the review's 2 KB of OCR. */
  guardUsTypical: number;
  /** Our server under the review's load with `ocrChars` of OCR text per frame. */
  frame: RunRecord;
}

/**
 * `PrivacyGuard.check` as a session runs it (default skip lists, contacts off) on a fresh
 * frame object each time, median µs of `batches` batches after a warm-up.
 */
function guardMicros(ocrText: string, batches = 40, perBatch = 25): number {
  const guard = new PrivacyGuard({
    skipApps: DEFAULT_SKIP_APPS,
    skipTitles: DEFAULT_SKIP_TITLES,
    redactContacts: false,
  });
  const frame = (i: number) => ({
    frameId: `f${i}`,
    appName: "Slack",
    windowTitle: "#design-review | Acme",
    ocrText,
    jpegBase64: "AAAA",
  });
  for (let i = 0; i < 100; i++) guard.check(frame(i));
  const times: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i++) guard.check(frame(i));
    times.push(((performance.now() - t0) * 1000) / perBatch);
  }
  return percentile(times.sort((a, b) => a - b), 50);
}

function ratio(a: number, b: number): number {
  return b > 0 ? a / b : NaN;
}

/** One row of the targets table. */
interface TargetRow {
  label: string;
  ours: string;
  bare: string;
  ratio: number;
  met: boolean;
}

function targetRows(r: Report): { lines: string[]; met: boolean[] } {
  const rows: TargetRow[] = [];
  const fps = (label: string, pair: { ours: RunRecord; bare: RunRecord }) => {
    const x = ratio(pair.ours.result.framesPerSecond, pair.bare.result.framesPerSecond);
    rows.push({
      label: `frames/s, ${label}: ≥ ${TARGETS.throughputRatio}× bare, 0 errors`,
      ours: `${f(pair.ours.result.framesPerSecond)} (errors ${errorsText(pair.ours.result)})`,
      bare: f(pair.bare.result.framesPerSecond),
      ratio: x,
      met: x >= TARGETS.throughputRatio && pair.ours.result.errorCount === 0,
    });
  };
  const cpu = (label: string, pair: { ours: RunRecord; bare: RunRecord }) => {
    const x = ratio(pair.ours.serverCpuMsPerFrame, pair.bare.serverCpuMsPerFrame);
    rows.push({
      label: `server CPU ms/frame, ${label}: ≤ ${TARGETS.cpuRatio}× bare`,
      ours: f(pair.ours.serverCpuMsPerFrame, 2),
      bare: f(pair.bare.serverCpuMsPerFrame, 2),
      ratio: x,
      met: x <= TARGETS.cpuRatio,
    });
  };
  const typical = `review load (Deno WebSocket, 20 tasks, 2 KB OCR), ${TARGET_SESSIONS} × 200 KB`;
  fps(`${TARGET_SESSIONS} sessions × 200 KB, instant model`, r.throughput);
  fps(typical, r.typical);
  cpu(typical, r.typical);
  for (const pair of r.matrix.filter((p) => p.ours.scenario === "no_task")) {
    cpu(`no_task ${sizeLabel(pair.ours.bytes)}, ${MATRIX_SESSIONS} sessions`, pair);
  }
  const l = r.latency;
  const lRatio = ratio(l.ours.addedP99Ms, l.bare.addedP99Ms);
  rows.push({
    label:
      `added latency p99, ${MATRIX_SESSIONS} sessions × 200 KB, model ${LATENCY_MS} ms: ≤ ${TARGETS.addedP99Ratio}× bare`,
    ours: `${f(l.ours.addedP99Ms)} ms`,
    bare: `${f(l.bare.addedP99Ms)} ms`,
    ratio: lRatio,
    met: lRatio <= TARGETS.addedP99Ratio,
  });
  const m = r.memory;
  const mRatio = ratio(m.ours.perSessionKib, m.bare.perSessionKib);
  rows.push({
    label: `resident memory per idle session: ≤ ${TARGETS.memoryRatio}× bare`,
    ours: `${f(m.ours.perSessionKib)} KiB`,
    bare: `${f(m.bare.perSessionKib)} KiB`,
    ratio: mRatio,
    met: mRatio <= TARGETS.memoryRatio,
  });
  const yes = (ok: boolean) => ok ? "**met**" : "**missed**";
  return {
    met: rows.map((row) => row.met),
    lines: [
      "| target | ours | bare | ours/bare | result |",
      "| --- | --: | --: | --: | --- |",
      ...rows.map((row) =>
        `| ${row.label} | ${row.ours} | ${row.bare} | ${f(row.ratio, 2)}× | ${yes(row.met)} |`
      ),
    ],
  };
}

/** Leading columns of a run table: none, scenario and frame size, or the model's latency. */
type Lead = "none" | "matrix" | "model";

function leadCells(r: RunRecord, lead: Lead): string {
  if (lead === "matrix") return `${r.scenario} | ${sizeLabel(r.bytes)} | `;
  if (lead === "model") return `${r.modelLatencyMs} ms | `;
  return "";
}

function runTable(pairs: { ours: RunRecord; bare: RunRecord }[], lead: Lead): string[] {
  const head = lead === "matrix" ? "scenario | frame | " : lead === "model" ? "model | " : "";
  const align = lead === "matrix" ? "--- | --: | " : lead === "model" ? "--: | " : "";
  const lines = [
    `| ${head}server | frames/s | p50 ms | p99 ms | model ms/frame | added p50 ms | added p99 ms | server CPU ms/frame | load gen + fake CPU ms/frame | CPU busy | other processes | errors |`,
    `| ${align}--- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |`,
  ];
  for (const pair of pairs) {
    for (const r of [pair.ours, pair.bare]) {
      lines.push(
        `| ${leadCells(r, lead)}${r.server} | ${f(r.result.framesPerSecond)} | ${
          f(r.result.latencyMs.p50)
        } | ${f(r.result.latencyMs.p99)} | ${f(MODEL_CALLS[r.scenario] * r.modelMsPerCall)} | ${
          f(r.addedP50Ms)
        } | ${f(r.addedP99Ms)} | ${f(r.serverCpuMsPerFrame, 2)} | ${
          f(r.loadCpuMsPerFrame + r.fakeCpuMsPerFrame, 2)
        } | ${f(r.machineBusy * 100, 0)}% | ${f(r.otherBusy * 100, 0)}% | ${
          errorsText(r.result)
        } |`,
      );
    }
    const o = pair.ours;
    const b = pair.bare;
    lines.push(
      `| ${leadCells(o, lead)}*ours/bare* | *${
        f(ratio(o.result.framesPerSecond, b.result.framesPerSecond), 2)
      }×* | *${f(ratio(o.result.latencyMs.p50, b.result.latencyMs.p50), 2)}×* | *${
        f(ratio(o.result.latencyMs.p99, b.result.latencyMs.p99), 2)
      }×* | | *${f(ratio(o.addedP50Ms, b.addedP50Ms), 2)}×* | *${
        f(ratio(o.addedP99Ms, b.addedP99Ms), 2)
      }×* | *${f(ratio(o.serverCpuMsPerFrame, b.serverCpuMsPerFrame), 2)}×* | | | | |`,
    );
  }
  return lines;
}

function wsFinding(rows: WsLatencyRow[]): string {
  const stalled = rows.filter((r) => r.mode === "deno c→s" && r.stalls > r.rounds / 2);
  const size = (b: number) => b >= 1024 ? `${b / 1024} KB` : `${b} B`;
  if (stalled.length === 0) {
    return "No stall measured: every way of sending stayed well under 30 ms per round trip.";
  }
  const others = rows.filter((r) =>
    r.mode !== "deno c→s" && stalled.some((s) => s.bytes === r.bytes) && r.stalls > 0
  );
  const p50 = stalled.map((r) => r.p50Ms);
  const low = f(Math.min(...p50));
  const high = f(Math.max(...p50));
  return `Confirmed: Deno's \`WebSocket\` client stalls on client→server messages of ${
    stalled.map((r) => size(r.bytes)).join(", ")
  } (p50 ${low === high ? low : `${low}–${high}`} ms per round trip), and not at ${
    rows.filter((r) => r.mode === "deno c→s" && r.stalls === 0).map((r) => size(r.bytes)).join(
      ", ",
    )
  }. The server→client direction does not stall, and ${
    others.length === 0
      ? "a client that writes each frame (header, mask key, payload) in one write does not " +
        "stall either, with `TCP_NODELAY` or without it"
      : "the one-write client stalled too in some rows (see the table)"
  }. That is consistent with Nagle's algorithm meeting delayed ACKs when a client ` +
    "writes a frame in two pieces (Deno's client code was not inspected). A single probe of the boundaries gave: 1,024-byte payloads fine, " +
    "1,025 bytes stall, 65,000 stall, 65,535 fine.";
}

/**
 * The bare server on `@google/genai` against the bare server and ours at the small frames:
 * what share of the gap at those sizes the SDK's own per-call cost is.
 */
function sdkFloorSection(r: Report): string[] {
  const lines = [
    `### The SDK's floor at small frames (${MATRIX_SESSIONS} sessions, instant model, no_task)`,
    "",
    "`bare_sdk` is the bare server making the same model call through `@google/genai` " +
    "(`models.generateContent` with the same contents, instruction, declarations and mode) " +
    "instead of one `fetch` of a pre-serialised body: the least a server on the official " +
    "SDK can spend per frame. Its ratio to bare is the CPU target's floor for any server " +
    "that keeps the SDK as the provider's client.",
    "",
    "| frame | bare_sdk frames/s | bare_sdk CPU ms/frame | bare CPU ms/frame (next to it) | bare_sdk/bare | ours/bare (matrix above) |",
    "| --: | --: | --: | --: | --: | --: |",
  ];
  for (const { sdk, bare } of r.sdkFloor) {
    const pair = r.matrix.find((p) => p.ours.scenario === "no_task" && p.ours.bytes === sdk.bytes);
    lines.push(
      `| ${sizeLabel(sdk.bytes)} | ${f(sdk.result.framesPerSecond)} | ${
        f(sdk.serverCpuMsPerFrame, 2)
      } | ${f(bare.serverCpuMsPerFrame, 2)} | ${
        f(ratio(sdk.serverCpuMsPerFrame, bare.serverCpuMsPerFrame), 2)
      }× | ${
        pair ? `${f(ratio(pair.ours.serverCpuMsPerFrame, pair.bare.serverCpuMsPerFrame), 2)}×` : "–"
      } |`,
    );
  }
  return lines;
}

/** The privacy guard's CPU per frame at the OCR cap, as a share of the frame's. */
function privacySection(p: PrivacyCost, typical: RunRecord): string[] {
  const frameUs = p.frame.serverCpuMsPerFrame * 1000;
  const typicalUs = typical.serverCpuMsPerFrame * 1000;
  return [
    `### The privacy guard at ${p.ocrChars.toLocaleString("en-US")} OCR characters`,
    "",
    "`PrivacyGuard.check` as a session runs it (default skip lists, contacts off), " +
    "in-process, median of 40 batches; the frame's total is our server's CPU per frame " +
    `under the review's load (${MATRIX_SESSIONS} sessions, 200 KB, instant model) with ` +
    `${p.ocrChars.toLocaleString("en-US")} characters of an ordinary busy screen's text ` +
    "per frame (`load.ts --shape typical --ocr-chars`; nothing in it is redacted, so the " +
    "screenshot goes to the model).",
    "",
    "| OCR text | guard µs/frame | server CPU ms/frame | guard's share |",
    "| --: | --: | --: | --: |",
    `| ${p.ocrChars.toLocaleString("en-US")} characters | ${f(p.guardUs, 0)} | ${
      f(p.frame.serverCpuMsPerFrame, 2)
    } | ${f((p.guardUs / frameUs) * 100)}% |`,
    `| 2 KB (the review's load above) | ${f(p.guardUsTypical, 0)} | ${
      f(typical.serverCpuMsPerFrame, 2)
    } | ${f((p.guardUsTypical / typicalUs) * 100)}% |`,
    "",
    `Errors during the run: ${errorsText(p.frame.result)}.`,
  ];
}

function markdown(r: Report): string {
  const { lines: targets, met } = targetRows(r);
  const m = r.memory;
  const out: string[] = [];
  out.push(
    `Measured ${r.date} with \`${r.command}\`${
      r.quick ? " (quick mode: short windows, figures are rough)" : ""
    }; the run took ${f(r.wallSeconds / 60)} min${
      r.repeats ? ` (${r.repeats} pair(s) run again: other processes were busy)` : ""
    }.`,
    "",
    `Machine: ${r.machine.cores} cores, ${r.machine.cpu}, ${r.machine.memory} RAM, Linux ${r.machine.kernel}. ` +
      `${r.deno}. Server, bare server, fake Gemini and load generator all on this machine, ` +
      "each its own process.",
    "",
    "### Targets",
    "",
    ...targets,
    "",
    `Met: ${met.filter(Boolean).length} of ${met.length}.`,
    "",
    `### Frames/s at ${TARGET_SESSIONS} sessions × 200 KB, instant model (no_task)`,
    "",
    ...runTable([{ ours: r.throughput.ours, bare: r.throughput.bare }], "none"),
    "",
    r.throughput.reps.length > 1
      ? `Mean of ${r.throughput.reps.length} alternating repetitions (ours, bare, ours, bare): ${
        r.throughput.reps.map((p) => `${f(p.ours)} vs ${f(p.bare)}`).join("; ")
      } frames/s.`
      : "One repetition.",
    "",
    `### The review's load: ${TARGET_SESSIONS} sessions, Deno's WebSocket client, instant model (no_task)`,
    "",
    "The load of an outside review that found ours at 0.56× bare: Deno's own `WebSocket` as " +
      "the client (not `raw_ws.ts`), a `client_hello` with a typical user's context (20 active " +
      "tasks, 5 completed, 3 deleted, 3 goals), then frames of 2 KB of OCR text and a 200 KB " +
      "JPEG without a context of their own (`load.ts --shape typical`).",
    "",
    ...runTable([{ ours: r.typical.ours, bare: r.typical.bare }], "none"),
    "",
    r.typical.reps.length > 1
      ? `Mean of ${r.typical.reps.length} alternating repetitions: ${
        r.typical.reps.map((p) => `${f(p.ours)} vs ${f(p.bare)}`).join("; ")
      } frames/s.`
      : "One repetition.",
    "",
    `### Added latency at ${MATRIX_SESSIONS} sessions × 200 KB (no_task)`,
    "",
    ...runTable([r.latency, r.latencyFast], "model"),
    "",
    `The target is judged on the first rows: model fixed at ${LATENCY_MS} ms, where nothing ` +
      `queues (CPU busy is low). The ${FAST_LATENCY_MS} ms rows drive each server near the limit ` +
      "of its one JS thread, the bare server too, so their p99 is mostly queueing for the CPU. " +
      "Session starts are spread over one model latency. Added latency = client-measured " +
      "latency minus model time; model time = model calls per frame × the fake's mean time " +
      "per request (its fixed latency, timer lateness included, plus reading the body).",
    "",
    `### Scenarios × frame sizes at ${MATRIX_SESSIONS} sessions, instant model`,
    "",
    ...runTable(r.matrix, "matrix"),
    "",
    "### Resident memory per idle session",
    "",
    "| server | sessions | RSS before | RSS after | per session | open time |",
    "| --- | --: | --: | --: | --: | --: |",
    ...[m.ours, m.bare].map((x) =>
      `| ${x.server} | ${x.sessions}${x.failed ? ` (${x.failed} failed)` : ""} | ${
        f(x.beforeKib / 1024)
      } MiB | ${f(x.afterKib / 1024)} MiB | ${f(x.perSessionKib)} KiB | ${f(x.openMs / 1000)} s |`
    ),
    `| *ours/bare* | | | | *${f(ratio(m.ours.perSessionKib, m.bare.perSessionKib), 2)}×* | |`,
    "",
    "### The prompt's cacheable prefix",
    "",
    "One session of the real analysis loop and `GeminiModel` (the SDK) against an in-process " +
      "fake Gemini that keeps every request body as it arrived (`bench/prompt_prefix.ts`): " +
      "the longest byte prefix each request shares with the one before it, across frames and " +
      "within a frame's tool loop.",
    "",
    prefixTable(r.prefix),
    "",
    `Before the prompt was reordered (commit ${PREFIX_BEFORE.commit}, same session), ` +
      `consecutive requests across frames shared ${PREFIX_BEFORE.acrossFramesBytes} bytes ` +
      `(${PREFIX_BEFORE.acrossFramesShare} of the request), within a tool loop ` +
      `${PREFIX_BEFORE.toolLoopBytes} bytes (${PREFIX_BEFORE.toolLoopShare}); no prefix across ` +
      `frames passed the 1,024-token minimum, so the expected saving was 0%.`,
    "",
    ...sdkFloorSection(r),
    "",
    ...privacySection(r.privacy, r.typical.ours),
    "",
    "### The SDK's per-call overhead",
    "",
    "A model call's CPU on the server's JS thread with `fetch` answered at once (no socket), " +
      "in-process (`bench/sdk_overhead.ts`): 20 active tasks, 2 KB of OCR, a 200 KB " +
      "screenshot, a fresh image string per call. The minimum is what any client of the API " +
      "does (and all the bare server does): serialise the body, encode it, parse the reply.",
    "",
    sdkOverheadTable(r.sdk),
    "",
    "### Deno's WebSocket client on loopback",
    "",
    wsFinding(r.ws),
    "",
    wsLatencyTable(r.ws),
  );
  return out.join("\n");
}

const BEGIN = "<!-- bench:begin (written by `deno task bench`; edit outside these markers) -->";
const END = "<!-- bench:end -->";

const METHOD =
  `Our server against a bare server (\`bench/bare_server.ts\`: the least any server must do per
frame), one after the other in the same run, both talking to the same fake Gemini process, on
the same machine. Every target is a ratio to the bare server or a latency *added* to the
model's, never an absolute figure. Rerun with \`deno task bench --write\` (about 6–7 minutes) or
\`deno task bench --quick --write\` (about 2 minutes); without \`--write\` it only prints. \`bench/profile.ts\` runs one server under
\`--cpu-prof\` with the same fake and load generator and sums the profile of the measuring
window (top functions by self and inclusive time, split by area).

## How it is measured

- **Our server** is \`main.ts\` as its own process, with the permissions of \`deno task start\`
  and \`GEMINI_API_KEY=bench-key\`, \`GEMINI_BASE_URL=<fake>\`, \`LOG_LEVEL=warn\`,
  \`RATE_LIMIT_FRAMES_PER_MINUTE=0\`, \`MAX_SESSIONS_PER_USER=10000\` (the variable's maximum;
  \`AUTH_MODE=none\` makes every session the same user), \`MAX_SESSIONS=100000\` and
  \`SKIP_UNCHANGED_SEC=0\` (every session sends the same screen again and again, which the
  unchanged-screen skip would answer without the model): the real Gemini provider
  (\`@google/genai\`) runs against the fake, for every frame.
- **The bare server** parses each frame with \`JSON.parse\`, makes one \`fetch\` to the same
  \`generateContent\` URL with the base64 image as \`inlineData\` (plus a constant, pre-serialised
  instruction and five function declarations), and replies with an \`analysis_outcome\`. No
  validation, auth, limits, logs, metrics or deadlines. In the search → extract scenario it also
  does the tool round trip (\`tool_call_request\`, wait for \`tool_result\`, a second model call
  with the model's turn and a \`functionResponse\`), so both servers do the same protocol work.
- **The fake Gemini** (\`bench/fake_gemini.ts\`) reads each request body in full and answers a
  pre-serialised function call: \`no_task_found\` (scenario no_task), or \`search_keywords\` then
  \`extract_task\` (scenario search_extract, told apart by a \`functionResponse\` in the
  request). One process serves the whole run; its scenario and latency are switched through
  its \`/config\`.
- **Every run starts its server afresh** (ours, then bare, back to back for each cell), so a
  run never pays for what the previous one left behind (our server keeps every frame's
  deadline timers alive for up to 45 s; see the analysis below the figures).
- **The load generator** (\`bench/load.ts\`) is its own process per run. Closed loop: each
  session sends its next frame when the previous one's terminal message arrived; tool calls
  are answered at once with no results. Frames carry a realistic OCR sentence, the context (as
  Omi sends it on every frame) and a JPEG-looking payload of exactly 0 B, 4 KB, 200 KB or 1 MB
  decoded. Warm-up, then a window; only frames finished inside the window count. Errors
  (\`server_error\`, sockets closed by the server, 30 s frame timeouts, failed connects) are
  counted over warm-up and window. It speaks WebSocket through the minimal client of
  \`bench/raw_ws.ts\` (one write per frame, \`TCP_NODELAY\`), **not** Deno's \`WebSocket\`,
  because that one stalls ~44 ms per client message between 1 and 64 KB (last section), which
  would make the 4 KB rows measure the client. The review's load (\`--shape typical\`) uses
  Deno's \`WebSocket\` on purpose, with frames far past the sizes where it stalls.
- **CPU ms/frame**: utime + stime of the process from \`/proc/<pid>/stat\` at the window's start
  and end, divided by the frames counted. "CPU busy" is the share of all cores the three
  benchmark processes used during the window. A server runs its JavaScript on one thread, so
  it saturates at about one core (50% of this machine) while the other core serves the load
  generator and the fake. "Other processes" is the share used by everything else on the
  machine (\`/proc/stat\` minus the three); the machine is shared, so a pair of runs (ours,
  bare) during which other processes took more than 15% is run again (a few times at most).
- **Added latency**: latency seen by the client minus model time, where model time = model
  calls per frame × the fake's mean time holding a request (its fixed latency, timer lateness
  included, plus reading the body). Everything else — WebSocket, parsing, the HTTP round trip
  to the model, the tool round trip to the client, queueing for the CPU — counts as added. The
  target is checked with the model at 200 ms: at 20 ms, 10 sessions × 200 KB saturate one JS
  thread (the bare server's too) and p99 measures queueing; that row is shown for context.
- **Memory per idle session**: a fresh server; 50 sessions open and close (warm-up); VmRSS from
  \`/proc/<pid>/status\`; then one client process opens 3,000 sessions (100 connects at a time),
  each sends \`client_hello\` and gets \`session_ready\`; 2 s later VmRSS again;
  (after − before) / 3,000.
`;

/**
 * Writes `body` between the markers of `path`, keeping everything outside them (the title,
 * hand-written analysis), or a new file with the title and the block.
 */
async function writeMarkdown(path: string, body: string): Promise<void> {
  let existing: string | undefined;
  try {
    existing = await Deno.readTextFile(path);
  } catch {
    existing = undefined;
  }
  const block = `${BEGIN}\n\n${METHOD}\n## Figures\n\n${body}\n\n${END}`;
  const begin = existing?.indexOf(BEGIN.slice(0, 18)) ?? -1;
  const end = existing?.indexOf(END) ?? -1;
  const text = existing && begin >= 0 && end > begin
    ? existing.slice(0, begin) + block + existing.slice(end + END.length)
    : `# Benchmarks\n\n${block}\n`;
  await Deno.writeTextFile(path, text);
  // `deno task check` runs `deno fmt --check` over the tree: leave the file formatted.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path], stdout: "null" })
    .output();
}

async function machine(): Promise<Report["machine"]> {
  const [cpuinfo = "", meminfo = ""] = await readProcFiles(["/proc/cpuinfo", "/proc/meminfo"]);
  let cores = String(navigator.hardwareConcurrency);
  try {
    const out = await new Deno.Command("nproc", { stdout: "piped" }).output();
    cores = new TextDecoder().decode(out.stdout).trim() || cores;
  } catch {
    // keep navigator's figure
  }
  const kib = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? NaN);
  return {
    cores,
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU",
    memory: `${f(kib / 1024 / 1024)} GiB`,
    kernel: Deno.osRelease(),
  };
}

// ---------------------------------------------------------------------------------------

const USAGE = `usage: deno task bench [--quick] [--write | --out FILE]

Measures our server against the bare server on this machine and prints the figures.
  --quick      shorter windows and fewer repetitions (about 2 minutes)
  --write      also write the figures into BENCHMARKS.md, between its bench markers
  --out FILE   also write them into FILE instead
  -h, --help   print this and exit`;

/** The parsed command line, or the exit for `--help` and bad arguments. */
export function benchOptions(
  args: string[],
): { quick: boolean; out: string | undefined } | { exit: number; message: string } {
  let values: { quick?: boolean; write?: boolean; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        quick: { type: "boolean", default: false },
        write: { type: "boolean", default: false },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return { exit: 2, message: `bench: ${err instanceof Error ? err.message : err}\n${USAGE}` };
  }
  if (values.help) return { exit: 0, message: USAGE };
  if (values.write && values.out !== undefined) {
    return { exit: 2, message: `bench: --write and --out exclude each other\n${USAGE}` };
  }
  const out = values.out ?? (values.write ? `${ROOT}BENCHMARKS.md` : undefined);
  return { quick: values.quick ?? false, out };
}

async function main(values: { quick: boolean; out: string | undefined }): Promise<void> {
  const plan = values.quick ? QUICK : FULL;
  const started = performance.now();
  ticksPerSecond = await readClockTicks();
  const report: Partial<Report> = {
    quick: values.quick,
    command: `deno task bench${Deno.args.length ? ` ${Deno.args.join(" ")}` : ""}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    machine: await machine(),
    deno:
      `Deno ${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
  };

  log(`[bench] ${values.quick ? "quick" : "full"} run; WebSocket client latency…`);
  report.ws = await measureWsClientLatency(plan.wsRounds);
  log("[bench] the prompt's shared prefix…");
  report.prefix = await measurePromptPrefix();
  log("[bench] the SDK's per-call overhead…");
  report.sdk = await measureSdkOverhead(values.quick ? 500 : 2_000);
  log("[bench] the privacy guard at the OCR cap…");
  const guardUs = guardMicros(screen(PRIVACY_OCR_CHARS, { secrets: false }));
  const guardUsTypical = guardMicros(TYPICAL_OCR_TEXT);

  const fake = await startFake();
  try {
    log(`[bench] idle memory, ${plan.idleSessions} sessions per server…`);
    const ours = await idleMemory("ours", fake, plan.idleSessions);
    log(`[bench] ours: ${f(ours.perSessionKib)} KiB/session (${ours.sessions} sessions)`);
    const bare = await idleMemory("bare", fake, plan.idleSessions);
    log(`[bench] bare: ${f(bare.perSessionKib)} KiB/session (${bare.sessions} sessions)`);
    report.memory = { ours, bare };

    {
      let repeatsLeft = plan.maxRepeats;
      /**
       * One load run on a freshly started server. Fresh, because what one run leaves behind
       * must not be charged to the next: our server keeps every frame's deadline timers
       * (and what they hold) for up to 45 s after the frame, so a fast small-frame run
       * makes the following run pay for a bigger heap (see BENCHMARKS.md, analysis).
       */
      const fresh = async (kind: ServerKind, spec: Parameters<typeof loadRun>[2]) => {
        const server = await startServer(kind, fake);
        try {
          return await loadRun(server, fake, spec);
        } finally {
          await server.proc.stop();
        }
      };
      const pair = async (spec: Parameters<typeof loadRun>[2]) => {
        for (;;) {
          const o = await fresh("ours", spec);
          log(`[bench] ${progress(o)}`);
          const b = await fresh("bare", spec);
          log(`[bench] ${progress(b)}`);
          // The machine is shared: a pair during which other processes took a real share
          // of the CPU compares the servers under different conditions; run it again.
          if (Math.max(o.otherBusy, b.otherBusy) <= OTHER_BUSY_LIMIT || repeatsLeft <= 0) {
            return { ours: o, bare: b };
          }
          repeatsLeft--;
          report.repeats = (report.repeats ?? 0) + 1;
          log(`[bench] other processes were busy during that pair; running it again`);
        }
      };

      /** The throughput target's cell, `plan.targetReps` times, alternating ours and bare. */
      const repeated = async (shape: LoadShape) => {
        const reps: { ours: RunRecord; bare: RunRecord }[] = [];
        for (let i = 0; i < plan.targetReps; i++) {
          reps.push(
            await pair({
              scenario: "no_task",
              bytes: 200 * 1024,
              sessions: TARGET_SESSIONS,
              modelLatencyMs: 0,
              warmupMs: plan.targetWarmupMs,
              windowMs: plan.targetWindowMs,
              shape,
            }),
          );
        }
        return {
          ours: combine(reps.map((p) => p.ours)),
          bare: combine(reps.map((p) => p.bare)),
          reps: reps.map((p) => ({
            ours: p.ours.result.framesPerSecond,
            bare: p.bare.result.framesPerSecond,
          })),
        };
      };
      report.throughput = await repeated("small");
      report.typical = await repeated("typical");

      report.latency = await pair({
        scenario: "no_task",
        bytes: 200 * 1024,
        sessions: MATRIX_SESSIONS,
        modelLatencyMs: LATENCY_MS,
        warmupMs: plan.targetWarmupMs,
        windowMs: plan.targetWindowMs,
      });
      report.latencyFast = await pair({
        scenario: "no_task",
        bytes: 200 * 1024,
        sessions: MATRIX_SESSIONS,
        modelLatencyMs: FAST_LATENCY_MS,
        warmupMs: plan.targetWarmupMs,
        windowMs: plan.targetWindowMs,
      });

      report.privacy = {
        ocrChars: PRIVACY_OCR_CHARS,
        guardUs,
        guardUsTypical,
        frame: await fresh("ours", {
          scenario: "no_task",
          bytes: 200 * 1024,
          sessions: MATRIX_SESSIONS,
          modelLatencyMs: 0,
          warmupMs: plan.matrixWarmupMs,
          windowMs: plan.matrixWindowMs,
          shape: "typical",
          ocrChars: PRIVACY_OCR_CHARS,
        }),
      };
      log(`[bench] ${progress(report.privacy.frame)}`);

      report.matrix = [];
      for (const scenario of SCENARIOS) {
        for (const bytes of SIZES) {
          report.matrix.push(
            await pair({
              scenario,
              bytes,
              sessions: MATRIX_SESSIONS,
              modelLatencyMs: 0,
              warmupMs: plan.matrixWarmupMs,
              windowMs: plan.matrixWindowMs,
            }),
          );
        }
      }
      // What the SDK alone costs where a frame is small: the bare server on @google/genai.
      report.sdkFloor = [];
      for (const bytes of SDK_FLOOR_SIZES) {
        const spec = {
          scenario: "no_task" as const,
          bytes,
          sessions: MATRIX_SESSIONS,
          modelLatencyMs: 0,
          warmupMs: plan.matrixWarmupMs,
          windowMs: plan.matrixWindowMs,
        };
        const sdk = await fresh("bare_sdk", spec);
        log(`[bench] ${progress(sdk)}`);
        const bare = await fresh("bare", spec);
        log(`[bench] ${progress(bare)}`);
        report.sdkFloor.push({ sdk, bare });
      }
    }
  } finally {
    await fake.proc.stop();
  }

  report.wallSeconds = (performance.now() - started) / 1000;
  const body = markdown(report as Report);
  console.log(body);
  if (values.out === undefined) {
    log("[bench] wrote no file (--write writes BENCHMARKS.md, --out FILE another file)");
    return;
  }
  await writeMarkdown(values.out, body);
  log(`[bench] wrote ${values.out}`);
}

if (import.meta.main) {
  const stopAll = () => {
    for (const child of children) {
      try {
        child.child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stopAll);
  Deno.addSignalListener("SIGTERM", stopAll);
  const options = benchOptions(Deno.args);
  if ("exit" in options) {
    (options.exit === 0 ? console.log : console.error)(options.message);
    Deno.exit(options.exit);
  }
  try {
    await main(options);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    for (const child of children) await child.stop("SIGKILL", 1_000);
    Deno.exit(1);
  }
  Deno.exit(0);
}
