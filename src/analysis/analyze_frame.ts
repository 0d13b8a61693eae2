/**
 * The analysis loop of docs/protocol.md §5.5 as a pure async generator.
 *
 * It yields zero or more `tool_call` events and then exactly one `terminal` event. The
 * session answers each `tool_call` with `next(result)`: the matching `tool_result`, or
 * `undefined` when the event's `signal` aborted first. When the caller's `signal` aborts
 * (the client went away) the generator simply returns: there is nobody to answer.
 *
 * Deadlines are signals, one per scope: the frame (`analysisTimeoutMs`), each model call
 * (`modelCallTimeoutMs`) and each tool wait (`toolResultTimeoutMs`). Which one fired is read
 * from our own signals, never from the error a library threw.
 *
 * @module
 */
import type {
  AnalysisOutcome,
  ModelCallUsage,
  ServerError,
  ToolCallRequest,
  ToolResult,
  Usage,
} from "../protocol/messages.ts";
import {
  type AnalysisRequest,
  coerceExtractedTask,
  coerceString,
  type FunctionCall,
  LIMITS,
  type Model,
  ModelError,
  type ModelReply,
  type ModelUsage,
  type Turn,
} from "./model.ts";
import { formatToolResponse, isSearchTool } from "./tools.ts";
import { abortable } from "../async/abortable.ts";
import { Deadline } from "../async/deadline.ts";

/** Options of {@link analyzeFrame}. */
export interface AnalyzeFrameOptions {
  model: Model;
  /** Aborts when the analysis is no longer wanted (client disconnect). */
  signal: AbortSignal;
  /** Deadline of the whole frame. */
  analysisTimeoutMs: number;
  /** Deadline of one model call. */
  modelCallTimeoutMs: number;
  /** Deadline of one tool wait; announced to the client as `deadline_ms`. */
  toolResultTimeoutMs: number;
  /** Model calls per frame (protocol: 5). */
  maxModelCalls?: number;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
  /** Request ids; injectable for tests. */
  newId?: () => string;
  /**
   * Given what each model call was billed, as soon as it is known, whatever becomes of the
   * frame after (an error, a timeout, a client that left): budgets count spend, not outcomes.
   */
  onSpend?: (usage: ModelUsage) => void;
}

/** Asks the session to send a `tool_call_request` and wait, at most until `signal` aborts. */
export interface ToolCallEvent {
  kind: "tool_call";
  message: ToolCallRequest;
  signal: AbortSignal;
}

/** The frame's one terminal message. */
export interface TerminalEvent {
  kind: "terminal";
  message: AnalysisOutcome | ServerError;
}

/** What {@link analyzeFrame} yields. */
export type AnalysisEvent = ToolCallEvent | TerminalEvent;

/** Why the model loop stopped without a decision, for `context_summary`. */
const FALLBACK = {
  noCall: "No task analysis: the model did not call a function",
  unknownFunction: "No task analysis: the model called an unknown function",
  toolTimeout: "No task analysis: the task search did not answer in time",
  iterations: "No task analysis: the model used up its calls without deciding",
  noTitle: "No task analysis: the model extracted a task without a title",
} as const;

/** The usage of a frame before (or without) any model call: every count 0. */
export function emptyUsage(): Usage {
  return {
    model_calls: 0,
    tool_calls: 0,
    input_tokens: 0,
    cached_input_tokens: 0,
    output_tokens: 0,
    thinking_tokens: 0,
    model_ms: 0,
    tool_ms: 0,
    total_ms: 0,
    cost_usd: 0,
  };
}

/** Longest function name `usage.calls` repeats. */
const MAX_FUNCTION_NAME_CHARS = 64;

/** Cost rounded as on the wire: to 1e-8 US dollars. */
function roundCost(usd: number): number {
  return Math.round(usd * 1e8) / 1e8;
}

/** Runs one frame through the model loop. */
export async function* analyzeFrame(
  request: AnalysisRequest,
  options: AnalyzeFrameOptions,
): AsyncGenerator<AnalysisEvent, void, ToolResult | undefined> {
  const terminal = yield* loop(request, options);
  if (terminal) yield terminal;
}

