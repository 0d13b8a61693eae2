/**
 * The context of a typical user, shared by the benchmarks that need one: 20 active tasks, a
 * few completed and deleted ones, three goals (about 2.3 KB of JSON).
 *
 * @module
 */
import type { SessionContext } from "../src/protocol/messages.ts";

/** A typical context: 20 active tasks, some completed and deleted ones, three goals. */
export function typicalContext(): SessionContext {
  const active = [
    "Send the Q3 report to Sarah",
    "Review the onboarding mockups for Dana",
    "Book flights to Lisbon for the offsite",
    "Renew the team's Figma licences",
    "Prepare the quarterly planning slides",
    "Answer the vendor's security questionnaire",
    "Rotate the staging database credentials",
    "Schedule 1:1s with the new hires",
    "Write the incident review for the outage on Monday",
    "Update the payments API retry documentation",
    "Order a new laptop for Priya",
    "File the expense report for the Berlin trip",
    "Reply to legal about the contract amendment",
    "Fix the flaky checkout integration test",
    "Plan the team dinner for December",
    "Review pull request #471 on the billing service",
    "Draft the hiring plan for next year",
    "Pay the November invoice from Hetzner",
    "Send feedback on the design system proposal",
    "Clean up unused feature flags",
  ];
  return {
    active_tasks: active.map((description, i) => ({
      task_id: 100 + i,
      description,
      priority: i % 3 === 0 ? "high" : i % 3 === 1 ? "medium" : "low",
      relevance_score: i + 1,
    })),
    completed_tasks: [
      { task_id: 90, description: "Renew passport" },
      { task_id: 91, description: "Submit the conference talk proposal" },
      { task_id: 92, description: "Send the October invoice to the client" },
      { task_id: 93, description: "Set up the new CI runners" },
      { task_id: 94, description: "Book the dentist appointment" },
    ],
    deleted_tasks: [
      { task_id: 80, description: "Buy a boat" },
      { task_id: 81, description: "Learn to play the cello" },
      { task_id: 82, description: "Migrate the wiki to Notion" },
    ],
    goals: [
      { goal_id: "g1", title: "Close the quarter", description: "Finance reporting on time" },
      { goal_id: "g2", title: "Ship payments v2", description: "By the end of March" },
      { goal_id: "g3", title: "Grow the team", description: "Hire two engineers" },
    ],
  };
}
