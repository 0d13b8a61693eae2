/**
 * Realistic screens for the offline model's table test: what the desktop would send (app,
 * window title, OCR text, session context), what its keyword search knows, and what the
 * analysis should conclude. "Today" is {@link TODAY}, a Wednesday.
 *
 * @module
 */
import type { Priority, SessionContext } from "../../src/protocol/messages.ts";

/** The fixed "today" of every screen: Wednesday 25 November 2026. */
export const TODAY = "2026-11-25";

/** A task the fake desktop search can find (besides the context's own lists). */
export interface KnownTask {
  task_id: number;
  description: string;
  status: "active" | "completed" | "deleted";
}

/** One screen and the outcome it should lead to. */
export interface Screen {
  name: string;
  app: string;
  title: string;
  ocr: string;
  context?: SessionContext;
  /** Tasks only the desktop search knows (e.g. deleted ones the context left out). */
  known?: KnownTask[];
  /** Makes the fake search fail with this error. */
  searchError?: string;
  expect: "extract_task" | "reject_task" | "no_task_found";
  // Expectations for extracts.
  titleIs?: string;
  titleHas?: string[];
  priority?: Priority;
  deadline?: string;
  category?: string;
  subcategory?: string;
  // Expectations for rejects.
  reasonHas?: string[];
  // Expectations for every outcome.
  activity?: string;
  summary?: string;
}

