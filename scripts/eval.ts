/**
 * `deno task eval <file.jsonl|folder>… [--provider SPEC]… [--concurrency N] [--json FILE]
 * [--html FILE] [--baseline OLD.json] [--fail-under ACCURACY]`
 *
 * Runs labelled screens (see src/eval/cases.ts for the case format) through the real server
 * and analysis loop, in-process on a loopback port, once per provider, and reports accuracy,
 * the confusion matrix, extract precision/recall/F1, false extracts, duplicate recall, calls,
 * tokens, cost per 1,000 frames and latency, side by side. Every input is read and checked
 * before anything runs: bad input is one line naming the file and line, exit 2, and no report.
 *
 * Exit codes: 0 done; 1 a run failed or an accuracy is below `--fail-under`; 2 bad arguments,
 * bad input or a provider that cannot be configured.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ClientError } from "../src/client/errors.ts";
import { type ComparableRun, compare, loadBaseline } from "../src/eval/baseline.ts";
import { EvalInputError, loadCases } from "../src/eval/cases.ts";
import {
  type BaselinePoint,
  type EvalReport,
  finiteOrNull,
  formatText,
  providerReport,
  renderHtml,
  REPORT_FORMAT,
} from "../src/eval/report.ts";
import {
  buildProvider,
  DEFAULT_CONCURRENCY,
  type Provider,
  ProviderError,
  runProvider,
} from "../src/eval/run.ts";
import { runCli, stderrProgress } from "./cli.ts";

const USAGE = "usage: deno task eval <file.jsonl|folder>... [--provider offline|gemini|vertex|" +
  "openai|PROVIDER:MODEL]... [--concurrency N] [--json FILE] [--html FILE] " +
  "[--baseline OLD.json] [--fail-under ACCURACY]";

/** `--help`: the usage line and what each option does. */
const HELP = USAGE + "\n\n" +
  "Runs labelled screens (JSONL, one case a line; a folder means every *.jsonl in it) through\n" +
  "the real server and analysis loop, in-process, once per provider, and prints the results\n" +
  "side by side: accuracy, confusion matrix, extract P/R/F1, false extracts, duplicate recall,\n" +
  "calls and tokens per case, cost per 1,000 frames, latency p50/p95 and every miss.\n" +
  "  --provider SPEC   offline, gemini, vertex, openai, or gemini:MODEL / vertex:MODEL /\n" +
  "                    openai:MODEL (OPENAI_BASE_URL names the server); repeat to compare\n" +
  "                    (default: what the environment configures, as the service picks it:\n" +
  "                    MODEL_PROVIDER, else gemini with GEMINI_API_KEY, else offline)\n" +
  `  --concurrency N   cases in flight at once per provider (default ${DEFAULT_CONCURRENCY})\n` +
  "  --json FILE       write the report as JSON (- for stdout, instead of the table)\n" +
  "  --html FILE       write a self-contained HTML page with the matrices and a chart\n" +
  "  --baseline FILE   mark what got better or worse against an earlier --json report\n" +
  "  --fail-under X    exit 1 when a provider's accuracy is below X (0..1, or a percentage)\n" +
  "  -h, --help        print this and exit\n" +
  "Exit codes: 0 done, 1 run failed or below --fail-under, 2 bad arguments or input.";

/** A failure with its one-line message and exit code. */
class Exit extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

interface Options {
  inputs: string[];
  providers: Array<string | undefined>;
  concurrency: number;
  json?: string;
  html?: string;
  baseline?: string;
  failUnder?: number;
}

/** `--fail-under`: a fraction 0..1 or a percentage (`85%`). */
export function parseAccuracy(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(%?)\s*$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) / (match[2] ? 100 : 1);
  return value >= 0 && value <= 1 ? value : undefined;
}

