/**
 * The five functions a model may call (docs/protocol.md §5.5), defined once.
 *
 * Providers turn {@link FUNCTIONS} into their own declarations (`z.toJSONSchema` of each
 * `parameters` schema); the loop uses the names to decide what a call means.
 *
 * @module
 */
import { z } from "zod";
import { PRIORITIES, type ToolKind, type ToolResultItem } from "../protocol/messages.ts";

const summaryFields = {
  context_summary: z.string().describe("One or two sentences on what is on the screen."),
  current_activity: z.string().describe("What the user is doing, in a few words."),
};

const searchParameters = z.object({
  query: z.string().describe("What to look for among the user's existing tasks."),
});

/** Every function a model may call, with its parameters. */
export const FUNCTIONS = {
  search_similar: {
    description:
      "Search the user's existing tasks (active, completed and deleted) by meaning. Use it " +
      "before extracting a task, to avoid duplicates.",
    parameters: searchParameters,
  },
  search_keywords: {
    description:
      "Search the user's existing tasks (active, completed and deleted) by exact keywords: " +
      "names, project codes, distinctive words.",
    parameters: searchParameters,
  },
  extract_task: {
    description:
      "Record one new, concrete task the user should do, seen on the screen and not already " +
      "among their tasks.",
    parameters: z.object({
      title: z.string().describe("Short imperative title, at most 10 words."),
      description: z.string().describe("What needs doing and why, with any details seen."),
      priority: z.enum(PRIORITIES).describe("How urgent the task is."),
      tags: z.array(z.string()).describe("A few short topic tags."),
      source_app: z.string().describe("The app the task was seen in."),
      inferred_deadline: z.string().describe("Due date as YYYY-MM-DD, or empty if none."),
      confidence: z.number().describe("How sure you are that this is a real task, 0 to 1."),
      source_category: z.string().describe(
        "Where the task came from: message, email, calendar, code_review, document, todo_list, other.",
      ),
      source_subcategory: z.string().describe("A finer kind of source, e.g. direct_request."),
      relevance_score: z.int().describe(
        "Rank among the user's active tasks where this one would fit (1 = most important).",
      ),
      ...summaryFields,
    }),
  },
  reject_task: {
    description:
      "Decline to extract a task because the user already has it (active, completed or deleted).",
    parameters: z.object({
      reason: z.string().describe("Which existing task it duplicates, and why."),
      ...summaryFields,
    }),
  },
  no_task_found: {
    description: "Nothing on the screen asks the user to do something new.",
    parameters: z.object(summaryFields),
  },
} as const;

/** A function name a model may call. */
export type FunctionName = keyof typeof FUNCTIONS;

/** Whether a call names one of the client-executed search tools. */
export function isSearchTool(name: string): name is ToolKind {
  return name === "search_similar" || name === "search_keywords";
}

/** How many search hits go back to the model; the rest add tokens and little else. */
export const MAX_RESULTS_FOR_MODEL = 20;

/**
 * The text of a function response: one line per hit, or `Search error: …`.
 * Descriptions are bounded so one huge task cannot blow the prompt.
 */
export function formatToolResponse(results: readonly ToolResultItem[], error?: string): string {
  if (error) return `Search error: ${error.slice(0, 200)}`;
  if (results.length === 0) return "No matching tasks.";
  const lines = results.slice(0, MAX_RESULTS_FOR_MODEL).map((r) => {
    const score = r.match_type === "fts"
      ? "keyword match"
      : `similarity ${(r.similarity ?? 0).toFixed(2)}`;
    const rank = r.relevance_score ? `, rank ${r.relevance_score}` : "";
    return `- [${r.status}] #${r.task_id} ${r.description.slice(0, 300)} (${score}${rank})`;
  });
  return `${results.length} matching task(s):\n${lines.join("\n")}`;
}
