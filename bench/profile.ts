/**
 * Where a server spends its CPU per frame: runs it under `--cpu-prof` with the benchmark's
 * fake Gemini and load generator, keeps only the samples taken inside the measuring window,
 * and prints the top functions by self time, the top by inclusive time, and the split by
 * area (our `src/` files, npm packages, Deno's runtime, V8 builtins, GC).
 *
 * Usage: `deno run --allow-net --allow-env --allow-read --allow-write --allow-run
 * --allow-sys bench/profile.ts [--server ours|bare] [--scenario no_task|search_extract]
 * [--bytes 204800] [--sessions 10] [--latency-ms 0] [--seconds 10] [--top 15]
 * [--dir /tmp/proactive-profile] [--shape small|typical]`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { LoadResult } from "./load.ts";
import { children } from "./processes.ts";
import {
  configureFake,
  loadGenerator,
  type Scenario,
  type ServerKind,
  startFake,
  startServer,
} from "./servers.ts";
import { readProcFiles } from "./stats.ts";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The `.cpuprofile` format V8 writes. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One line of a summary. */
export interface ProfileEntry {
  key: string;
  area: string;
  ms: number;
}

/** A profile cut to a window, summed. */
export interface ProfileSummary {
  windowMs: number;
  /** Sampled time that was not `(idle)`. */
  busyMs: number;
  self: ProfileEntry[];
  inclusive: ProfileEntry[];
  areas: ProfileEntry[];
}

const ROOT = new URL("../", import.meta.url).pathname;

/** Which part of the process a script URL belongs to. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName.startsWith("(")) return functionName;
    return "V8 builtins / native";
  }
  const npm = /\/npm\/[^/]+\/((?:@[^/]+\/)?[^/]+)\/[^/]+\//.exec(url);
  if (npm) return `npm:${npm[1]}`;
  if (url.startsWith("ext:")) return `deno ${url.slice(4).split("/")[0]}`;
  if (url.startsWith("node:")) return "deno node compat";
  const path = url.replace(/^file:\/\//, "");
  if (path.startsWith(ROOT)) {
    const rel = path.slice(ROOT.length);
    return rel.startsWith("src/") || rel.startsWith("bench/") ? rel : rel;
  }
  return url;
}

function keyOf(frame: CallFrame): string {
  const area = areaOf(frame);
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name;
  return `${name} ${area}:${frame.lineNumber + 1}`;
}

/** Sums the samples of `profile` taken in `[fromUs, toUs]` (profile clock, µs). */
export function summarize(profile: CpuProfile, fromUs: number, toUs: number): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, ProfileEntry>();
  const inclusive = new Map<string, ProfileEntry>();
  const areas = new Map<string, ProfileEntry>();
  const add = (map: Map<string, ProfileEntry>, key: string, area: string, ms: number) => {
    const entry = map.get(key) ?? { key, area, ms: 0 };
    entry.ms += ms;
    map.set(key, entry);
  };
  let t = profile.startTime;
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    // A sample stands for the interval up to the next one.
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (t < fromUs || t > toUs || ms <= 0) continue;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const area = areaOf(node.callFrame);
    if (node.callFrame.functionName === "(idle)") continue;
    busy += ms;
    add(self, keyOf(node.callFrame), area, ms);
    add(areas, area, area, ms);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      if (frame.functionName === "(root)") continue;
      const key = keyOf(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      add(inclusive, key, areaOf(frame), ms);
    }
  }
  const sorted = (map: Map<string, ProfileEntry>) => [...map.values()].sort((a, b) => b.ms - a.ms);
  return {
    windowMs: (toUs - fromUs) / 1000,
    busyMs: busy,
    self: sorted(self),
    inclusive: sorted(inclusive),
    areas: sorted(areas),
  };
}