/** The command line, checked; throws {@link Exit} (code 2) when it is bad, 0 for help. */
export function parseOptions(args: string[]): Options | { help: true } {
  let values: {
    provider?: string[];
    concurrency?: string;
    json?: string;
    html?: string;
    baseline?: string;
    "fail-under"?: string;
    help?: boolean;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        provider: { type: "string", multiple: true },
        concurrency: { type: "string" },
        json: { type: "string" },
        html: { type: "string" },
        baseline: { type: "string" },
        "fail-under": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new Exit(`${err instanceof Error ? err.message : "bad arguments"}; ${USAGE}`, 2);
  }
  if (values.help) return { help: true };
  if (positionals.length === 0) throw new Exit(`expected a .jsonl file or a folder; ${USAGE}`, 2);
  const providers: Array<string | undefined> = values.provider?.length
    ? values.provider
    : [undefined];
  const seen = new Set<string>();
  for (const p of providers) {
    if (p === undefined) continue;
    if (seen.has(p)) throw new Exit(`--provider ${p} is given twice`, 2);
    seen.add(p);
  }
  let concurrency = DEFAULT_CONCURRENCY;
  if (values.concurrency !== undefined) {
    concurrency = Number(values.concurrency);
    if (!/^\d+$/.test(values.concurrency) || concurrency < 1 || concurrency > 64) {
      throw new Exit("--concurrency must be an integer from 1 to 64", 2);
    }
  }
  const options: Options = { inputs: positionals, providers, concurrency };
  if (values.json !== undefined) options.json = values.json;
  if (values.html !== undefined) options.html = values.html;
  if (values.baseline !== undefined) options.baseline = values.baseline;
  if (values["fail-under"] !== undefined) {
    const value = parseAccuracy(values["fail-under"]);
    if (value === undefined) {
      throw new Exit("--fail-under must be an accuracy from 0 to 1 (or 0% to 100%)", 2);
    }
    options.failUnder = value;
  }
  return options;
}

/** Why an error stopped a file operation, in a few words (never the file's content). */
function reason(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.IsADirectory) return "is a directory";
  if (err instanceof Deno.errors.NotADirectory) return "not a directory";
  return err instanceof Error ? err.name : "error";
}

/** The folder `path` is in (`.` for a bare name). */
function parentOf(path: string): string {
  const cut = path.replace(/\/+$/, "").lastIndexOf("/");
  return cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
}

/**
 * Checks, before anything runs, that `path` can be written: its folder exists, is a folder
 * and takes a new file (a probe is created and removed), and `path` itself is not a folder.
 * Throws {@link Exit} (code 2) with one line naming the option and the path.
 */
export async function checkWritable(path: string, option: string): Promise<void> {
  const bad = (why: string) => new Exit(`${option} ${path}: cannot write there (${why})`, 2);
  if (path === "" || path.endsWith("/")) throw bad("not a file name");
  const dir = parentOf(path);
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw bad(`${dir} is not a directory`);
  } catch (err) {
    if (err instanceof Exit) throw err;
    throw bad(`${dir}: ${reason(err)}`);
  }
  try {
    if ((await Deno.stat(path)).isDirectory) throw bad("it is a directory");
  } catch (err) {
    if (err instanceof Exit) throw err;
    if (!(err instanceof Deno.errors.NotFound)) throw bad(reason(err));
  }
  let probe: string;
  try {
    probe = await Deno.makeTempFile({ dir, prefix: ".eval-probe-" });
  } catch (err) {
    throw bad(`${dir}: ${reason(err)}`);
  }
  await Deno.remove(probe).catch(() => {});
}

/** Writes `text` to `path` atomically: a temporary file in the same folder, then a rename. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = await Deno.makeTempFile({ dir: parentOf(path), prefix: ".eval-", suffix: ".tmp" });
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** How the outputs are written; tests replace it. */
export type Writer = (path: string, text: string) => Promise<void>;
/** Where the JSON goes when its `--json` file cannot be written; returns that path. */
export type Rescue = (json: string) => Promise<string>;

/** The JSON report into a new file in the system's temporary folder. */
async function rescueJson(json: string): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "proactive-eval-", suffix: ".json" });
  await Deno.writeTextFile(path, json);
  return path;
}

/**
 * Writes the `--json` and `--html` files, then prints the table (or the JSON for `--json -`)
 * on stdout whatever happened, so a failed write never loses what was measured. Returns the
 * one-line messages of the writes that failed (empty when all went well).
 */
