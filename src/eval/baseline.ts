/**
 * `--baseline`: what got better or worse against an earlier `--json` report. Providers are
 * matched by their `provider` spec; cases by id.
 *
 * @module
 */
import { EvalInputError } from "./cases.ts";

/** Better, worse, or the same as the baseline. */
export type Mark = "better" | "worse" | "same";

/** One compared metric. */
export interface MetricDelta {
  /** The report key, e.g. `accuracy` or `extract.f1`. */
  metric: string;
  before: number | null;
  after: number | null;
  delta: number | null;
  mark: Mark;
}

/** A provider's run against its baseline run. */
export interface Comparison {
  /** The baseline file. */
  file: string;
  /** Whether the baseline run's model, prompt version and media resolution differ. */
  model_changed: boolean;
  prompt_version_changed: boolean;
  media_resolution_changed: boolean;
  metrics: MetricDelta[];
  /** Cases missed in the baseline and correct now. */
  fixed: string[];
  /** Cases correct in the baseline and missed now. */
  broken: string[];
}

/** What a comparison needs of a provider report (current or baseline). */
export interface ComparableRun {
  provider: string;
  model: string;
  prompt_version: string;
  /** Absent in reports from before the setting: read as null (the model's default). */
  media_resolution?: string | null;
  accuracy: number;
  extract: { precision: number; recall: number; f1: number };
  false_extracts: number;
  duplicate_recall: number | null;
  cost_per_1000_usd: number;
  latency_ms: { p50: number; p95: number };
  results: Array<{ id: string; correct: boolean }>;
}

/** The compared metrics: key, whether higher is better, and the noise below which it is "same". */
const COMPARED: Array<[string, (r: ComparableRun) => number | null, boolean, number]> = [
  ["accuracy", (r) => r.accuracy, true, 1e-9],
  ["extract.precision", (r) => r.extract.precision, true, 1e-9],
  ["extract.recall", (r) => r.extract.recall, true, 1e-9],
  ["extract.f1", (r) => r.extract.f1, true, 1e-9],
  ["false_extracts", (r) => r.false_extracts, false, 0],
  ["duplicate_recall", (r) => r.duplicate_recall, true, 1e-9],
  ["cost_per_1000_usd", (r) => r.cost_per_1000_usd, false, 1e-9],
  ["latency_ms.p95", (r) => r.latency_ms.p95, false, -1],
];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads an earlier `--json` report; a file that is not one is one clear line. */
export async function loadBaseline(path: string): Promise<Map<string, ComparableRun>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound ? "no such file" : "unreadable";
    throw new EvalInputError(`Cannot read the baseline ${path}: ${reason}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EvalInputError(`${path}: the baseline is not valid JSON`);
  }
  return parseBaseline(parsed, path);
}

/** The provider runs of a parsed `--json` report, by provider spec. */
export function parseBaseline(parsed: unknown, path: string): Map<string, ComparableRun> {
  const bad = (why: string) => new EvalInputError(`${path}: not an eval --json report (${why})`);
  if (!isObject(parsed) || !Array.isArray(parsed.providers)) throw bad('no "providers" list');
  const runs = new Map<string, ComparableRun>();
  for (const [i, run] of parsed.providers.entries()) {
    if (!isObject(run) || typeof run.provider !== "string") {
      throw bad(`providers[${i}] has no "provider"`);
    }
    if (typeof run.accuracy !== "number" || !isObject(run.extract)) {
      throw bad(`providers[${i}] has no "accuracy" or "extract"`);
    }
    if (!Array.isArray(run.results)) throw bad(`providers[${i}] has no "results"`);
    const entry = (run.results as unknown[]).findIndex((r) =>
      typeof r !== "object" || r === null || typeof (r as { id?: unknown }).id !== "string" ||
      typeof (r as { correct?: unknown }).correct !== "boolean"
    );
    if (entry >= 0) {
      throw bad(`providers[${i}].results[${entry}] needs a string "id" and a boolean "correct"`);
    }
    runs.set(run.provider, run as unknown as ComparableRun);
  }
  return runs;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** `current` against `baseline`: each compared metric marked, and the cases that flipped. */
export function compare(current: ComparableRun, baseline: ComparableRun, file: string): Comparison {
  const metrics = COMPARED.map(([metric, get, higherIsBetter, noise]): MetricDelta => {
    let before: number | null = null;
    try {
      before = num(get(baseline));
    } catch {
      before = null;
    }
    const after = num(get(current));
    if (before === null || after === null) {
      return { metric, before, after, delta: null, mark: "same" };
    }
    const delta = after - before;
    // Latency is noisy: within 10% (or 5 ms) counts as the same.
    const tolerance = noise < 0 ? Math.max(5, Math.abs(before) * 0.1) : noise;
    const mark: Mark = Math.abs(delta) <= tolerance
      ? "same"
      : (delta > 0) === higherIsBetter
      ? "better"
      : "worse";
    return { metric, before, after, delta, mark };
  });
  const was = new Map(baseline.results.map((r) => [r.id, r.correct]));
  const fixed: string[] = [];
  const broken: string[] = [];
  for (const r of current.results) {
    const before = was.get(r.id);
    if (before === undefined) continue;
    if (!before && r.correct) fixed.push(r.id);
    if (before && !r.correct) broken.push(r.id);
  }
  return {
    file,
    model_changed: baseline.model !== current.model,
    prompt_version_changed: baseline.prompt_version !== current.prompt_version,
    media_resolution_changed: (baseline.media_resolution ?? null) !==
      (current.media_resolution ?? null),
    metrics,
    fixed,
    broken,
  };
}
