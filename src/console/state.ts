/**
 * The developer console's model, without the DOM: the session context the page edits, the
 * searches it answers from it, each frame's timeline, the session's running totals and the
 * eval case a frame is saved as. `app/main.ts` renders it; tests run it in Deno.
 *
 * @module
 */
import type { FrameFields, FrameTerminal } from "../client/client.ts";
import type { ToolKind } from "../protocol/messages.ts";
import type {
  ActiveTask,
  ExtractedTask,
  Goal,
  ModelCallUsage,
  PastTask,
  SessionContext,
  ToolResultItem,
} from "../protocol/types.ts";
import { checkCase, type Expectation } from "../eval/case_schema.ts";
import { searchTasks } from "../replay/search.ts";

/** The four lists of a session context, as the page edits them. */
export interface ConsoleContext {
  active: ActiveTask[];
  completed: PastTask[];
  deleted: PastTask[];
  goals: Goal[];
}

/** Which list of {@link ConsoleContext}. */
export type ContextList = keyof ConsoleContext;

/** An empty context. */
export function emptyContext(): ConsoleContext {
  return { active: [], completed: [], deleted: [], goals: [] };
}

/** The context as the wire carries it. */
export function sessionContext(c: ConsoleContext): SessionContext {
  return {
    active_tasks: c.active.map((t) => ({ ...t })),
    completed_tasks: c.completed.map((t) => ({ ...t })),
    deleted_tasks: c.deleted.map((t) => ({ ...t })),
    goals: c.goals.map((g) => ({ ...g })),
  };
}

/** The next free task id across the three task lists. */
function nextTaskId(c: ConsoleContext): number {
  let max = 0;
  for (const t of [...c.active, ...c.completed, ...c.deleted]) max = Math.max(max, t.task_id);
  return max + 1;
}

/**
 * Adds an item to a list: a task with the next free id, or a goal with the next `g<n>` id.
 * Blank text adds nothing. Returns the new context (the old one is left as it was).
 */
export function addItem(c: ConsoleContext, list: ContextList, text: string): ConsoleContext {
  const description = text.trim();
  if (!description) return c;
  if (list === "goals") {
    const ids = new Set(c.goals.map((g) => g.goal_id));
    let n = c.goals.length + 1;
    while (ids.has(`g${n}`)) n++;
    return { ...c, goals: [...c.goals, { goal_id: `g${n}`, title: description }] };
  }
  const task = { task_id: nextTaskId(c), description };
  return { ...c, [list]: [...c[list], task] };
}

/** Removes the item at `index` of `list`. */
export function removeItem(c: ConsoleContext, list: ContextList, index: number): ConsoleContext {
  return { ...c, [list]: c[list].filter((_, i) => i !== index) };
}

/** Adds an extracted task to the active list (its title; the priority it was given). */
export function addExtracted(c: ConsoleContext, task: ExtractedTask): ConsoleContext {
  const active: ActiveTask = {
    task_id: nextTaskId(c),
    description: task.title,
    priority: task.priority,
  };
  if (task.relevance_score > 0) active.relevance_score = task.relevance_score;
  return { ...c, active: [...c.active, active] };
}

/** The search a `tool_call_request` asks for, over the page's three task lists. */
export function answerSearch(c: ConsoleContext, kind: ToolKind, query: string): ToolResultItem[] {
  const tasks = [
    ...c.active.map((t) => ({ ...t, status: "active" as const })),
    ...c.completed.map((t) => ({ ...t, status: "completed" as const })),
    ...c.deleted.map((t) => ({ ...t, status: "deleted" as const })),
  ];
  return searchTasks(tasks, kind, query);
}

/** One search round trip as the page saw it. */
export interface SearchStep {
  requestId: string;
  toolKind: string;
  query: string;
  results: ToolResultItem[];
  /** From the `tool_call_request`'s arrival to the `tool_result` going out. */
  ms: number;
  byHand: boolean;
  error?: string;
  /** The server cancelled it or its deadline passed before it was answered. */
  cancelled?: boolean;
}

