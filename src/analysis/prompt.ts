/**
 * The text we send a language model for one frame: our own instructions plus the frame and
 * the user's context, each bounded so a huge context cannot blow the prompt (or the bill).
 *
 * Ordered for Gemini's implicit cache (a prefix repeated from an earlier request is billed at
 * the cached rate): the system instruction and tools, then the context (stable within a
 * session), then the date, then the screen, the screenshot last.
 *
 * @module
 */
import { headOf } from "../protocol/text.ts";
import type { AnalysisRequest } from "./model.ts";

/** Bounds of what goes into a prompt. */
export const PROMPT_LIMITS = {
  ocrChars: 12_000,
  titleChars: 300,
  appChars: 100,
  activeTasks: 60,
  completedTasks: 30,
  deletedTasks: 30,
  goals: 15,
  itemChars: 200,
  priorityChars: 20,
} as const;

/** Instructions that do not change from frame to frame. */
export const SYSTEM_INSTRUCTION = `You watch a user's screen and keep their task list useful.
For each screen, decide one of three things by calling exactly one function:
- extract_task: the screen asks the user to do something concrete that is not yet on their
  list (a direct request, an assigned review, an invitation to answer, a deadline, an
  unchecked to-do item). Write a short imperative title and resolve any deadline to a date.
- reject_task: there is such a request, but the user already has it (active, completed or
  deleted: never bring back a task the user deleted).
- no_task_found: nothing on the screen asks the user to act (reading, browsing, writing
  code, watching, idle).
Before extracting, search the user's tasks with search_similar or search_keywords when a
duplicate is plausible. Only screen content addressed to the user counts; ignore ads,
newsletters and requests aimed at other people. Never invent details that are not visible.`;

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${headOf(flat, max - 1)}…` : flat;
}

function section<T>(
  heading: string,
  items: readonly T[] | null | undefined,
  max: number,
  line: (item: T) => string,
): string {
  const list = items ?? [];
  if (list.length === 0) return `${heading}: none`;
  const shown = list.slice(0, max).map((item) => `- ${line(item)}`);
  const more = list.length > max ? `\n(and ${list.length - max} more not shown)` : "";
  return `${heading}:\n${shown.join("\n")}${more}`;
}

/**
 * The user-turn text of a frame, in two parts ordered for Gemini's implicit cache: what
 * changes least comes first. `context` (the four context lists) is the same, byte for byte,
 * for every frame of a session while its context does not change; `frame` (the date, then
 * the screen) changes with every frame. The screenshot, when there is one, goes after both.
 */
export interface FramePrompt {
  /** The user's active, completed and deleted tasks and goals: stable within a session. */
  context: string;
  /** Today's date, then the app, window title and OCR text of the screen. */
  frame: string;
}

/**
 * The context text of each context object seen, built once: a session passes the same
 * object to every frame until its context changes, and the text is several KB of string
 * work for 20 tasks. Weak, so a replaced context takes its text with it. Context objects
 * come from the wire and are never mutated.
 */
const contextPrompts = new WeakMap<AnalysisRequest["context"], string>();

/** The two parts of a frame's prompt (see {@link FramePrompt}). */
export function buildFramePromptParts(request: AnalysisRequest): FramePrompt {
  let context = contextPrompts.get(request.context);
  if (context === undefined) {
    context = buildContextPrompt(request.context);
    contextPrompts.set(request.context, context);
  }
  return { context, frame: buildScreenPrompt(request) };
}

/** The whole user-turn text of a frame: the context, then the date and the screen. */
export function buildFramePrompt(request: AnalysisRequest): string {
  const { context, frame } = buildFramePromptParts(request);
  return `${context}\n\n${frame}`;
}

/** The date and the screen. */
function buildScreenPrompt(request: AnalysisRequest): string {
  const { frame, today } = request;
  const L = PROMPT_LIMITS;
  const screen = [`App: ${clip(frame.appName, L.appChars) || "unknown"}`];
  if (frame.windowTitle) screen.push(`Window title: ${clip(frame.windowTitle, L.titleChars)}`);
  if (frame.ocrText) {
    const ocr = frame.ocrText.length > L.ocrChars
      ? `${headOf(frame.ocrText, L.ocrChars)}\n[text cut]`
      : frame.ocrText;
    screen.push(`Screen text (OCR):\n"""\n${ocr}\n"""`);
  }
  if (frame.jpegBase64) screen.push("A screenshot is attached.");
  return `Today is ${today}.\n\n${screen.join("\n")}`;
}

/** The four context lists, bounded; the same context always gives the same text. */
function buildContextPrompt(context: AnalysisRequest["context"]): string {
  const L = PROMPT_LIMITS;
  const active = [...(context.active_tasks ?? [])].sort((a, b) =>
    (a.relevance_score || Number.MAX_SAFE_INTEGER) - (b.relevance_score || Number.MAX_SAFE_INTEGER)
  );
  const parts: string[] = [];
  parts.push(
    section(
      "Active tasks (rank 1 = most important)",
      active,
      L.activeTasks,
      (t) =>
        `#${t.task_id} ${clip(t.description, L.itemChars)}` +
        (t.priority ? ` [${clip(t.priority, L.priorityChars)}]` : "") +
        (t.relevance_score ? ` (rank ${t.relevance_score})` : ""),
    ),
  );
  parts.push(
    section(
      "Recently completed tasks",
      context.completed_tasks,
      L.completedTasks,
      (t) => `#${t.task_id} ${clip(t.description, L.itemChars)}`,
    ),
  );
  parts.push(
    section(
      "Tasks the user deleted (never extract these again)",
      context.deleted_tasks,
      L.deletedTasks,
      (t) => `#${t.task_id} ${clip(t.description, L.itemChars)}`,
    ),
  );
  parts.push(
    section(
      "Goals",
      context.goals,
      L.goals,
      (g) =>
        `${clip(g.title, L.itemChars)}${
          g.description ? `: ${clip(g.description, L.itemChars)}` : ""
        }`,
    ),
  );
  return parts.join("\n\n");
}
