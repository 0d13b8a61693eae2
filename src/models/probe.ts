/**
 * `MODEL_PROBE=true`: at start, one tiny request per configured model (the primary and each
 * of `MODEL_FALLBACKS`), so an operator finds a misconfigured server — a wrong key, base URL
 * or model name, a server that refuses `tool_choice: "required"` — in the log before users do.
 *
 * The request is a real analysis call through the model's own code (its retries, its error
 * messages), of a frame with a line of text and no screenshot, asking for `no_task_found`:
 * a few hundred tokens. Each model logs one line, `model probe`, with its name, whether it
 * answered, the function it called, its time, and, for OpenAI-compatible servers, the
 * `tool_choice` form that worked; a failure logs the error's client-safe message only.
 *
 * Until the primary has answered once, {@link ModelProbe.ready} is false and `/readyz` says
 * 503, so a pod whose model cannot answer takes no traffic. A primary that fails is probed
 * again with backoff (5 s doubling to 60 s) until it answers or the probe is stopped.
 *
 * @module
 */
import type { AnalysisRequest, Model } from "../analysis/model.ts";
import { ModelError } from "../analysis/model.ts";
import { Deadline } from "../async/deadline.ts";
import type { Logger } from "../log.ts";

/** What a model that can tell reports about how it was called. */
export interface ProbeDetails {
  /** The `tool_choice` form the server accepted (OpenAI-compatible servers). */
  toolChoice?: string;
}

/** A model that can say more after a probe than its reply does. */
export interface Probeable {
  probeDetails(): ProbeDetails;
}

function hasDetails(model: unknown): model is Probeable {
  return typeof (model as Partial<Probeable>).probeDetails === "function";
}

/** The result of probing one model. */
export interface ProbeResult {
  model: string;
  ok: boolean;
  ms: number;
  /** The function the model called, when it answered. */
  function?: string;
  toolChoice?: string;
  /** The client-safe message of the failure. */
  error?: string;
}

/** Options of {@link startModelProbe}. */
export interface ModelProbeOptions {
  /** The primary first, then the fallbacks. */
  models: readonly Model[];
  /** Deadline of one probe call, ms. */
  timeoutMs: number;
  log: Logger;
  /** First wait before the primary is probed again, ms (doubles to {@link maxRetryMs}). */
  retryMs?: number;
  maxRetryMs?: number;
}

/** A running probe. */
export interface ModelProbe {
  /** Whether the primary has answered a probe. */
  readonly ready: boolean;
  /** Settles once every model was probed once (the primary's retries go on). */
  readonly firstRound: Promise<ProbeResult[]>;
  /** Stops probing (retries included) and waits for a call in flight to end. */
  stop(): Promise<void>;
}

/** The frame of a probe: a line of text, no screenshot, an empty context. */
export function probeRequest(): AnalysisRequest {
  return {
    frame: {
      frameId: "probe",
      appName: "proactive",
      windowTitle: "start-up probe",
      ocrText: "This is a start-up check of the service. Nothing here asks for a task: " +
        "call no_task_found.",
    },
    context: {},
    today: new Date().toISOString().slice(0, 10),
  };
}

/** Probes `model` once. */
export async function probeModel(
  model: Model,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const started = performance.now();
  using deadline = new Deadline(timeoutMs, signal);
  const result: ProbeResult = { model: model.name, ok: false, ms: 0 };
  try {
    const reply = await model.generate(
      { request: probeRequest(), turns: [], deadline: performance.now() + timeoutMs },
      deadline.signal,
    );
    result.ok = true;
    if (reply.functionCall) result.function = reply.functionCall.name;
  } catch (err) {
    result.error = deadline.expired
      ? "no answer in time"
      : err instanceof ModelError
      ? err.message
      : "Model request failed";
  }
  if (hasDetails(model)) {
    const { toolChoice } = model.probeDetails();
    if (toolChoice) result.toolChoice = toolChoice;
  }
  result.ms = Math.round(performance.now() - started);
  return result;
}

/** Probes every model once and the primary until it answers (see the module doc). */
export function startModelProbe(options: ModelProbeOptions): ModelProbe {
  const stopper = new AbortController();
  let ready = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  const report = (result: ProbeResult) => {
    const fields = {
      model: result.model,
      ok: result.ok,
      ms: result.ms,
      ...(result.function ? { function: result.function } : {}),
      ...(result.toolChoice ? { tool_choice: result.toolChoice } : {}),
      ...(result.error ? { error: result.error } : {}),
    };
    if (result.ok) options.log.info("model probe", fields);
    else options.log.error("model probe", fields);
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });

  const firstRound = (async () => {
    const results: ProbeResult[] = [];
    for (const model of options.models) {
      if (stopper.signal.aborted) break;
      const result = await probeModel(model, options.timeoutMs, stopper.signal);
      if (stopper.signal.aborted) break;
      report(result);
      results.push(result);
      if (model === options.models[0] && result.ok) ready = true;
    }
    return results;
  })();

  const retries = (async () => {
    await firstRound;
    let waitMs = options.retryMs ?? 5_000;
    const maxMs = options.maxRetryMs ?? 60_000;
    const primary = options.models[0];
    while (!ready && primary && !stopper.signal.aborted) {
      await sleep(waitMs);
      if (stopper.signal.aborted) break;
      const result = await probeModel(primary, options.timeoutMs, stopper.signal);
      if (stopper.signal.aborted) break;
      report(result);
      ready = result.ok;
      waitMs = Math.min(maxMs, waitMs * 2);
    }
  })();

  return {
    get ready() {
      return ready;
    },
    firstRound,
    async stop() {
      stopper.abort(new DOMException("The probe was stopped", "AbortError"));
      clearTimeout(timer);
      wake?.();
      await Promise.allSettled([firstRound, retries]);
    },
  };
}