/** A step of a frame's timeline, in order. */
export type TimelineStep =
  | { kind: "sent"; atMs: number; bytes: number; image: boolean }
  | { kind: "skipped"; reason: string }
  | { kind: "privacy"; redactions: Record<string, number> }
  | { kind: "model_call"; index: number; call: ModelCallUsage }
  | { kind: "search"; search: SearchStep }
  | { kind: "terminal"; atMs: number; message: FrameTerminal }
  | { kind: "failed"; atMs: number; error: string };

/** A frame the page sent, and what came of it. */
export interface FrameRecord {
  id: string;
  fields: FrameFields;
  /**
   * The context the frame was analysed with (what an eval case of it must carry): the page's
   * context when it was queued, replaced by what actually went out ({@link markSent}).
   */
  context: SessionContext;
  /** Whether {@link context} is what went out with the frame (not yet: still queued). */
  contextSent?: boolean;
  /** `performance.now()` when it was sent. */
  sentAt: number;
  searches: SearchStep[];
  terminal?: FrameTerminal;
  /** The call failed on the client's side (disconnected, timed out). */
  error?: string;
  /** Ms from sending to the terminal (or the failure). */
  ms?: number;
}

/**
 * The context each frame was actually analysed with, read off the messages as they go out.
 * The client attaches the session context when it sends (a frame queued behind another goes
 * out with whatever the context is by then, e.g. with the task the frame before extracted),
 * and only when it changed: the server keeps the last one it got, from the `client_hello`
 * or a `frame_event`. So the context a frame was analysed with is the last one sent on its
 * socket before it; {@link observe} tracks that per frame, for its eval case.
 */
export class SentContexts {
  /** The context the server holds for this socket's session. */
  #current: SessionContext = sessionContext(emptyContext());
  #byFrame = new Map<string, SessionContext>();
  /** Frames remembered at most (the oldest are forgotten first). */
  readonly #limit: number;

  constructor(limit = 1_000) {
    this.#limit = limit;
  }

