/**
 * What the fake Gemini answers in the console's run with `--by-hand` (`console_browser.ts`):
 * the Slack example's search and task, the same screen deduped, the third skipped without a
 * call, and a fourth frame's similar-task search answered by hand, then rejected.
 */
import { functionCallAnswer, type GeminiStep } from "../fakes/fake_gemini.ts";

/** The answers, in the order the run asks for them. */
export function consoleGeminiScript(): GeminiStep[] {
  return [
    functionCallAnswer("search_keywords", { query: "Q3 report" }, {
      usage: { promptTokenCount: 2400, cachedContentTokenCount: 0, candidatesTokenCount: 12 },
    }),
    functionCallAnswer("extract_task", {
      title: "Send the Q3 report",
      description: "Asked in #general, due Friday.",
      priority: "medium",
      context_summary: "A request in Slack",
      current_activity: "Reading Slack",
    }, {
      usage: {
        promptTokenCount: 2500,
        cachedContentTokenCount: 2048,
        candidatesTokenCount: 60,
      },
    }),
    // The second frame: the extracted task is in the context now.
    functionCallAnswer("search_keywords", { query: "Q3 report" }),
    functionCallAnswer("reject_task", {
      reason: "The user already has it",
      context_summary: "The same request",
      current_activity: "Reading Slack",
    }),
    // The fourth (the third was skipped), by hand: a similar-task search, a rejection.
    functionCallAnswer("search_similar", { query: "send Q3 report to Sarah" }),
    functionCallAnswer("reject_task", {
      reason: "The user already has it",
      context_summary: "A reminder",
      current_activity: "Reading Slack",
    }),
  ];
}
