/**
 * Runs evaluation cases through the real server (handler, sessions, analysis loop) started
 * in-process on a free loopback port, as the replay does, with `concurrency` clients side by
 * side. Each case gets its own context (sent with its frame under a fresh context version)
 * and a fresh task store seeded from it (active, completed and deleted tasks), which answers
 * the searches the model asks for the way the desktop would.
 *
 * @module
 */
import type { AnalysisRequest, Model } from "../analysis/model.ts";
import { buildFramePrompt, PROMPT_LIMITS, SYSTEM_INSTRUCTION } from "../analysis/prompt.ts";
import { ProactiveClient } from "../client/client.ts";
import { ClientError } from "../client/errors.ts";
import { buildModel, sessionLimits } from "../compose.ts";
import { type Config, ConfigError, loadAnalysisConfig } from "../config.ts";
import { silentLogger } from "../log.ts";
import { FUNCTION_DECLARATIONS, thinkingBudgetFor } from "../models/gemini.ts";
import type { MediaResolutionLevel } from "../models/media_resolution.ts";
import { PRIORITIES, type Priority, type ToolResultItem } from "../protocol/messages.ts";
import { TaskStore } from "../replay/task_store.ts";
import { startLocalServer } from "../replay/local_server.ts";
import type { SessionLimits } from "../server/session.ts";
import type { EvalCase } from "./cases.ts";
import type { CaseResult } from "./metrics.ts";

/** Default number of cases in flight at once. */
export const DEFAULT_CONCURRENCY = 4;

/** What ran: so two reports can be compared. */
export interface ProviderInfo {
  /** The `--provider` spec, e.g. `offline` or `gemini:gemini-2.5-flash-lite`. */
  provider: string;
  kind: Config["modelProvider"];
  model: string;
  /** Thinking tokens per call as sent to the model; null for the offline model. */
  thinking_budget: number | null;
  /**
   * `GEMINI_MEDIA_RESOLUTION` as sent to the model; null when none is sent (the model's
   * default) and for the offline model. Reports from before it have no such field.
   */
  media_resolution: MediaResolutionLevel | null;
  /** First 12 hex digits of sha-256 of the system instruction and the tool declarations. */
  prompt_version: string;
}

/** A provider ready to run. */
export interface Provider {
  info: ProviderInfo;
  model: Model;
  limits: SessionLimits;
  idleTimeoutSeconds: number;
}

/** A `--provider` spec or the environment that cannot make a model. */
export class ProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProviderError";
  }
}

/** A fixed request whose rendered prompt stands for how every frame is written. */
const SAMPLE_REQUEST: AnalysisRequest = {
  frame: {
    frameId: "sample",
    appName: "Slack",
    windowTitle: "#team",
    ocrText: "Can you send me the Q3 report by Friday?",
  },
  context: {
    active_tasks: [{ task_id: 1, description: "Review the budget", priority: "high" }],
    completed_tasks: [{ task_id: 2, description: "Book flights" }],
    deleted_tasks: [{ task_id: 3, description: "Call the bank" }],
    goals: [{ goal_id: "g", title: "Ship v2", description: "By March" }],
  },
  today: "2026-01-01",
};

/**
 * The prompt's version: SHA-256 (first 12 hex digits) of the system instruction, the function
 * declarations, the prompt's bounds and the prompt a fixed sample frame renders to, so a
 * change to any of them changes the version.
 */
export async function promptVersion(): Promise<string> {
  const text = SYSTEM_INSTRUCTION + JSON.stringify(FUNCTION_DECLARATIONS) +
    JSON.stringify(PROMPT_LIMITS) + buildFramePrompt(SAMPLE_REQUEST);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")
    .slice(0, 12);
}

/**
 * The model a spec names, configured from `env` as the service would be: `offline`,
 * `gemini`, `vertex`, `openai`, or `<provider>:<model>` to pick the model (`GEMINI_MODEL` or
 * `OPENAI_MODEL` otherwise). Without a spec, the environment's own `MODEL_PROVIDER`.
 */
export async function buildProvider(
  spec: string | undefined,
  env: Record<string, string | undefined>,
): Promise<Provider> {
  const used = { ...env };
  if (spec !== undefined) {
    const match = /^(offline|gemini|vertex|openai)(?::(.+))?$/.exec(spec.trim());
    if (!match) {
      throw new ProviderError(
        `unknown provider ${JSON.stringify(spec)}: ` +
          "use offline, gemini, vertex, openai or <provider>:<model>",
      );
    }
    const [, kind, model] = match;
    if (kind === "offline" && model) {
      throw new ProviderError(`provider "offline" takes no model, got ${JSON.stringify(spec)}`);
    }
    used.MODEL_PROVIDER = kind;
    if (model) used[kind === "openai" ? "OPENAI_MODEL" : "GEMINI_MODEL"] = model;
  }
  let config: Config;
  try {
    config = loadAnalysisConfig(used);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ProviderError(
        `configuration error for ${spec ?? "the configured provider"}: ${err.lines.join("; ")}`,
      );
    }
    throw err;
  }
  const offline = config.modelProvider === "offline";
  // Thinking budget and media resolution are Gemini settings: an OpenAI server gets neither.
  const gemini = config.modelProvider === "gemini" || config.modelProvider === "vertex";
  const model = offline ? "offline" : gemini ? config.geminiModel : config.openaiModel;
  return {
    info: {
      provider: spec ?? (offline ? "offline" : `${config.modelProvider}:${model}`),
      kind: config.modelProvider,
      model,
      thinking_budget: gemini
        ? thinkingBudgetFor(config.geminiModel, config.geminiThinkingBudget)
        : null,
      media_resolution: gemini ? config.geminiMediaResolution ?? null : null,
      prompt_version: await promptVersion(),
    },
    model: buildModel(config, silentLogger),
    limits: sessionLimits(config),
    idleTimeoutSeconds: config.idleTimeoutSec,
  };
}

