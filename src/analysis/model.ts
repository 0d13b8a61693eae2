/**
 * The `Model` interface the analysis loop talks to, and the coercion of whatever a model
 * returns into the exact wire types of docs/protocol.md §3.8.
 *
 * A provider (Gemini, Vertex, the offline heuristic, a test fake) implements one method,
 * {@link Model.generate}. The loop never looks inside {@link ModelReply.content}: it keeps it
 * and hands it back on the next call exactly as returned, so thinking models get their
 * signatures back.
 *
 * @module
 */
import { headOf } from "../protocol/text.ts";
import type {
  ExtractedTask,
  Priority,
  SessionContext,
  ToolKind,
  ToolResultItem,
} from "../protocol/messages.ts";

/** The frame as the analysis sees it: already validated and normalised. */
export interface FrameInput {
  frameId: string;
  appName: string;
  windowTitle: string;
  ocrText: string;
  /** Standard base64 JPEG, passed through untouched; absent for text-only analysis. */
  jpegBase64?: string;
}

/** Everything one analysis is about. */
export interface AnalysisRequest {
  frame: FrameInput;
  context: SessionContext;
  /** Today's date as `YYYY-MM-DD`, for resolving "by Friday". */
  today: string;
}

/** A function call the model made. */
export interface FunctionCall {
  name: string;
  args: Record<string, unknown>;
  /** Provider call id, echoed in the function response when the provider uses one. */
  id?: string;
}

/** Token accounting of one model call. */
export interface ModelUsage {
  /** Prompt tokens, cached ones included. */
  inputTokens: number;
  /** Of `inputTokens`, those the provider served from its prompt cache (billed cheaper). */
  cachedInputTokens?: number;
  /** Answer tokens, thinking excluded. */
  outputTokens: number;
  /** Thinking tokens (billed as output), for models that think. */
  thinkingTokens?: number;
  costUsd: number;
  /**
   * The provider reported no usage and the counts are estimates (about 4 characters a token).
   * Never on the wire.
   */
  estimated?: boolean;
}

/** What one model call returned. */
export interface ModelReply {
  /** The first function call of the answer, if any. */
  functionCall?: FunctionCall;
  /** Any text the model produced instead of (or beside) a call. */
  text?: string;
  /** The provider's own content object, replayed verbatim on the next call. */
  content: unknown;
  /** Why the answer is empty or cut short (e.g. `SAFETY`), when the provider says. */
  finishReason?: string;
  usage: ModelUsage;
  /**
   * The model that gave this reply (`provider:model`), when a chain of models chose it;
   * otherwise the loop names the model it called.
   */
  model?: string;
}

/** The result of a search the desktop ran, as it goes back to the model. */
export interface ToolTurn {
  role: "tool";
  call: FunctionCall;
  kind: ToolKind;
  results: ToolResultItem[];
  /** The desktop's error, if its search failed. */
  error?: string;
  /** The text of the function response (`formatToolResponse`). */
  output: string;
}

/** One step of the conversation after the initial request. */
export type Turn = { role: "model"; reply: ModelReply } | ToolTurn;

/** The conversation so far: the request plus every model reply and tool result, in order. */
export interface Conversation {
  request: AnalysisRequest;
  turns: readonly Turn[];
  /**
   * When this call must be over (`performance.now()` time): providers use it to skip a retry
   * that could not finish in time. The call's signal aborts then anyway.
   */
  deadline?: number;
}

/** A language model (or a stand-in) that decides what to do with a frame. */
export interface Model {
  /** Provider and model name, for logs and metrics. */
  readonly name: string;
  /**
   * Returns the model's next content. Must stop promptly when `signal` aborts (the loop
   * also stops waiting by itself). Throws {@link ModelError} when the call fails.
   */
  generate(conversation: Conversation, signal: AbortSignal): Promise<ModelReply>;
}

/**
 * Stable codes of a failed model call: an HTTP error status, no response (`NETWORK`), a
 * response that is no answer (`BAD_RESPONSE`: not JSON, no candidates, a malformed function
 * call), a Deno or OS permission that stopped the call or its credential lookup
 * (`PERMISSION`), the call's deadline (`TIMEOUT`).
 */
export type ModelErrorCode = "HTTP" | "NETWORK" | "BAD_RESPONSE" | "PERMISSION" | "TIMEOUT";

/**
 * A failed model call. `message` is safe to show a client: providers build it from a status
 * code, never from a URL, a key or a response body.
 */
export class ModelError extends Error {
  /** Stable code callers can switch on. */
  readonly code: ModelErrorCode;
  /** HTTP status, when there was one. */
  readonly status?: number;
  /**
   * What the call was billed before it failed (replies that could not be read, a first
   * answer before a repair turn that failed), when anything: spend, for budgets and metrics,
   * even though no answer came of it. Never on the wire.
   */
  readonly usage?: ModelUsage;

  constructor(
    code: ModelErrorCode,
    message: string,
    options?: { status?: number; usage?: ModelUsage },
  ) {
    super(message);
    this.name = "ModelError";
    this.code = code;
    if (options?.status !== undefined) this.status = options.status;
    if (options?.usage && isBilled(options.usage)) this.usage = options.usage;
  }

