/**
 * Reading a frame's terminal message that is off the schema.
 *
 * The protocol answers every frame with exactly one terminal message (`analysis_outcome` or
 * `server_error`), in order, and the client does not match `frame_id` (docs/protocol.md §5.2).
 * A terminal that fails validation must therefore still end the frame in flight: dropping it
 * would leave the frame waiting until its deadline and then replace a healthy session, the
 * 60 s stall the contract warns the Swift decoder about (§3.8). Such terminals come from
 * servers that are not ours: the reference server sends no `usage`, a newer one may send a
 * new error `code` or `outcome_kind`, a sloppy one a string `confidence`.
 *
 * So a message whose `type` is a terminal's is coerced the way the contract asks servers to
 * coerce model output: missing strings are `""`, unparsable numbers 0, an unknown priority
 * `"medium"`, an unknown `outcome_kind` `no_task_found` (the protocol's fallback), an unknown
 * error `code` `INTERNAL`; `retryable` is false only when the server said so.
 *
 * @module
 */
import {
  AnalysisOutcome as AnalysisOutcomeSchema,
  ERROR_CODES,
  PRIORITIES,
  ServerError as ServerErrorSchema,
  Usage as UsageSchema,
} from "../protocol/messages.ts";
import type { AnalysisOutcome, ServerError, Usage } from "../protocol/types.ts";

type Raw = Record<string, unknown>;

/**
 * `raw` as a valid terminal message when its `type` is `analysis_outcome` or `server_error`
 * (whatever else is wrong with it); `undefined` for any other message.
 */
export function coerceTerminal(raw: unknown): AnalysisOutcome | ServerError | undefined {
  if (!isObject(raw)) return undefined;
  const coerced = raw.type === "analysis_outcome"
    ? AnalysisOutcomeSchema.safeParse(coerceOutcome(raw))
    : raw.type === "server_error"
    ? ServerErrorSchema.safeParse(coerceError(raw))
    : undefined;
  return coerced?.success ? coerced.data : undefined;
}

function coerceError(raw: Raw): ServerError {
  const code = (ERROR_CODES as readonly unknown[]).includes(raw.code)
    ? raw.code as ServerError["code"]
    : "INTERNAL";
  const error: ServerError = {
    type: "server_error",
    code,
    message: text(raw.message),
    retryable: !(raw.retryable === false || raw.retryable === "false"),
  };
  const frameId = id(raw.frame_id);
  if (frameId !== undefined) error.frame_id = frameId;
  const retryAfter = number(raw.retry_after_ms);
  if (retryAfter !== undefined && retryAfter > 0) error.retry_after_ms = Math.round(retryAfter);
  return error;
}

function coerceOutcome(raw: Raw): AnalysisOutcome {
  const common = {
    type: "analysis_outcome" as const,
    frame_id: id(raw.frame_id) ?? "",
    context_summary: text(raw.context_summary),
    current_activity: text(raw.current_activity),
    usage: coerceUsage(raw.usage),
  };
  if (raw.outcome_kind === "extract_task" && isObject(raw.task)) {
    const task = raw.task;
    const description = text(task.description);
    const priority = (PRIORITIES as readonly unknown[]).includes(task.priority)
      ? task.priority as (typeof PRIORITIES)[number]
      : "medium";
    return {
      ...common,
      outcome_kind: "extract_task",
      task: {
        title: text(task.title) || description.slice(0, 200) || "Untitled task",
        description,
        priority,
        tags: Array.isArray(task.tags)
          ? task.tags.filter((tag): tag is string => typeof tag === "string")
          : typeof task.tags === "string" && task.tags !== ""
          ? [task.tags]
          : [],
        source_app: text(task.source_app),
        inferred_deadline: text(task.inferred_deadline),
        confidence: Math.min(1, Math.max(0, number(task.confidence) ?? 0)),
        source_category: text(task.source_category),
        source_subcategory: text(task.source_subcategory),
        relevance_score: Math.round(number(task.relevance_score) ?? 0),
      },
    };
  }
  if (raw.outcome_kind === "reject_task") {
    return { ...common, outcome_kind: "reject_task", reason: text(raw.reason) };
  }
  return { ...common, outcome_kind: "no_task_found" };
}

/** The server's `usage` when it is valid, else its readable figures (0 for the rest). */
function coerceUsage(value: unknown): Usage {
  const valid = UsageSchema.safeParse(value);
  if (valid.success) return valid.data;
  const raw = isObject(value) ? value : {};
  const int = (v: unknown) => Math.round(number(v) ?? 0);
  return {
    model_calls: int(raw.model_calls),
    tool_calls: int(raw.tool_calls),
    input_tokens: int(raw.input_tokens),
    output_tokens: int(raw.output_tokens),
    thinking_tokens: int(raw.thinking_tokens),
    model_ms: int(raw.model_ms),
    tool_ms: int(raw.tool_ms),
    total_ms: int(raw.total_ms),
    cost_usd: number(raw.cost_usd) ?? 0,
  };
}

function isObject(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** A string id, or a number written as one (`frame_id: 7`). */
function id(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  return typeof value === "number" && Number.isFinite(value) ? String(value) : undefined;
}

/** A finite number, or a numeric string's value; `undefined` otherwise. */
function number(value: unknown): number | undefined {
  const n = typeof value === "number"
    ? value
    : typeof value === "string" && value.trim() !== ""
    ? Number(value)
    : NaN;
  return Number.isFinite(n) ? n : undefined;
}