/** The summary as Markdown tables; per-frame figures in µs. */
export function profileMarkdown(summary: ProfileSummary, frames: number, top: number): string {
  const perFrame = (ms: number) => ((ms * 1000) / Math.max(1, frames)).toFixed(0);
  const pct = (ms: number) => ((ms / Math.max(1e-9, summary.busyMs)) * 100).toFixed(1);
  const table = (entries: ProfileEntry[], label: string) => [
    `| ${label} | ms | % of busy | µs/frame |`,
    "| --- | --: | --: | --: |",
    ...entries.map((e) =>
      `| \`${e.key}\` | ${e.ms.toFixed(0)} | ${pct(e.ms)} | ${perFrame(e.ms)} |`
    ),
  ];
  const isOurs = (e: ProfileEntry) =>
    e.area.startsWith("src/") || e.area.startsWith("npm:") || e.area === "main.ts";
  return [
    `Window ${summary.windowMs.toFixed(0)} ms, busy (not idle) ${
      summary.busyMs.toFixed(0)
    } ms, ${frames} frames: ${perFrame(summary.busyMs)} µs of main-thread CPU per frame.`,
    "",
    "By area (self time):",
    "",
    ...table(summary.areas, "area"),
    "",
    `Top ${top} functions by self time:`,
    "",
    ...table(summary.self.slice(0, top), "function"),
    "",
    `Top ${top} functions of \`src/\` and npm packages by inclusive time:`,
    "",
    ...table(summary.inclusive.filter(isOurs).slice(0, top), "function"),
  ].join("\n");
}

async function uptimeUs(): Promise<number> {
  const [text = ""] = await readProcFiles(["/proc/uptime"]);
  return Number(text.split(" ")[0]) * 1e6;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      server: { type: "string", default: "ours" },
      scenario: { type: "string", default: "no_task" },
      bytes: { type: "string", default: String(200 * 1024) },
      sessions: { type: "string", default: "10" },
      "latency-ms": { type: "string", default: "0" },
      seconds: { type: "string", default: "10" },
      top: { type: "string", default: "15" },
      dir: { type: "string", default: "/tmp/proactive-profile" },
      shape: { type: "string", default: "small" },
    },
  });
  const kind = values.server as ServerKind;
  const dir = `${values.dir}/${kind}-${Date.now()}`;
  await Deno.mkdir(dir, { recursive: true });
  const fake = await startFake();
  try {
    await configureFake(fake, values.scenario as Scenario, Number(values["latency-ms"]));
    const server = await startServer(kind, fake, ["--cpu-prof", `--cpu-prof-dir=${dir}`]);
    let from = 0;
    let to = 0;
    let result: LoadResult;
    try {
      const gen = loadGenerator(server, [
        "--sessions",
        values.sessions,
        "--bytes",
        values.bytes,
        "--warmup-ms",
        "2000",
        "--window-ms",
        String(Number(values.seconds) * 1000),
        "--stagger-ms",
        values["latency-ms"],
        "--shape",
        values.shape,
      ]);
      await gen.nextEvent("window_start", 120_000);
      from = await uptimeUs();
      await gen.nextEvent("window_end", Number(values.seconds) * 1000 + 60_000);
      to = await uptimeUs();
      result = await gen.nextEvent<LoadResult>("result", 60_000);
      await gen.stop();
    } finally {
      await server.proc.stop("SIGTERM", 15_000);
    }
    const files = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".cpuprofile"));
    if (files.length === 0) throw new Error(`no .cpuprofile was written to ${dir}`);
    const path = `${dir}/${files[0]!.name}`;
    const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
    const summary = summarize(profile, from, to);
    console.log(
      `${kind}, ${values.scenario}, ${values.sessions} sessions × ${values.bytes} B, model ${
        values["latency-ms"]
      } ms: ${result.framesPerSecond} frames/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms. Profile: ${path}\n`,
    );
    console.log(profileMarkdown(summary, result.frames, Number(values.top)));
  } finally {
    await fake.proc.stop();
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`profile: ${err instanceof Error ? err.message : String(err)}`);
    for (const child of children) await child.stop("SIGKILL", 1_000);
    Deno.exit(1);
  }
}