/** The loop proper: yields tool calls, returns the terminal event (none when cancelled). */
async function* loop(
  request: AnalysisRequest,
  options: AnalyzeFrameOptions,
): AsyncGenerator<ToolCallEvent, TerminalEvent | undefined, ToolResult | undefined> {
  const now = options.now ?? (() => performance.now());
  const newId = options.newId ?? (() => crypto.randomUUID());
  const maxModelCalls = options.maxModelCalls ?? 5;
  const { model, signal: cancel } = options;
  const { frame } = request;
  const started = now();
  using frameDeadline = new Deadline(options.analysisTimeoutMs, cancel);
  const frameEnds = performance.now() + options.analysisTimeoutMs;
  const frameSignal = frameDeadline.signal;

  const usage = emptyUsage();
  /** One entry per answered model call, in order (`usage.calls`). */
  const calls: ModelCallUsage[] = [];
  const finalUsage = (): Usage => ({
    ...usage,
    model_ms: Math.round(usage.model_ms),
    tool_ms: Math.round(usage.tool_ms),
    total_ms: Math.round(now() - started),
    cost_usd: roundCost(usage.cost_usd),
    ...(calls.length ? { calls } : {}),
  });
  const error = (code: ServerError["code"], message: string): TerminalEvent => ({
    kind: "terminal",
    message: { type: "server_error", code, message, retryable: true, frame_id: frame.frameId },
  });
  const fallback = (summary: string): TerminalEvent => ({
    kind: "terminal",
    message: {
      type: "analysis_outcome",
      outcome_kind: "no_task_found",
      frame_id: frame.frameId,
      context_summary: summary,
      current_activity: coerceString(frame.appName, LIMITS.activity),
      usage: finalUsage(),
    },
  });
  const timeout = () => error("ANALYSIS_TIMEOUT", "Analysis did not finish in time");

  const turns: Turn[] = [];
  for (let call = 1; call <= maxModelCalls; call++) {
    if (cancel.aborted) return;
    if (frameDeadline.expired) return timeout();

    using callDeadline = new Deadline(options.modelCallTimeoutMs, frameSignal);
    const callSignal = callDeadline.signal;
    const callStarted = now();
    let callMs = 0;
    const deadline = Math.min(frameEnds, performance.now() + options.modelCallTimeoutMs);
    let reply: ModelReply;
    try {
      reply = await abortable(model.generate({ request, turns, deadline }, callSignal), callSignal);
    } catch (err) {
      if (err instanceof ModelError && err.usage) options.onSpend?.(err.usage);
      if (cancel.aborted) return;
      if (frameDeadline.expired) return timeout();
      if (callDeadline.expired) return error("GEMINI_ERROR", "Model request timed out");
      return error(
        "GEMINI_ERROR",
        err instanceof ModelError ? err.message : "Model request failed",
      );
    } finally {
      usage.model_calls++;
      callMs = now() - callStarted;
      usage.model_ms += callMs;
    }
    const counts = reply.usage;
    options.onSpend?.(counts);
    usage.input_tokens += counts.inputTokens;
    usage.cached_input_tokens = (usage.cached_input_tokens ?? 0) +
      (counts.cachedInputTokens ?? 0);
    usage.output_tokens += counts.outputTokens;
    usage.thinking_tokens += counts.thinkingTokens ?? 0;
    usage.cost_usd += counts.costUsd;
    usage.model = reply.model ?? model.name;
    turns.push({ role: "model", reply });

    const fn = reply.functionCall;
    const entry: ModelCallUsage = {
      model: usage.model,
      ms: Math.round(callMs),
      input_tokens: counts.inputTokens,
      cached_input_tokens: counts.cachedInputTokens ?? 0,
      output_tokens: counts.outputTokens,
      thinking_tokens: counts.thinkingTokens ?? 0,
      cost_usd: roundCost(counts.costUsd),
    };
    // A name the model made up is cut short: the entry stays small.
    if (fn) entry.function = fn.name.slice(0, MAX_FUNCTION_NAME_CHARS);
    calls.push(entry);
    if (!fn) {
      const why = reply.finishReason ? ` (finish reason ${reply.finishReason})` : "";
      return fallback(FALLBACK.noCall + why);
    }
    const outcome = decide(fn);
    if (outcome) return outcome;
    if (!isSearchTool(fn.name)) return fallback(FALLBACK.unknownFunction);
    // A search is only worth the client's time if the model may still be called after it.
    if (call === maxModelCalls) break;

    const query = coerceString(fn.args.query, LIMITS.query);
    let result: ToolResult | undefined;
    if (query) {
      // The wait announced is the wait in force: never past the frame's own deadline.
      const waitMs = Math.max(
        1,
        Math.min(options.toolResultTimeoutMs, Math.floor(frameEnds - performance.now())),
      );
      using waitDeadline = new Deadline(waitMs, frameSignal);
      const waitSignal = waitDeadline.signal;
      const waitStarted = now();
      usage.tool_calls++;
      result = yield {
        kind: "tool_call",
        signal: waitSignal,
        message: {
          type: "tool_call_request",
          request_id: newId(),
          tool_kind: fn.name,
          query,
          deadline_ms: waitMs,
          frame_id: frame.frameId,
        },
      };
      usage.tool_ms += now() - waitStarted;
      if (cancel.aborted) return;
      // A wait cut short to fit the frame ran out of the frame's time, not the tool's.
      if (frameDeadline.expired || (!result && waitMs < options.toolResultTimeoutMs)) {
        return timeout();
      }
      if (!result) return fallback(FALLBACK.toolTimeout);
    }
    const results = result?.results ?? [];
    const toolError = query ? result?.error ?? undefined : "the query was empty";
    const turn: Turn = {
      role: "tool",
      call: fn,
      kind: fn.name,
      results,
      output: formatToolResponse(results, toolError),
    };
    if (toolError) turn.error = toolError;
    turns.push(turn);
  }
  return fallback(FALLBACK.iterations);

  /** The terminal event of a deciding call, or `undefined` for any other function. */
  function decide(fn: FunctionCall): TerminalEvent | undefined {
    const common = {
      type: "analysis_outcome" as const,
      frame_id: frame.frameId,
      context_summary: coerceString(fn.args.context_summary, LIMITS.summary),
      current_activity: coerceString(fn.args.current_activity, LIMITS.activity) ||
        coerceString(frame.appName, LIMITS.activity),
    };
    switch (fn.name) {
      case "extract_task": {
        const task = coerceExtractedTask(fn.args, frame);
        if (!task) return fallback(FALLBACK.noTitle);
        const message: AnalysisOutcome = {
          ...common,
          outcome_kind: "extract_task",
          task,
          usage: finalUsage(),
        };
        return { kind: "terminal", message };
      }
      case "reject_task":
        return {
          kind: "terminal",
          message: {
            ...common,
            outcome_kind: "reject_task",
            reason: coerceString(fn.args.reason, LIMITS.reason) ||
              "Duplicates an existing task",
            usage: finalUsage(),
          },
        };
      case "no_task_found":
        return {
          kind: "terminal",
          message: { ...common, outcome_kind: "no_task_found", usage: finalUsage() },
        };
      default:
        return undefined;
    }
  }
}
