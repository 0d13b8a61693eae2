/**
 * `deno task replay <folder|file.jsonl> [--url ws://…] [--token …] [--db path] [--json]`
 *
 * Replays recorded screens through a server, one frame at a time, and prints what it decided:
 * a result table (frame, app, outcome, title / reason, ms) and a summary (counts, p50/p95
 * latency, tokens, cost). Without `--url` it starts the real server in-process on a free
 * loopback port with the configured model (the offline heuristic when nothing is set); of the
 * environment it reads only what that server uses (model, prices, deadlines, per-session
 * limits), never `HOST`, `PORT`, `AUTH_MODE` or the other server-only settings. The server's
 * searches run against a local SQLite task store (`--db` to keep it between runs); every
 * extracted task is stored, so later frames dedupe against it.
 *
 * The token comes from `--token` or, to keep it out of the process list, `PROACTIVE_TOKEN`.
 * Bad input, bad configuration or an unreachable server print one line on stderr and exit
 * non-zero. Nothing here prints OCR text or tokens.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ProactiveClient } from "../src/client/client.ts";
import { ClientError } from "../src/client/errors.ts";
import { buildModel, sessionLimits } from "../src/compose.ts";
import { type Config, ConfigError, loadAnalysisConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { loadFrames, type ReplayFrame, ReplayInputError } from "../src/replay/frames.ts";
import { type LocalServer, startLocalServer } from "../src/replay/local_server.ts";
import { replayFrames } from "../src/replay/replay.ts";
import { formatSummary, formatTable, type ReplayRow, summarize } from "../src/replay/report.ts";
import { TaskStore } from "../src/replay/task_store.ts";
import { runCli, stderrProgress } from "./cli.ts";

const USAGE = "usage: deno task replay <folder|file.jsonl> [--url ws://host:port/v1/proactive] " +
  "[--token TOKEN] [--db tasks.sqlite] [--json]";

/** `--help`: the usage line and what each option does. */
const HELP = USAGE + "\n\n" +
  "Runs recorded screens through a server (without --url, one started in-process with the\n" +
  "configured model) and prints a table and a summary.\n" +
  "  --url URL      a running server instead of the in-process one\n" +
  "  --token TOKEN  Firebase ID token for --url (or PROACTIVE_TOKEN)\n" +
  "  --db FILE      keep the SQLite task store in FILE (default: in memory)\n" +
  '  --json         one JSON line per frame, then {"summary":…}; times in ms, 1 decimal\n' +
  "  -h, --help     print this and exit";

/** A failure with its one-line message and exit code. */
class Exit extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

/**
 * The in-process server, configured from the environment. It listens on a free loopback port
 * without authentication, so only the variables it uses are read (model, prices, deadlines,
 * per-session limits): `HOST`, `PORT`, `AUTH_MODE` and the other server-only settings of a
 * shell that also runs the service neither apply nor get it refused.
 */
function startConfiguredServer(): LocalServer {
  let config: Config;
  try {
    config = loadAnalysisConfig(Deno.env.toObject());
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new Exit(`configuration error: ${err.lines.join("; ")}`);
    }
    throw err;
  }
  return startLocalServer({
    model: buildModel(config, silentLogger),
    idleTimeoutSeconds: config.idleTimeoutSec,
    limits: sessionLimits(config),
  });
}

function openStore(path: string | undefined): TaskStore {
  try {
    return TaskStore.open(path ? { path } : {});
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : "unknown error";
    throw new Exit(`Cannot open the task store ${path}: ${reason}`);
  }
}

/** Milliseconds to one decimal: what `--json` prints (the clock's noise is not data). */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Exit(`--url is not a URL; ${USAGE}`, 2);
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new Exit(`--url must start with ws:// or wss://; ${USAGE}`, 2);
  }
  return parsed.href;
}

async function main(args: string[]): Promise<number> {
  let values: { url?: string; token?: string; db?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        db: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new Exit(`${err instanceof Error ? err.message : "bad arguments"}; ${USAGE}`, 2);
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new Exit(`expected one folder or .jsonl file; ${USAGE}`, 2);
  }
  const url = values.url === undefined ? undefined : checkUrl(values.url);
  const token = values.token ?? Deno.env.get("PROACTIVE_TOKEN");

  const frames = await loadFrames(positionals[0]!);
  using store = openStore(values.db);
  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new Exit("interrupted", 130));
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    await using local = url ? undefined : startConfiguredServer();
    await using client = await ProactiveClient.connect({
      url: url ?? local!.url,
      ...(token ? { token } : {}),
      appVersion: "proactive-replay",
      signal: controller.signal,
      reconnect: { initialDelayMs: 250, maxDelayMs: 2_000, maxAttempts: 3 },
    });
    const total = frames.length;
    const progress = stderrProgress();
    // A redrawn bar on a terminal, one plain line per frame otherwise.
    const bar = {
      start: (frame: ReplayFrame, index: number) => progress.bar(index, total, frame.name),
      done: (row: ReplayRow) =>
        progress.tty ? progress.bar(row.index, total, row.name) : progress.line(
          `replay: ${row.index}/${total} ${row.name}: ${row.outcome} (${Math.round(row.ms)} ms)`,
        ),
      end: () => progress.end(),
    };
    let rows: ReplayRow[];
    try {
      rows = await replayFrames({
        frames,
        client,
        store,
        signal: controller.signal,
        onFrameStart: (frame, index) => bar.start(frame, index),
        onFrameDone: (row) => bar.done(row),
      });
    } finally {
      bar.end();
    }
    const summary = summarize(rows);
    if (values.json) {
      for (const row of rows) console.log(JSON.stringify({ ...row, ms: roundMs(row.ms) }));
      console.log(JSON.stringify({
        summary: { ...summary, p50Ms: roundMs(summary.p50Ms), p95Ms: roundMs(summary.p95Ms) },
      }));
    } else {
      console.log(formatTable(rows));
      console.log("");
      console.log(formatSummary(summary));
    }
    return 0;
  } catch (err) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw err;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

/** One line for any failure; never a stack trace. */
function describe(err: unknown): { message: string; code: number } {
  if (err instanceof Exit) return { message: err.message, code: err.code };
  if (err instanceof ReplayInputError || err instanceof ClientError) {
    return { message: err.message, code: 1 };
  }
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { message: `unexpected error: ${text.split("\n")[0]}`, code: 1 };
}

if (import.meta.main) await runCli("replay", main, describe);