/** The table: chat, email, calendar, code review, to-dos, reading, coding, media, duplicates. */
export const SCREENS: Screen[] = [
  // ----------------------------------------------------------------- chat asks
  {
    name: "Slack DM: Q3 report by Friday",
    app: "Slack",
    title: "Sarah Chen (DM) - Acme - Slack",
    ocr: "Sarah Chen  10:42 AM\nHey, can you send me the Q3 report by Friday?",
    expect: "extract_task",
    titleIs: "Send Q3 report to Sarah",
    priority: "high",
    deadline: "2026-11-27",
    category: "message",
    subcategory: "direct_request",
    activity: "Chatting in Slack",
  },
  {
    name: "Messages: pick up milk tonight",
    app: "Messages",
    title: "Mom",
    ocr: "Can you pick up milk on your way home tonight?\nDelivered",
    expect: "extract_task",
    titleHas: ["milk"],
    priority: "high",
    deadline: "2026-11-25",
    category: "message",
  },
  {
    name: "Messages: call me when you land",
    app: "Messages",
    title: "Jordan",
    ocr: "Jordan\nSafe flight!\nCan you call me when you land?",
    expect: "extract_task",
    titleHas: ["Call", "Jordan"],
    priority: "medium",
    deadline: "",
    category: "message",
  },
  {
    name: "Teams: no-rush doc update is low priority",
    app: "Microsoft Teams",
    title: "Chat | Priya Patel | Microsoft Teams",
    ocr: "Priya Patel 9:15 AM\n" +
      "Could you please update the onboarding doc when you get a chance? No rush.",
    expect: "extract_task",
    titleHas: ["onboarding"],
    priority: "low",
    deadline: "",
    category: "message",
    subcategory: "direct_request",
  },
  {
    name: "Teams: sign the NDA before next Monday",
    app: "Microsoft Teams",
    title: "Chat | Omar | Microsoft Teams",
    ocr: "Omar 4:02 PM\nI need you to sign the NDA before next Monday.",
    expect: "extract_task",
    titleHas: ["NDA"],
    priority: "medium",
    deadline: "2026-11-30",
    category: "message",
  },
  {
    name: "Teams: asap is high priority",
    app: "Microsoft Teams",
    title: "Chat | Ken | Microsoft Teams",
    ocr: "Ken 2:10 PM\ncan u check the staging deploy asap",
    expect: "extract_task",
    titleHas: ["staging"],
    priority: "high",
    deadline: "",
  },
  {
    name: "Discord: would you mind testing before Monday",
    app: "Discord",
    title: "#release - Indie Devs - Discord",
    ocr: "mark_r — Today at 3:04 PM\n@alex would you mind testing the new build before Monday?",
    expect: "extract_task",
    titleHas: ["build"],
    priority: "medium",
    deadline: "2026-11-30",
    category: "message",
  },
  {
    name: "Slack: Slackbot reminder due today",
    app: "Slack",
    title: "Slackbot - Acme - Slack",
    ocr: "Slackbot  9:00 AM\nReminder: submit your timesheet by 5pm today.",
    expect: "extract_task",
    titleHas: ["timesheet"],
    priority: "high",
    deadline: "2026-11-25",
    subcategory: "reminder",
  },
  {
    name: "Slack: please review before tomorrow's standup",
    app: "Slack",
    title: "#launch - Acme - Slack",
    ocr: "Jess Park  11:20 AM\nPlease review the launch checklist before tomorrow's standup",
    expect: "extract_task",
    titleHas: ["checklist"],
    priority: "high",
    deadline: "2026-11-26",
    category: "message",
    subcategory: "review_request",
  },
  {
    name: "Slack: rhetorical questions only",
    app: "Slack",
    title: "#random - Acme - Slack",
    ocr: "Dev Patel  1:12 PM\nCan you believe it's already Thanksgiving?\n" +
      "Mia Wong  1:13 PM\nHow can you even tell the difference lol",
    expect: "no_task_found",
    activity: "Chatting in Slack",
  },
  {
    name: "Discord: banter, no ask",
    app: "Discord",
    title: "#general - Gamers - Discord",
    ocr: "kat — Today at 8:01 PM\nanyone up for a round tonight?\ngg last night btw",
    expect: "no_task_found",
  },
  // ----------------------------------------------------------------- email
  {
    name: "Outlook: revised budget due 12/03",
    app: "Microsoft Outlook",
    title: "Q4 budget – Inbox – Outlook",
    ocr: "From: Dana Ruiz <dana@acme.com>\nSubject: Q4 budget\nHi Sam,\n" +
      "Could you send the revised Q4 budget to finance by 12/03? Thanks!\nDana",
    expect: "extract_task",
    titleHas: ["Q4", "budget"],
    priority: "medium",
    deadline: "2026-12-03",
    category: "email",
    subcategory: "direct_request",
    activity: "Reading email",
  },
  {
    name: "Gmail: action required with Dec 3 deadline",
    app: "Google Chrome",
    title: "Action required: renew your passport - me@gmail.com - Gmail",
    ocr: "Action required: Renew your passport before Dec 3\n" +
      "Your passport expires on December 15, 2026. Renew online at travel.state.gov.",
    expect: "extract_task",
    titleHas: ["passport"],
    priority: "high",
    deadline: "2026-12-03",
    category: "email",
    subcategory: "action_required",
  },
  {
    name: "Mail: signed SOW by EOD",
    app: "Mail",
    title: "SOW – Inbox",
    ocr: "From: Alex Kim\nPlease send the signed SOW by EOD.",
    expect: "extract_task",
    titleHas: ["SOW"],
    priority: "high",
    deadline: "2026-11-25",
    category: "email",
  },
  {
    name: "Mail: grant application on an ISO date",
    app: "Mail",
    title: "Grant – Inbox",
    ocr: "Could you submit the grant application on 2026-12-03?",
    expect: "extract_task",
    titleHas: ["grant"],
    priority: "medium",
    deadline: "2026-12-03",
    category: "email",
  },
  {
    name: "Mail: expense reports due Friday (deadline only)",
    app: "Mail",
    title: "Expense reports – Inbox",
    ocr: "From: Finance Team\nExpense reports are due Friday, November 27.\nThanks",
    expect: "extract_task",
    titleHas: ["expense"],
    deadline: "2026-11-27",
    category: "email",
    subcategory: "deadline",
  },
  {
    name: "Mail: take a look and get back to me by Thursday",
    app: "Mail",
    title: "Fw: contract draft",
    ocr: "From: Bob Lee\nHi,\nCan you take a look at the attached draft and get back to me by " +
      "Thursday?\nThanks,\nBob",
    expect: "extract_task",
    titleIs: "Review attached draft",
    priority: "high",
    deadline: "2026-11-26",
    category: "email",
  },
  {
    name: "Mail: marketing noise",
    app: "Mail",
    title: "Black Friday deals – Inbox",
    ocr: "Don't miss out! 40% off everything\nPlease click here to shop now\n" +
      "Offer ends tomorrow\nUnsubscribe",
    expect: "no_task_found",
    activity: "Reading email",
  },
  // ----------------------------------------------------------------- calendar
  {
    name: "Mail: calendar invitation needing an RSVP",
    app: "Mail",
    title: "Invitation: Design Review @ Thu Dec 3, 2026 2pm - 3pm",
    ocr: "Invitation: Design Review\nWhen: Thursday, December 3, 2026 2:00 PM – 3:00 PM\n" +
      "Organizer: Lee Wong\nGoing? Yes  Maybe  No",
    expect: "extract_task",
    titleHas: ["RSVP", "Design Review"],
    priority: "medium",
    deadline: "2026-12-03",
    category: "calendar",
    subcategory: "invitation",
  },
  {
    name: "Calendar: pending invite with Accept/Decline",
    app: "Calendar",
    title: "Calendar",
    ocr: "Team Offsite Planning\nFriday, November 27\nLee Wong invited you\nAccept  Maybe  Decline",
    expect: "extract_task",
    titleHas: ["Offsite"],
    priority: "high",
    deadline: "2026-11-27",
    category: "calendar",
    subcategory: "invitation",
  },
  {
    name: "Calendar: week view, nothing to answer",
    app: "Calendar",
    title: "Calendar",
    ocr: "Mon 23\nTue 24\nWed 25\nStandup 9:30 AM\nLunch with Alex 12:00 PM",
    expect: "no_task_found",
    activity: "Checking the calendar",
  },
  // ----------------------------------------------------------------- code review
  {
    name: "GitHub: PR requested your review",
    app: "Google Chrome",
    title: "Add rate limiter middleware by sarah-c · Pull Request #482 · acme/api · GitHub",
    ocr: "sarah-c requested your review on this pull request.\n" +
      "Add rate limiter middleware #482\nReview changes",
    expect: "extract_task",
    titleHas: ["Review", "#482"],
    priority: "medium",
    deadline: "",
    category: "code_review",
    subcategory: "review_request",
  },
  {
    name: "GitHub notifications: review requested",
    app: "Safari",
    title: "Notifications · GitHub",
    ocr: "Review requested\nacme/web #1290 Fix checkout race condition\n" +
      "mark-l requested your review · 2h ago",
    expect: "extract_task",
    titleHas: ["#1290", "checkout"],
    category: "code_review",
    subcategory: "review_request",
  },
  {
    name: "GitLab: merge request review",
    app: "Firefox",
    title: "Update CI cache keys (!77) · Merge requests · infra / pipelines · GitLab",
    ocr: "Dana Ruiz requested a review from you\nUpdate CI cache keys",
    expect: "extract_task",
    titleHas: ["!77", "cache"],
    category: "code_review",
  },
  {
    name: "GitHub: own PR with template checklist",
    app: "Google Chrome",
    title: "Fix typo in README by sam · Pull Request #17 · sam/dotfiles · GitHub",
    ocr: "sam opened this pull request 2 days ago\nChecklist\n- [ ] Tests added\n" +
      "- [ ] Docs updated\nAll checks have passed",
    expect: "no_task_found",
  },
  // ----------------------------------------------------------------- to-do lists
  {
    name: "Reminders: unchecked item, checked item skipped",
    app: "Reminders",
    title: "Reminders",
    ocr: "Today\n[x] Call the bank\n[ ] Book dentist appointment tomorrow\n[ ] Water plants",
    expect: "extract_task",
    titleIs: "Book dentist appointment",
    priority: "high",
    deadline: "2026-11-26",
    category: "todo_list",
    subcategory: "todo_item",
  },
  {
    name: "Notes: To do list with a Saturday deadline",
    app: "Notes",
    title: "Weekend",
    ocr: "To do:\n- Renew car insurance\n- Buy birthday gift for Alex by Saturday",
    expect: "extract_task",
    titleHas: ["gift"],
    priority: "medium",
    deadline: "2026-11-28",
    category: "todo_list",
  },
  {
    name: "Things: every item done",
    app: "Things",
    title: "Today",
    ocr: "[x] Email landlord\n[x] Pay rent\n☑ Submit timesheet",
    expect: "no_task_found",
  },
  {
    name: "VS Code: TODO.md with an open box",
    app: "Visual Studio Code",
    title: "TODO.md — notes",
    ocr: "# Sprint\n- [ ] Write migration for user_settings table\n- [x] Fix flaky login test",
    expect: "extract_task",
    titleHas: ["migration"],
    category: "todo_list",
  },
  {
    name: "Reminders: first item already tracked, second is new",
    app: "Reminders",
    title: "Reminders",
    ocr: "[ ] Pay rent\n[ ] Call plumber about the leak",
    context: { active_tasks: [{ task_id: 5, description: "Pay rent" }] },
    expect: "extract_task",
    titleHas: ["plumber"],
  },
  {
    name: "Jira: issue assigned to you",
    app: "Google Chrome",
    title: "[ENG-204] Fix login redirect loop - Jira",
    ocr: "Priya Patel assigned ENG-204 to you\nFix login redirect loop\nPriority: High\n" +
      "Due date: 2026-12-01",
    expect: "extract_task",
    titleHas: ["login", "ENG-204"],
    priority: "high",
    deadline: "2026-12-01",
    category: "todo_list",
    subcategory: "assignment",
  },
  {
    name: "Google Docs: comment assigned you a task",
    app: "Google Chrome",
    title: "Q4 plan - Google Docs",
    ocr: "Comments\nSam Lee assigned you a task: update the intro paragraph\nResolve",
    expect: "extract_task",
    titleHas: ["intro"],
    category: "document",
    subcategory: "assignment",
  },
  // ----------------------------------------------------------------- not actionable
  {
    name: "Safari: news article with quoted and rhetorical asks",
    app: "Safari",
    title: "Can remote work survive 2027? – The Atlantic",
    ocr: "Can remote work survive 2027?\nBy Jane Doe · November 24, 2026\n" +
      "Could you give up your commute forever? Millions already have.\n" +
      "“Can you send me the numbers by Friday?” her manager asked, according to the report.\n" +
      "Subscribe to our newsletter. Please subscribe today!",
    expect: "no_task_found",
    activity: "Reading",
    summary: "Reading a web page in Safari",
  },
  {
    name: "Chrome: documentation page",
    app: "Google Chrome",
    title: "Getting started – Deno Docs",
    ocr: "Installation\nMake sure you have Deno installed. Please note that Deno 2 requires " +
      "a recent OS.\nTo do this, run the following command:\ndeno run main.ts\n" +
      "You need to grant permissions explicitly.",
    expect: "no_task_found",
    activity: "Reading",
  },
  {
    name: "Safari: browser offers to save a password",
    app: "Safari",
    title: "Sign in – Acme",
    ocr: "Sign in\nWould you like to save your password?\nNever  Not Now  Save Password",
    expect: "no_task_found",
  },
  {
    name: "Preview: reading a lease",
    app: "Preview",
    title: "Lease.pdf",
    ocr: "The tenant shall pay rent on the first day of each month. " +
      "Please note that late fees apply.",
    expect: "no_task_found",
    activity: "Reading",
  },
  {
    name: "VS Code: coding, TODO comment and string literal ask",
    app: "Visual Studio Code",
    title: "server.ts — proactive",
    ocr: "import { serve } from './server.ts';\n// TODO: handle errors from the model\n" +
      'const msg = "Can you send me the report by Friday?";\nexport function main() {}',
    expect: "no_task_found",
    activity: "Coding",
    summary: "Editing code in Visual Studio Code",
  },
  {
    name: "iTerm2: test output",
    app: "iTerm2",
    title: "npm test",
    ocr: "$ npm test\n> proactive@0.1.0 test\nPASS tests/foo.test.ts\nTests: 42 passed\n" +
      "Please make sure the following is correct",
    expect: "no_task_found",
    activity: "Using the terminal",
  },
  {
    name: "Finder: idle desktop",
    app: "Finder",
    title: "",
    ocr: "",
    expect: "no_task_found",
    activity: "Idle",
    summary: "Idle desktop",
  },
  {
    name: "VLC: video player",
    app: "VLC",
    title: "Nature Documentary.mkv",
    ocr: "Subscribe and don't forget to hit the bell\nCan you believe this?",
    expect: "no_task_found",
    activity: "Watching a video",
  },
  {
    name: "YouTube in Chrome",
    app: "Google Chrome",
    title: "How to make sourdough - YouTube",
    ocr: "Please like and subscribe\nCan you guess what happens next?\n1.2M views",
    expect: "no_task_found",
    activity: "Watching a video",
  },
  // ----------------------------------------------------------------- duplicates
  {
    name: "Duplicate of an active task in the context",
    app: "Slack",
    title: "Sarah Chen (DM) - Acme - Slack",
    ocr: "Sarah Chen  10:42 AM\nHey, can you send me the Q3 report by Friday?",
    context: { active_tasks: [{ task_id: 12, description: "Send Q3 report to Sarah" }] },
    expect: "reject_task",
    reasonHas: ["#12", "active"],
  },
  {
    name: "Duplicate of a deleted task found only by the search",
    app: "Messages",
    title: "Jordan",
    ocr: "Could you book the flights for the Berlin offsite?",
    known: [
      { task_id: 7, description: "Book flights for Berlin offsite", status: "deleted" },
      { task_id: 8, description: "Book a table for the team dinner", status: "active" },
    ],
    expect: "reject_task",
    reasonHas: ["#7", "deleted"],
  },
  {
    name: "Duplicate of a completed task",
    app: "Mail",
    title: "Contract – Inbox",
    ocr: "Please review the vendor contract by Dec 3",
    context: { completed_tasks: [{ task_id: 30, description: "Review vendor contract" }] },
    expect: "reject_task",
    reasonHas: ["#30", "completed"],
  },
  {
    name: "Similar but different quarter is not a duplicate",
    app: "Slack",
    title: "Sarah Chen (DM) - Acme - Slack",
    ocr: "Sarah Chen  10:42 AM\nHey, can you send me the Q4 report by Friday?",
    context: { active_tasks: [{ task_id: 12, description: "Send Q3 report to Sarah" }] },
    expect: "extract_task",
    titleHas: ["Q4"],
    deadline: "2026-11-27",
  },
  {
    name: "Search failed: duplicate still caught from the context",
    app: "Slack",
    title: "#marketing - Acme - Slack",
    ocr: "Lena Ortiz  3:30 PM\nCould you update the pricing page copy by Monday?",
    context: { active_tasks: [{ task_id: 44, description: "Update pricing page copy" }] },
    searchError: "index unavailable",
    expect: "reject_task",
    reasonHas: ["#44", "active"],
  },
  {
    name: "Search failed: new task still extracted",
    app: "Slack",
    title: "#marketing - Acme - Slack",
    ocr: "Lena Ortiz  3:30 PM\nCould you update the pricing page copy by Monday?",
    searchError: "index unavailable",
    expect: "extract_task",
    titleHas: ["pricing"],
    deadline: "2026-11-30",
  },
];