/** Options of {@link runProvider}. */
export interface RunOptions {
  provider: Provider;
  cases: readonly EvalCase[];
  /** Cases in flight at once (one client and session each); default 4. */
  concurrency?: number;
  signal?: AbortSignal;
  /** After each case, in completion order. */
  onCaseDone?: (result: CaseResult, done: number, total: number) => void;
}

function asPriority(value: string | null | undefined): Priority | undefined {
  return (PRIORITIES as readonly string[]).includes(value ?? "") ? value as Priority : undefined;
}

/**
 * A fresh in-memory store holding the case's tasks, and the map from store ids back to the
 * context's task ids (the ids the model sees in the context).
 */
function seedStore(c: EvalCase): { store: TaskStore; ids: Map<number, number> } {
  const store = TaskStore.open();
  const ids = new Map<number, number>();
  for (const task of c.context.active_tasks ?? []) {
    const priority = asPriority(task.priority);
    const stored = store.add({
      description: task.description,
      status: "active",
      ...(priority ? { priority } : {}),
      ...(task.relevance_score ? { relevanceScore: task.relevance_score } : {}),
    });
    ids.set(stored.id, task.task_id);
  }
  for (
    const [status, list] of [["completed", c.context.completed_tasks], [
      "deleted",
      c.context.deleted_tasks,
    ]] as const
  ) {
    for (const task of list ?? []) {
      ids.set(store.add({ description: task.description, status }).id, task.task_id);
    }
  }
  return { store, ids };
}

/** Runs one case on a connected client. */
async function runCase(
  client: ProactiveClient,
  c: EvalCase,
  version: string,
  signal: AbortSignal | undefined,
): Promise<CaseResult> {
  const { store, ids } = seedStore(c);
  const result: CaseResult = {
    id: c.id,
    where: `${c.file}:${c.line}`,
    expected: c.expect,
    got: "",
    detail: "",
    ms: 0,
  };
  const mapIds = (items: ToolResultItem[]) =>
    items.map((item) => ({ ...item, task_id: ids.get(item.task_id) ?? item.task_id }));
  try {
    client.updateContext(c.context, version);
    const started = performance.now();
    try {
      const terminal = await client.analyzeFrame(c.frame, {
        ...(signal ? { signal } : {}),
        onToolCall: (request) => mapIds(store.search(request.tool_kind, request.query)),
      });
      result.ms = performance.now() - started;
      if (terminal.type === "server_error") {
        result.got = terminal.code;
        result.detail = terminal.message;
      } else {
        result.got = terminal.outcome_kind;
        result.usage = terminal.usage;
        result.detail = terminal.outcome_kind === "extract_task"
          ? terminal.task.title
          : terminal.outcome_kind === "reject_task"
          ? terminal.reason
          : terminal.context_summary;
      }
    } catch (err) {
      if (!(err instanceof ClientError) || client.closed || signal?.aborted) throw err;
      result.ms = performance.now() - started;
      result.got = err.code;
      result.detail = err.message;
    }
  } finally {
    store.close();
  }
  return result;
}

/**
 * Every case through the in-process server with the provider's model; results in case order.
 * A client closed for good (reconnects exhausted, aborted) ends the run by throwing.
 */
export async function runProvider(options: RunOptions): Promise<CaseResult[]> {
  const { provider, cases, signal } = options;
  const concurrency = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, 64));
  const server = startLocalServer({
    model: provider.model,
    limits: provider.limits,
    idleTimeoutSeconds: provider.idleTimeoutSeconds,
    maxSessions: concurrency,
  });
  const { url } = server;
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  let done = 0;
  const failure = new AbortController();
  const stop = signal ? AbortSignal.any([signal, failure.signal]) : failure.signal;
  const worker = async () => {
    // The server answers every frame within its own deadline: the client waits a little longer,
    // so a slow model is measured as the server reports it, not cut off by the client.
    const frameTimeoutMs = provider.limits.analysisTimeoutMs + 15_000;
    await using client = await ProactiveClient.connect({
      url,
      appVersion: "proactive-eval",
      signal: stop,
      frameTimeoutMs,
      stuckAfterMs: frameTimeoutMs,
      reconnect: { initialDelayMs: 250, maxDelayMs: 2_000, maxAttempts: 3 },
    });
    while (next < cases.length) {
      stop.throwIfAborted();
      const index = next++;
      const c = cases[index]!;
      results[index] = await runCase(client, c, `eval-${index}`, stop);
      options.onCaseDone?.(results[index], ++done, cases.length);
    }
  };
  try {
    const workers = Array.from({ length: Math.min(concurrency, cases.length) }, async () => {
      try {
        await worker();
      } catch (err) {
        failure.abort(err);
        throw err;
      }
    });
    const settled = await Promise.allSettled(workers);
    if (signal?.aborted) throw signal.reason;
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (rejected) throw failure.signal.aborted ? failure.signal.reason : rejected.reason;
    return results;
  } finally {
    await server[Symbol.asyncDispose]();
  }
}