export async function writeOutputs(
  report: EvalReport,
  options: { json?: string; html?: string },
  baselinePoints: Map<string, BaselinePoint>,
  io: { write?: Writer; print?: (text: string) => void; rescue?: Rescue } = {},
): Promise<string[]> {
  const write = io.write ?? writeAtomic;
  const print = io.print ?? ((text: string) => console.log(text));
  const rescue = io.rescue ?? rescueJson;
  const failures: string[] = [];
  const json = JSON.stringify(report, null, 2) + "\n";
  const attempt = async (path: string, what: string, text: () => string) => {
    try {
      await write(path, text());
      return true;
    } catch (err) {
      failures.push(`Cannot write the ${what} ${path}: ${reason(err)}`);
      return false;
    }
  };
  if (options.json && options.json !== "-") {
    if (!(await attempt(options.json, "JSON report", () => json))) {
      // The JSON holds every case: keep it somewhere rather than lose a paid run.
      try {
        failures.push(`the JSON report was saved to ${await rescue(json)} instead`);
      } catch (err) {
        failures.push(`the JSON report could not be saved elsewhere either: ${reason(err)}`);
      }
    }
  }
  if (options.html) {
    await attempt(options.html, "HTML page", () => renderHtml(report, baselinePoints));
  }
  if (options.json === "-") Deno.stdout.writeSync(new TextEncoder().encode(json));
  else print(formatText(report));
  return failures;
}

async function main(args: string[]): Promise<number> {
  const options = parseOptions(args);
  if ("help" in options) {
    console.log(HELP);
    return 0;
  }
  // Everything is read and checked before anything runs, the output paths too.
  if (options.json && options.json !== "-") await checkWritable(options.json, "--json");
  if (options.html) await checkWritable(options.html, "--html");
  if (options.json && options.html && options.json === options.html) {
    throw new Exit("--json and --html name the same file", 2);
  }
  const cases = await loadCases(options.inputs);
  const baseline = options.baseline ? await loadBaseline(options.baseline) : undefined;
  const env = Deno.env.toObject();
  const providers: Provider[] = [];
  for (const spec of options.providers) providers.push(await buildProvider(spec, env));

  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new Exit("interrupted", 130));
  Deno.addSignalListener("SIGINT", onInterrupt);
  const report: EvalReport = {
    format: REPORT_FORMAT,
    generated_at: new Date().toISOString(),
    inputs: options.inputs,
    providers: [],
  };
  const bar = stderrProgress();
  try {
    for (const provider of providers) {
      bar.bar(0, cases.length, provider.info.provider);
      const results = await runProvider({
        provider,
        cases,
        concurrency: options.concurrency,
        signal: controller.signal,
        onCaseDone: (result, done, total) =>
          bar.bar(done, total, `${provider.info.provider}: ${result.id}`),
      });
      const run = providerReport(provider.info, options.concurrency, results);
      if (run.errors === run.cases) {
        bar.end();
        const first = run.results[0];
        console.error(
          `eval: warning: every case of ${run.provider} ended in an error` +
            (first ? ` (first: ${first.got}: ${first.detail})` : ""),
        );
      }
      report.providers.push(run);
    }
  } catch (err) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw err;
  } finally {
    bar.end();
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }

  const baselinePoints = new Map<string, BaselinePoint>();
  if (baseline && options.baseline) {
    for (const p of report.providers) {
      const old = baseline.get(p.provider);
      if (!old) continue;
      p.comparison = compare(p as ComparableRun, old, options.baseline);
      // A baseline without cost_per_1000_usd (or accuracy) has no point: null, never NaN.
      baselinePoints.set(p.provider, {
        accuracy: finiteOrNull(old.accuracy),
        cost: finiteOrNull(old.cost_per_1000_usd),
      });
    }
  }
  const failures = await writeOutputs(report, options, baselinePoints);
  for (const line of failures) console.error(`eval: ${line}`);
  if (failures.length) {
    console.error("eval: an output file was not written; the summary table is on stdout");
  }
  let code = failures.length ? 1 : 0;
  if (options.failUnder !== undefined) {
    const below = report.providers.filter((p) => p.accuracy < options.failUnder!);
    if (below.length) {
      console.error(
        `eval: accuracy below --fail-under ${options.failUnder}: ` +
          below.map((p) => `${p.provider} ${p.accuracy.toFixed(3)}`).join(", "),
      );
      code = 1;
    }
  }
  return code;
}

/** One line for any failure; never a stack trace. */
function describe(err: unknown): { message: string; code: number } {
  if (err instanceof Exit) return { message: err.message, code: err.code };
  if (err instanceof EvalInputError || err instanceof ProviderError) {
    return { message: err.message, code: 2 };
  }
  if (err instanceof ClientError) return { message: err.message, code: 1 };
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { message: `unexpected error: ${text.split("\n")[0]}`, code: 1 };
}

if (import.meta.main) await runCli("eval", main, describe);