  /** This error, with `usage` added to what it says the call was billed. */
  billed(usage: ModelUsage): ModelError {
    if (!isBilled(usage)) return this;
    const total = { ...usage };
    if (this.usage) addModelUsage(total, this.usage);
    return new ModelError(this.code, this.message, { status: this.status, usage: total });
  }
}

/** Adds the counts and cost of `more` to `into`. */
export function addModelUsage(into: ModelUsage, more: ModelUsage): void {
  into.inputTokens += more.inputTokens;
  into.cachedInputTokens = (into.cachedInputTokens ?? 0) + (more.cachedInputTokens ?? 0);
  into.outputTokens += more.outputTokens;
  into.thinkingTokens = (into.thinkingTokens ?? 0) + (more.thinkingTokens ?? 0);
  into.costUsd += more.costUsd;
}

/** Whether `usage` counts anything that was billed. */
export function isBilled(usage: ModelUsage): boolean {
  return usage.costUsd > 0 || usage.inputTokens > 0 || usage.outputTokens > 0 ||
    (usage.thinkingTokens ?? 0) > 0;
}

// ---------------------------------------------------------------------------------------
// Coercion of model arguments (docs/protocol.md §3.8: the Swift decoder drops a message with
// one wrong JSON type, so every field leaves here with exactly its wire type).

/** Longest strings we pass on from a model. */
export const LIMITS = {
  title: 200,
  description: 2000,
  summary: 1000,
  activity: 300,
  reason: 1000,
  tag: 50,
  tags: 10,
  category: 100,
  query: 500,
} as const;

/** A string from anything: numbers and booleans are stringified, the rest becomes "". */
export function coerceString(value: unknown, maxChars: number): string {
  let text: string;
  if (typeof value === "string") text = value;
  else if (typeof value === "number" && Number.isFinite(value)) text = String(value);
  else if (typeof value === "boolean") text = String(value);
  else return "";
  // Lone surrogates (a model's or a client's) become U+FFFD: strict JSON decoders refuse them.
  text = text.trim().toWellFormed();
  return text.length > maxChars ? headOf(text, maxChars - 1).trimEnd() + "…" : text;
}

function toNumber(value: unknown): number {
  if (typeof value === "number") return Number.isFinite(value) ? value : 0;
  if (typeof value === "string") {
    const n = Number.parseFloat(value.trim());
    return Number.isFinite(n) ? n : 0;
  }
  return 0;
}

/** An integer from a number or numeric string (`"7.9"` → 8); unparsable → 0. */
export function coerceInt(value: unknown): number {
  const n = Math.round(toNumber(value));
  return Number.isSafeInteger(n) ? n : 0;
}

/**
 * A confidence in 0..1 from a number or numeric string. Values in (1, 100] are read as
 * percentages (`"85%"`, `85` → 0.85); unparsable → 0.
 */
export function coerceConfidence(value: unknown): number {
  let n = toNumber(value);
  if (n > 1 && n <= 100) n = n / 100;
  return Math.min(1, Math.max(0, n));
}

/** `high`, `medium` or `low`, case-insensitive; else `medium` (docs/protocol.md §3.8). */
export function coercePriority(value: unknown): Priority {
  const text = typeof value === "string" ? value.trim().toLowerCase() : "";
  return text === "high" || text === "low" ? text : "medium";
}

/** A short list of non-empty strings from an array or a comma-separated string. */
export function coerceTags(value: unknown): string[] {
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(",") : [];
  const tags: string[] = [];
  for (const item of items) {
    const tag = coerceString(item, LIMITS.tag);
    if (tag && !tags.includes(tag)) tags.push(tag);
    if (tags.length === LIMITS.tags) break;
  }
  return tags;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})/;

/** An ISO date (`YYYY-MM-DD`) from a date or date-time string; anything else is "". */
export function coerceDate(value: unknown): string {
  if (typeof value !== "string") return "";
  const m = ISO_DATE.exec(value.trim());
  if (!m) return "";
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return "";
  const iso = date.toISOString().slice(0, 10);
  // Reject dates that rolled over (2026-02-31 → 2026-03-03).
  return iso === `${m[1]}-${m[2]}-${m[3]}` ? iso : "";
}

/**
 * The wire task of an `extract_task` call, or `undefined` when the model gave neither a
 * title nor a description (there is nothing to show the user).
 */
export function coerceExtractedTask(
  args: Record<string, unknown>,
  frame: FrameInput,
): ExtractedTask | undefined {
  const description = coerceString(args.description, LIMITS.description);
  const title = coerceString(args.title, LIMITS.title) ||
    coerceString(description, LIMITS.title);
  if (!title) return undefined;
  return {
    title,
    description,
    priority: coercePriority(args.priority),
    tags: coerceTags(args.tags),
    source_app: coerceString(args.source_app, LIMITS.activity) ||
      coerceString(frame.appName, LIMITS.activity),
    inferred_deadline: coerceDate(args.inferred_deadline),
    confidence: coerceConfidence(args.confidence),
    source_category: coerceString(args.source_category, LIMITS.category),
    source_subcategory: coerceString(args.source_subcategory, LIMITS.category),
    relevance_score: Math.max(0, coerceInt(args.relevance_score)),
  };
}