  /**
   * An outgoing message's text. A `client_hello` (a new socket) sets the session's context;
   * a `frame_event` may replace it, and its `screenshot_id` gets the context it goes out
   * with. Returns that frame's id and context, or undefined for any other message.
   */
  observe(text: string): { frameId: string; context: SessionContext } | undefined {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (typeof message !== "object" || message === null) return undefined;
    const m = message as {
      type?: unknown;
      session_context?: SessionContext | null;
      screenshot_id?: unknown;
    };
    if (m.type === "client_hello") {
      this.#current = m.session_context ?? sessionContext(emptyContext());
      return undefined;
    }
    if (m.type !== "frame_event") return undefined;
    if (m.session_context) this.#current = m.session_context;
    if (typeof m.screenshot_id !== "string") return undefined;
    const context = structuredClone(this.#current);
    this.#byFrame.delete(m.screenshot_id);
    this.#byFrame.set(m.screenshot_id, context);
    while (this.#byFrame.size > this.#limit) {
      this.#byFrame.delete(this.#byFrame.keys().next().value!);
    }
    return { frameId: m.screenshot_id, context };
  }

  /** The context frame `id` went out with, if it went out. */
  contextOf(id: string): SessionContext | undefined {
    return this.#byFrame.get(id);
  }
}

/**
 * Records that `frame` went out with `context` (from {@link SentContexts.observe}): its eval
 * case then carries what the server analysed, not what the page held when it was queued.
 */
export function markSent(frame: FrameRecord, context: SessionContext): void {
  frame.context = context;
  frame.contextSent = true;
}

/** The frame's timeline: sending, the server's decisions, model calls and searches in order. */
export function timeline(frame: FrameRecord): TimelineStep[] {
  const bytes = new TextEncoder().encode(JSON.stringify(frame.fields)).length;
  const steps: TimelineStep[] = [{
    kind: "sent",
    atMs: 0,
    bytes,
    image: frame.fields.jpeg_base64 !== undefined && frame.fields.jpeg_base64 !== null,
  }];
  const terminal = frame.terminal;
  const usage = terminal?.type === "analysis_outcome" ? terminal.usage : undefined;
  if (usage?.redactions && Object.keys(usage.redactions).length > 0) {
    steps.push({ kind: "privacy", redactions: usage.redactions });
  }
  if (usage?.skipped) steps.push({ kind: "skipped", reason: usage.skipped });
  // Each search follows the model call that asked for it.
  const searches = [...frame.searches];
  (usage?.calls ?? []).forEach((call, index) => {
    steps.push({ kind: "model_call", index, call });
    if (call.function?.startsWith("search_") && searches.length > 0) {
      steps.push({ kind: "search", search: searches.shift()! });
    }
  });
  for (const search of searches) steps.push({ kind: "search", search });
  if (terminal) steps.push({ kind: "terminal", atMs: frame.ms ?? 0, message: terminal });
  else if (frame.error !== undefined) {
    steps.push({ kind: "failed", atMs: frame.ms ?? 0, error: frame.error });
  }
  return steps;
}

/** The session's running totals. */
export interface Totals {
  frames: number;
  outcomes: Record<string, number>;
  errors: number;
  skipped: number;
  modelCalls: number;
  searches: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Totals of no frame. */
export function emptyTotals(): Totals {
  return {
    frames: 0,
    outcomes: {},
    errors: 0,
    skipped: 0,
    modelCalls: 0,
    searches: 0,
    inputTokens: 0,
    cachedInputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
  };
}

/** The totals over `frames` (finished ones count; a frame still running counts as sent). */
export function totals(frames: readonly FrameRecord[]): Totals {
  const t = emptyTotals();
  for (const frame of frames) {
    t.frames++;
    t.searches += frame.searches.length;
    const terminal = frame.terminal;
    if (frame.error !== undefined || terminal?.type === "server_error") t.errors++;
    if (terminal?.type !== "analysis_outcome") continue;
    t.outcomes[terminal.outcome_kind] = (t.outcomes[terminal.outcome_kind] ?? 0) + 1;
    const u = terminal.usage;
    if (u.skipped) t.skipped++;
    t.modelCalls += u.model_calls;
    t.inputTokens += u.input_tokens;
    t.cachedInputTokens += u.cached_input_tokens ?? 0;
    t.outputTokens += u.output_tokens + u.thinking_tokens;
    t.costUsd += u.cost_usd;
  }
  return t;
}

/** What an eval case may expect (`src/eval/case_schema.ts`). */
export type { Expectation } from "../eval/case_schema.ts";

/** The eval case of a frame as one JSONL line of `deno task eval`'s format. */
export function evalCase(frame: FrameRecord, id: string, expect?: Expectation): string {
  const outcome = frame.terminal?.type === "analysis_outcome"
    ? frame.terminal.outcome_kind
    : undefined;
  const fields: Record<string, unknown> = {
    app_name: frame.fields.app_name ?? "",
    window_title: frame.fields.window_title ?? "",
    ocr_text: frame.fields.ocr_text ?? "",
  };
  if (frame.fields.jpeg_base64) fields.jpeg_base64 = frame.fields.jpeg_base64;
  const line: Record<string, unknown> = {
    id,
    expect: expect ?? outcome ?? "no_task_found",
    frame: fields,
    context: frame.context,
  };
  if (frame.terminal?.type === "analysis_outcome") {
    line.notes = frame.terminal.outcome_kind === "extract_task"
      ? `saved from the console: extracted "${frame.terminal.task.title}"`
      : `saved from the console: ${frame.terminal.outcome_kind}`;
  }
  return JSON.stringify(line);
}

/**
 * Checks an edited eval case line: one line of JSON that `deno task eval` reads as a case,
 * by the eval's own rules (`src/eval/case_schema.ts`; a `frame.jpeg_path` is checked as a
 * relative path, its file is read only by the eval). Returns the problem in a sentence, or
 * `undefined`.
 */
export function evalCaseProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed.includes("\n")) return "An eval case is one line of JSON";
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return "Not valid JSON";
  }
  try {
    checkCase(value);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return reason.charAt(0).toUpperCase() + reason.slice(1);
  }
  return undefined;
}

/** A message for the raw log: the screenshot shortened, everything else as sent. */
export function forLog(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.length > 2_000 ? `${text.slice(0, 2_000)}…` : text;
  }
  const shorten = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(shorten);
    if (typeof v !== "object" || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(v)) {
      out[key] = key === "jpeg_base64" && typeof item === "string" && item.length > 64
        ? `${item.slice(0, 32)}… (${item.length.toLocaleString("en-US")} characters)`
        : shorten(item);
    }
    return out;
  };
  return JSON.stringify(shorten(value), null, 2);
}
