/**
 * The offline model: a deterministic, rule-based stand-in for an LLM, so the service runs
 * with no API key and no network.
 *
 * It reads the frame's app name, window title and OCR text (never the image) and finds the
 * single most salient thing the screen asks the user to do: a direct ask, an unchecked to-do,
 * a review request, an invitation, "action required", a deadline. On the first call it asks
 * the desktop for a keyword search. After that it extracts the task, or rejects it when it
 * duplicates one the user already has. When nothing on the screen is actionable it says so
 * at once. The same input always gives the same output: no clock, no randomness, no I/O.
 *
 * @module
 */
import type {
  Conversation,
  FrameInput,
  FunctionCall,
  Model,
  ModelReply,
  ToolTurn,
} from "../analysis/model.ts";
import type { Priority, SessionContext, ToolResultItem } from "../protocol/messages.ts";

/** Most OCR characters read per frame, so a huge frame still costs one quick regex pass. */
export const MAX_TEXT_CHARS = 20_000;
/**
 * Two tasks count as duplicates when their weighted word overlap reaches this (see
 * {@link taskOverlap}). At 0.6, "Send Q3 report to Sarah" matches "Send the Q3 report to
 * Sarah by Friday", but "Send Q4 budget to finance" does not match "Prepare Q4 budget slides".
 */
export const OVERLAP_THRESHOLD = 0.6;

const MAX_TITLE_CHARS = 500;
const MAX_UNIT_CHARS = 500;
const MAX_LINES = 1_000;
const MIN_SCORE = 2;
const TITLE_WORDS = 10;

// ---------------------------------------------------------------------------------------
// Dates. Days are counted as whole UTC days since the epoch; only `today` says which is now.

const DAY_MS = 86_400_000;

const MONTHS: Record<string, number> = {
  january: 1,
  jan: 1,
  february: 2,
  feb: 2,
  march: 3,
  mar: 3,
  april: 4,
  apr: 4,
  may: 5,
  june: 6,
  jun: 6,
  july: 7,
  jul: 7,
  august: 8,
  aug: 8,
  september: 9,
  sept: 9,
  sep: 9,
  october: 10,
  oct: 10,
  november: 11,
  nov: 11,
  december: 12,
  dec: 12,
};
const WEEKDAYS: Record<string, number> = {
  sunday: 0,
  monday: 1,
  tuesday: 2,
  wednesday: 3,
  thursday: 4,
  friday: 5,
  saturday: 6,
  sun: 0,
  mon: 1,
  tues: 2,
  tue: 2,
  wed: 3,
  thurs: 4,
  thur: 4,
  thu: 4,
  fri: 5,
  sat: 6,
};
const byLength = (a: string, b: string) => b.length - a.length;
const MONTH_ALT = Object.keys(MONTHS).sort(byLength).join("|");
const WEEKDAY_FULL_ALT = Object.keys(WEEKDAYS).filter((w) => w.endsWith("day")).join("|");
const WEEKDAY_ABBR_ALT = Object.keys(WEEKDAYS).filter((w) => !w.endsWith("day")).sort(byLength)
  .join("|");
const WEEKDAY_ANY_ALT = `${WEEKDAY_FULL_ALT}|${WEEKDAY_ABBR_ALT}`;
const COUNT = String.raw`(?:\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten)`;
const NUMBER_WORDS: Record<string, number> = {
  a: 1,
  an: 1,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
};

/** Days since the epoch of a real calendar date (no 2026-02-31), else `undefined`. */
function dayOf(year: number, month: number, day: number): number | undefined {
  if (month < 1 || month > 12 || day < 1 || day > 31 || year < 1000 || year > 9999) {
    return undefined;
  }
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date.getTime() / DAY_MS;
}

function parseIsoDay(iso: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso.trim());
  return m ? dayOf(Number(m[1]), Number(m[2]), Number(m[3])) : undefined;
}

function isoOf(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

function weekdayOf(day: number): number {
  return new Date(day * DAY_MS).getUTCDay();
}

/** A month and day without a year: the occurrence nearest today, leaning to the future. */
function nearestYear(month: number, day: number, today: number | undefined): number | undefined {
  if (today === undefined) return undefined;
  const year = new Date(today * DAY_MS).getUTCFullYear();
  const same = dayOf(year, month, day);
  if (same === undefined) return dayOf(year + 1, month, day); // Feb 29 of a leap year ahead
  if (same < today - 60) return dayOf(year + 1, month, day) ?? same;
  if (same > today + 305) return dayOf(year - 1, month, day) ?? same;
  return same;
}

/** The next `weekday` strictly after `today` (Friday on a Friday is a week later). */
function nextWeekday(today: number, weekday: number): number {
  return today + ((weekday - weekdayOf(today) + 7) % 7 || 7);
}

/** `weekday` of the next calendar week, weeks starting on Monday ("next Friday"). */
function weekdayOfNextWeek(today: number, weekday: number): number {
  return nextWeekday(today, 1) + (weekday + 6) % 7;
}

function yearOf(text: string | undefined): number | undefined {
  if (!text) return undefined;
  return text.length === 2 ? 2000 + Number(text) : Number(text);
}

type DateRule = [RegExp, (m: RegExpMatchArray, today: number) => number | undefined];

const EXPLICIT_DATES: DateRule[] = [
  [/\b(\d{4})-(\d{1,2})-(\d{1,2})\b/g, (m) => dayOf(Number(m[1]), Number(m[2]), Number(m[3]))],
  [
    new RegExp(
      String.raw`\b(${MONTH_ALT})\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?`,
      "gi",
    ),
    (m, today) => {
      const month = MONTHS[(m[1] ?? "").toLowerCase()] ?? 0;
      const year = yearOf(m[3]);
      const day = Number(m[2]);
      return year ? dayOf(year, month, day) : nearestYear(month, day, today);
    },
  ],
  [
    new RegExp(
      String.raw`\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(${MONTH_ALT})\b\.?(?:,?\s+(\d{4})\b)?`,
      "gi",
    ),
    (m, today) => {
      const month = MONTHS[(m[2] ?? "").toLowerCase()] ?? 0;
      const year = yearOf(m[3]);
      const day = Number(m[1]);
      return year ? dayOf(year, month, day) : nearestYear(month, day, today);
    },
  ],
  [
    // US month/day: "due 12/03", "12/3/26". Not part of a path, version or longer number.
    /(?<![\w/.:-])(\d{1,2})\/(\d{1,2})(?:\/(\d{4}|\d{2}))?(?![\w/])/g,
    (m, today) => {
      const year = yearOf(m[3]);
      const month = Number(m[1]);
      const day = Number(m[2]);
      return year ? dayOf(year, month, day) : nearestYear(month, day, today);
    },
  ],
];

const weekdayIn = (m: RegExpMatchArray) => WEEKDAYS[(m[1] ?? "").toLowerCase()] ?? 0;

const RELATIVE_DATES: DateRule[] = [
  [/\bday after tomorrow\b/gi, (_m, t) => t + 2],
  [/\b(?:tomorrow|tmrw|tmr|tomorow)\b/gi, (_m, t) => t + 1],
  [
    /\b(?:today|tonight|eod|cob|end of (?:the )?(?:business )?day|close of business|this (?:morning|afternoon|evening))\b/gi,
    (_m, t) => t,
  ],
  [/\b(?:eow|end of (?:the )?week|this week)\b/gi, (_m, t) => t + (5 - weekdayOf(t) + 7) % 7],
  [/\bnext week\b/gi, (_m, t) => nextWeekday(t, 1)],
  [
    /\b(?:eom|end of (?:the )?month)\b/gi,
    (_m, t) => {
      const d = new Date(t * DAY_MS);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0) / DAY_MS;
    },
  ],
  [
    new RegExp(String.raw`\bin (${COUNT}) (day|week)s?\b`, "gi"),
    (m, t) => {
      const word = (m[1] ?? "").toLowerCase();
      const n = NUMBER_WORDS[word] ?? Number(word);
      return t + n * ((m[2] ?? "").toLowerCase() === "week" ? 7 : 1);
    },
  ],
  [
    new RegExp(String.raw`\bwithin (${COUNT}) (hour|day|week)s?\b`, "gi"),
    (m, t) => {
      const word = (m[1] ?? "").toLowerCase();
      const n = NUMBER_WORDS[word] ?? Number(word);
      const unit = (m[2] ?? "").toLowerCase();
      return t + (unit === "hour" ? Math.ceil(n / 24) : unit === "week" ? n * 7 : n);
    },
  ],
  [
    new RegExp(String.raw`\bnext\s+(${WEEKDAY_ANY_ALT})\b`, "gi"),
    (m, t) => weekdayOfNextWeek(t, weekdayIn(m)),
  ],
  [
    new RegExp(String.raw`\bthis\s+(${WEEKDAY_ANY_ALT})\b`, "gi"),
    (m, t) => t + (weekdayIn(m) - weekdayOf(t) + 7) % 7,
  ],
  [new RegExp(String.raw`\b(${WEEKDAY_FULL_ALT})\b`, "gi"), (m, t) => nextWeekday(t, weekdayIn(m))],
  [
    // Abbreviations only after a preposition: "sat" and "wed" are also ordinary words.
    new RegExp(String.raw`\b(?:by|on|due|until|till|before|for)\s+(${WEEKDAY_ABBR_ALT})\b`, "gi"),
    (m, t) => nextWeekday(t, weekdayIn(m)),
  ],
];

function earliest(text: string, rules: DateRule[], today: number | undefined): number | undefined {
  let best: { index: number; day: number } | undefined;
  for (const [re, resolve] of rules) {
    for (const m of text.matchAll(re)) {
      const index = m.index ?? 0;
      if (best && index >= best.index) break;
      const day = resolve(m, today ?? 0);
      if (day !== undefined && Number.isFinite(day)) {
        best = { index, day };
        break;
      }
    }
  }
  return best?.day;
}

/**
 * The deadline a text mentions, resolved against `today` (`YYYY-MM-DD`) to `YYYY-MM-DD`, or
 * "" when it names none. An explicit date (ISO, "Dec 3", "3 December", "12/03") wins over a
 * relative one; among each, the first mentioned wins. A bare weekday is the next such day
 * after today, "next Friday" is the Friday of next week (weeks start on Monday), "end of week"
 * is Friday, "next week" is next Monday, "EOD"/"tonight" is today. A date without a year is
 * its occurrence nearest today: up to 60 days back (overdue), else ahead.
 */
export function resolveDeadline(text: string, today: string): string {
  const base = parseIsoDay(today);
  const s = text.slice(0, 2_000);
  const explicit = earliest(s, EXPLICIT_DATES, base);
  const day = explicit ?? (base === undefined ? undefined : earliest(s, RELATIVE_DATES, base));
  return day === undefined ? "" : isoOf(day);
}

// ---------------------------------------------------------------------------------------
// Apps: what kind of screen this is decides what counts as a request and how to describe it.

/** What kind of screen a frame shows, from its app name and window title. */
export type AppKind =
  | "chat"
  | "email"
  | "calendar"
  | "code_host"
  | "tasks"
  | "document"
  | "reader"
  | "web"
  | "coding"
  | "terminal"
  | "video"
  | "music"
  | "files"
  | "idle"
  | "other";

const BROWSER_RE =
  /\b(?:safari|chrome|chromium|firefox|edge|arc|brave|opera|vivaldi|orion|duckduckgo|browser)\b/i;
const APP_RULES: [RegExp, AppKind][] = [
  [
    /\b(?:slack|messages|imessage|teams|discord|whatsapp|telegram|signal|messenger|wechat|skype|mattermost|element|zulip|viber|google chat)\b/i,
    "chat",
  ],
  [
    /\b(?:mail|outlook|gmail|spark|airmail|thunderbird|superhuman|mimestream|postbox|mailspring)\b/i,
    "email",
  ],
  [/\b(?:calendar|fantastical|busycal|cron)\b/i, "calendar"],
  [
    /\b(?:reminders|things|todoist|omnifocus|to ?do|ticktick|any\.do|tasks|taskpaper|jira|linear|asana|trello|clickup)\b/i,
    "tasks",
  ],
  [
    /\b(?:terminal|iterm2?|warp|alacritty|kitty|hyper|wezterm|ghostty|powershell|cmd|konsole|tmux)\b/i,
    "terminal",
  ],
  [
    /\b(?:visual studio|code|vscode|xcode|intellij(?: idea)?|pycharm|webstorm|goland|rubymine|phpstorm|clion|rider|android studio|sublime text|vim|nvim|neovim|emacs|cursor|zed|nova|eclipse|bbedit|textmate|fleet)\b/i,
    "coding",
  ],
  [
    /\b(?:vlc|iina|quicktime(?: player)?|mpv|infuse|plex|netflix|tv|youtube|twitch|prime video|movist)\b/i,
    "video",
  ],
  [/\b(?:spotify|music|podcasts|tidal|deezer|audible)\b/i, "music"],
  [
    /\b(?:preview|books|kindle|acrobat|adobe reader|pdf expert|skim|news|reeder|netnewswire|pocket|feedly|readwise|instapaper)\b/i,
    "reader",
  ],
  [
    /\b(?:word|pages|notion|obsidian|bear|notes|craft|onenote|evernote|confluence|quip|typora|ulysses|scrivener|excel|numbers|keynote|powerpoint|textedit)\b/i,
    "document",
  ],
  [/\b(?:finder|explorer|files|path finder|forklift)\b/i, "files"],
  [/\b(?:loginwindow|screensaverengine|dock|desktop|wallpaper)\b/i, "idle"],
];
const SITE_RULES: [RegExp, AppKind][] = [
  [/\b(?:youtube|netflix|vimeo|twitch|prime video|disney\+|hulu)\b/i, "video"],
  [/\b(?:gmail|outlook|inbox|yahoo mail|proton mail|fastmail)\b/i, "email"],
  [
    /\b(?:slack|microsoft teams|discord|whatsapp|messenger|telegram|google chat)\b/i,
    "chat",
  ],
  [/\bcalendar\b/i, "calendar"],
  [/\b(?:pull request|merge request|github|gitlab|bitbucket)\b/i, "code_host"],
  [/\b(?:jira|linear|asana|trello|todoist|clickup)\b/i, "tasks"],
  [/\b(?:google docs|google sheets|notion|confluence|dropbox paper|quip)\b/i, "document"],
];

/** The kind of screen a frame shows; a browser is refined by the site in its window title. */
export function classifyApp(appName: string, windowTitle: string): AppKind {
  const app = appName.trim();
  if (BROWSER_RE.test(app)) {
    for (const [re, kind] of SITE_RULES) if (re.test(windowTitle)) return kind;
    return "web";
  }
  for (const [re, kind] of APP_RULES) {
    if (!re.test(app)) continue;
    // A to-do list open in an editor is a document, not the user's code.
    if (kind === "coding" && /\.(?:md|markdown|txt|todo|org)\b/i.test(windowTitle)) {
      return "document";
    }
    return kind;
  }
  return app ? "other" : "idle";
}

/** A short, generic description of what the user is doing: never more than the app name. */
export interface Activity {
  /** For `context_summary`, e.g. "Reading a web page in Safari". */
  summary: string;
  /** For `current_activity`, e.g. "Reading". */
  activity: string;
}

function appLabel(appName: string): string {
  const app = appName.replace(/\s+/g, " ").trim().slice(0, 60);
  return app || "an unknown app";
}

function isIdle(frame: FrameInput, kind: AppKind): boolean {
  if (frame.ocrText.trim() !== "") return false;
  const title = frame.windowTitle.trim();
  if (kind === "idle") return true;
  return kind === "files" && (title === "" || /^(?:desktop|finder)$/i.test(title));
}

/** What the user is doing, from the app alone: safe to log, it quotes no screen text. */
export function describeActivity(frame: FrameInput): Activity {
  const kind = classifyApp(frame.appName, frame.windowTitle);
  if (isIdle(frame, kind)) return { summary: "Idle desktop", activity: "Idle" };
  const app = appLabel(frame.appName);
  switch (kind) {
    case "chat":
      return { summary: `Viewing a conversation in ${app}`, activity: `Chatting in ${app}` };
    case "email":
      return { summary: `Reading email in ${app}`, activity: "Reading email" };
    case "calendar":
      return { summary: `Checking the calendar in ${app}`, activity: "Checking the calendar" };
    case "code_host":
      return { summary: `Viewing a code repository in ${app}`, activity: "Reviewing code" };
    case "tasks":
      return { summary: `Managing tasks in ${app}`, activity: "Managing tasks" };
    case "document":
      return { summary: `Working on a document in ${app}`, activity: "Writing" };
    case "reader":
      return { summary: `Reading a document in ${app}`, activity: "Reading" };
    case "web":
      return { summary: `Reading a web page in ${app}`, activity: "Reading" };
    case "coding":
      return { summary: `Editing code in ${app}`, activity: "Coding" };
    case "terminal":
      return { summary: `Working in the terminal (${app})`, activity: "Using the terminal" };
    case "video":
      return { summary: `Watching a video in ${app}`, activity: "Watching a video" };
    case "music":
      return { summary: `Listening to music in ${app}`, activity: "Listening to music" };
    case "files":
      return { summary: `Browsing files in ${app}`, activity: "Browsing files" };
    case "idle":
      return { summary: "Idle desktop", activity: "Idle" };
    default:
      return { summary: `Using ${app}`, activity: `Using ${app}` };
  }
}

/** Screens where nothing is taken as a request: the user's own work, media, nothing at all. */
const BLIND_KINDS: ReadonlySet<AppKind> = new Set<AppKind>([
  "coding",
  "terminal",
  "video",
  "music",
  "idle",
]);
const CONVERSATIONAL: ReadonlySet<AppKind> = new Set<AppKind>(["chat", "email"]);
/** Screens the user reads rather than converses in: asks there are mostly prose. */
const READING: ReadonlySet<AppKind> = new Set<AppKind>(["web", "reader"]);

// ---------------------------------------------------------------------------------------
// Words

const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a an the and or but nor to for of on in at by with from about into onto up down out off " +
    "over under as is are was were be been being am do does did done have has had can could " +
    "would will shall should may might must i me my mine we us our you your yours u he him " +
    "his she her they them their it its this that these those there here what which who whom " +
    "when where why how if then than so just also please pls plz hey hi hello thanks thank " +
    "thx ok okay yes no not all any some get got need want like let know asap today tonight " +
    "tomorrow eod cob eow week day days next end via re fw fwd etc new really quick quickly " +
    "soon possible chance time again still very much more before after until till due"
  ).split(" ").concat(Object.keys(MONTHS), Object.keys(WEEKDAYS)),
);

/** Imperative verbs a title may start with; also the low-weight words of the overlap. */
const VERBS: ReadonlySet<string> = new Set(
  (
    "send review submit update fix call email reply respond schedule book pay sign approve " +
    "finish complete prepare write check confirm share upload download read look take make " +
    "get buy pick order renew cancel file fill test deploy merge push pull ship draft edit " +
    "proofread add remove delete create set organize plan arrange print scan post publish " +
    "present join attend rsvp meet ping message text forward follow reach contact ask tell " +
    "remind water clean move transfer install configure run investigate debug document " +
    "translate summarize collect gather find research verify validate try help handle sort " +
    "bring return drop grab give show mail lend prep outline finalize wrap close open start " +
    "launch release rebase resolve address answer register apply request claim reserve invite " +
    "reschedule log record track estimate assign clear feed walk charge replace repair change " +
    "rename migrate upgrade back archive export import circulate notify announce coordinate " +
    "sync discuss decide choose vote rate mark label audit inspect go come see do put keep " +
    "sort renew cover swap double-check sign-off work study practice learn"
  ).split(" "),
);
/** Verbs whose "me"/"us" is the recipient: "send me the report" → "Send report to Sarah". */
const GIVE_VERBS: ReadonlySet<string> = new Set(
  "send give email forward share pass show text mail lend bring get grab find ping message"
    .split(" "),
);
/** Words after "can you" that make a question rhetorical rather than a request. */
const RHETORICAL: ReadonlySet<string> = new Set(
  (
    "imagine believe guess spot feel hear see really actually ever even trust afford survive " +
    "beat handle relate name think picture be rather not tell hold stand blame"
  ).split(" "),
);
/** "please …" boilerplate that asks nothing of this user in particular. */
const PLEASE_NOISE: ReadonlySet<string> = new Set(
  (
    "note subscribe like share rate wait enter sign log login try enable allow accept consider " +
    "donate support leave follow click do read upgrade contact visit see find let feel be " +
    "refer disregard ignore keep stand hold remember reach don't dont select choose verify " +
    "tap scroll use turn continue proceed go"
  ).split(" "),
);
const WH_WORDS: ReadonlySet<string> = new Set(
  "how what why where when who whom which whether if than whatever whoever".split(" "),
);

/** Crude suffix stripping so "reports"/"report" and "booking"/"book" compare equal. */
function stem(word: string): string {
  if (/\d/.test(word) || word.length <= 3) return word;
  let s = word;
  if (s.endsWith("ies") && s.length > 4) s = s.slice(0, -3) + "y";
  else if (s.endsWith("ing") && s.length > 5) s = s.slice(0, -3);
  else if (s.endsWith("ed") && s.length > 4) s = s.slice(0, -2);
  else if (/(?:ch|sh|x|ss|z)es$/.test(s)) s = s.slice(0, -2);
  else if (s.endsWith("s") && !/(?:ss|us|is)$/.test(s)) s = s.slice(0, -1);
  if (s !== word && s.length > 3 && /([b-df-hj-np-tv-z])\1$/.test(s)) s = s.slice(0, -1);
  if (s.length > 4 && s.endsWith("e")) s = s.slice(0, -1);
  return s;
}

const GENERIC: ReadonlySet<string> = new Set(
  [
    ...VERBS,
    ..."task item thing stuff pr mr pull request meeting email message doc document file note question issue ticket change call invite invitation"
      .split(" "),
  ].map(stem),
);

// ---------------------------------------------------------------------------------------
// Deadline phrases, softeners and other words that do not belong in a title.

const MONTH_DAY_TEXT = String.raw`(?:${MONTH_ALT})\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?`;
const TIME = String.raw`\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)`;
const DATE_WORDS = [
  String.raw`day after tomorrow`,
  String.raw`(?:the\s+)?end\s+of\s+(?:the\s+)?(?:business\s+)?(?:day|week|month)`,
  String.raw`eod|eow|eom|cob|close of business`,
  String.raw`today|tonight|tomorrow|tmrw|tmr`,
  String.raw`this\s+(?:morning|afternoon|evening|week)`,
  String.raw`next\s+week`,
  String.raw`(?:next|this|coming)\s+(?:${WEEKDAY_ANY_ALT})`,
  String.raw`(?:${WEEKDAY_FULL_ALT})(?:,?\s+${MONTH_DAY_TEXT})?`,
  MONTH_DAY_TEXT,
  String.raw`\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:${MONTH_ALT})(?:,?\s+\d{4})?`,
  String.raw`\d{4}-\d{1,2}-\d{1,2}`,
  String.raw`\d{1,2}\/\d{1,2}(?:\/\d{2,4})?`,
  String.raw`in\s+${COUNT}\s+(?:days?|weeks?)`,
  String.raw`within\s+${COUNT}\s+(?:hours?|days?|weeks?)`,
];
const DEADLINE_PHRASE = new RegExp(
  String.raw`(?:\b(?:by|before|until|till|on|due|for|no later than)\s+)?\b(?:${
    DATE_WORDS.join("|")
  })\b(?:\s*,?\s*(?:at\s+|by\s+)?${TIME}\b)?`,
  "gi",
);
const TIME_PHRASE = new RegExp(String.raw`\b(?:by|at|before|until)\s+${TIME}`, "gi");
const POSSESSIVE_DAY = /\b(?:today|tomorrow|tonight)'s\s+/gi;
const SOFTENERS =
  /\b(?:asap|as soon as (?:possible|you can)|when(?:ever)? you (?:get|have) a (?:chance|sec|second|minute|moment)|when(?:ever)? you can|if you (?:can|could|get a chance|have (?:a |the )?(?:time|moment|sec|second|minute|chance))|if possible|no rush|no hurry|please|pls|plz|kindly|for me$|real quick|quickly|urgently|right away|immediately|at your earliest convenience)\b/gi;
const REASON_CUT =
  /\s*(?:[?!;]|(?<!\b(?:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|mr|mrs|ms|dr|st|vs|etc|e\.g|i\.e))\.(?=\s|$)|\s[-–—]\s|\b(?:so that|so|because|since|as soon as|in order to|and let me know|and lmk|lmk|and get back to|and report back|or it will|or else|otherwise|thanks|thank you|thx|cheers)\b)/i;

const HIGH_RE =
  /\b(?:urgent(?:ly)?|asap|as soon as possible|immediately|right away|critical|action (?:required|needed)|time[- ]sensitive|high priority|top priority|blocker|blocking|overdue|past due|final notice|today|tonight|eod|end of (?:the )?day|cob|close of business)\b|!!/i;
const STRONG_TITLE_RE =
  /\b(?:urgent|asap|action (?:required|needed)|critical|time[- ]sensitive|overdue|final notice)\b/i;
const LOW_RE =
  /\b(?:when(?:ever)? you (?:get|have) a (?:chance|sec|second|minute|moment)|no rush|no hurry|whenever|someday|some day|low priority|if you have (?:the )?time|nice to have|at some point|eventually|not urgent)\b/i;
const PRIORITY_LABEL =
  /\bpriority\s*[:=]\s*(highest|high|urgent|critical|blocker|p0|p1|low|lowest|p3|p4)\b/i;

const NOISE_RE =
  /\b(?:unsubscribe|subscribe|newsletter|sponsored|advertisement|promo code|coupon|shop now|buy now|order now|limited[- ]time|free shipping|sign up (?:now|today|for free)|hit the bell|cookies?)\b|\b\d+% off\b/i;

// ---------------------------------------------------------------------------------------
// Signals: one regex family per kind of request.

type Kind =
  | "todo"
  | "action"
  | "assignment"
  | "review"
  | "invitation"
  | "reminder"
  | "ask"
  | "deadline";

const SUBCATEGORY: Record<Kind, string> = {
  todo: "todo_item",
  action: "action_required",
  assignment: "assignment",
  review: "review_request",
  invitation: "invitation",
  reminder: "reminder",
  ask: "direct_request",
  deadline: "deadline",
};
const TAG: Record<Kind, string> = {
  todo: "todo",
  action: "action",
  assignment: "assigned",
  review: "review",
  invitation: "meeting",
  reminder: "reminder",
  ask: "request",
  deadline: "deadline",
};
const CONFIDENCE: Record<Kind, number> = {
  todo: 0.7,
  action: 0.75,
  assignment: 0.8,
  review: 0.8,
  invitation: 0.75,
  reminder: 0.65,
  ask: 0.7,
  deadline: 0.55,
};
const PHRASE: Record<Kind, string> = {
  todo: "an open to-do item",
  action: "an action-required notice",
  assignment: "a task assigned to the user",
  review: "a review request",
  invitation: "an invitation",
  reminder: "a reminder",
  ask: "a direct request",
  deadline: "a deadline",
};

const CHECKED_RE = /^\s*(?:[-*•]\s*)?(?:\[[xX✓✔]\]|[☑☒✅✓✔])/u;
const UNCHECKED_RE = /^\s*(?:[-*•]\s*)?(?:\[ ?\]|[☐□◻⬜○◯])\s*(.+)$/u;
const TODO_PREFIX_RE = /^\s*(?:[-*•]\s*)?(?:todo|to[- ]do)\s*[:\-–]\s*(.+)$/i;
const TODO_HEADING_RE =
  /^\s*#*\s*(?:to[- ]?dos?|todos?|tasks|action items|next steps|checklist)\s*:?\s*$/i;
const BULLET_RE = /^\s*(?:[-*•·–]|\d{1,2}[.)])\s+(.+)$/;

const REVIEW_OBJECT_RE =
  /\b(?:please|pls|can you|could you|would you|will you|can u)\s+(?:(?:please|also|just|quickly)\s+)*review\s+(.+)/i;
const REVIEW_REQUEST_RE =
  /\b(?:requested your review|requested a review from you|review requested|review request(?:ed)? (?:from|for) you|your review is requested|wants your review|needs your review|awaiting your review|added you as a reviewer)\b/i;
const ACTION_RE =
  /\b(?:action (?:required|needed)|response (?:required|needed)|approval (?:required|needed)|requires your (?:approval|action|attention|signature)|needs your (?:approval|signature|input|sign-?off)|awaiting your (?:approval|response|signature))\b/i;
const ASSIGNED_RE =
  /\bassigned\s+(?:you\b|(.{1,60}?)\s+to\s+you\b)|\b(?:has been|was|is|were)\s+assigned\s+to\s+you\b/i;
const INVITE_RE =
  /\binvitation:|\bupdated invitation\b|\binvited you\b|\byou(?:'ve| have) been invited\b|\byou(?:'re| are) invited\b|\brsvp\b|\bgoing\?|\baccept\s+(?:tentative(?:ly)?\s+|maybe\s+)?decline\b|\bwill you attend\b/i;
const REMINDER_RE = /\breminder\s*[:\-–]\s*(.+)/i;
const REMEMBER_RE =
  /\b(?:don't forget to|dont forget to|do not forget to|remember to|make sure (?:to|you)|be sure to)\s+(.+)/i;
const ASK_RE = /\b(?:can|could|would|will)\s+(?:you|u)\b/gi;
const NEED_RE =
  /\b(?:(?:i|we)\s+(?:really\s+)?need\s+(?:you|u)\s+to|(?:i'd|i would|we'd|we would)\s+like\s+(?:you|u)\s+to|(?:i|we)\s+want\s+(?:you|u)\s+to|need\s+(?:you|u)\s+to)\s+(.+)/i;
const PLEASE_RE = /\b(?:please|pls|plz|kindly)\s+([a-z][\w'-]*)/gi;
const DUE_RE = /\b(?:due|deadline)\b/i;
const FILLERS_RE =
  /^(?:\s*,?\s*(?:please|pls|plz|also|just|quickly|maybe|possibly|kindly|perhaps)\b)+/i;

interface Signal {
  kind: Kind;
  base: number;
  /** The clause the title is built from ("" when the kind builds its own title). */
  action: string;
  /** An ask whose object is the speaker ("send me …"). */
  personal?: boolean;
}

/** The text before `index` in its own clause is short and not a wh-question. */
function opensClause(s: string, index: number): boolean {
  const clause = s.slice(0, index).split(/[,;:!?.()[\]{}]|\s[-–—]\s|—|–/).pop() ?? "";
  const words = clause.trim().split(/\s+/).filter(Boolean);
  return words.length <= 3 && !words.some((w) => WH_WORDS.has(w.toLowerCase()));
}

/** Whether `index` lies inside quoted speech ("“Can you…?” he asked"). */
function inQuotes(s: string, index: number): boolean {
  const before = s.slice(0, index);
  const curly = (before.match(/“/g)?.length ?? 0) - (before.match(/”/g)?.length ?? 0);
  return curly > 0 || (before.match(/"/g)?.length ?? 0) % 2 === 1;
}

const PERSONAL_RE = /\b(?:me|us|my|our)\b/i;

function degerund(word: string): string {
  if (!word.endsWith("ing")) return word;
  const stemmed = word.slice(0, -3);
  if (VERBS.has(stemmed)) return stemmed;
  if (VERBS.has(stemmed + "e")) return stemmed + "e";
  if (VERBS.has(stemmed.slice(0, -1))) return stemmed.slice(0, -1);
  return word;
}

function askSignal(s: string): Signal | undefined {
  for (const m of s.matchAll(ASK_RE)) {
    const index = m.index ?? 0;
    if (!opensClause(s, index) || inQuotes(s, index)) continue;
    let after = s.slice(index + m[0].length).replace(FILLERS_RE, "").trim();
    if (/^(?:like|want|prefer)\s+to\b/i.test(after)) continue; // an offer, not an ask
    after = after.replace(/^be able to\s+/i, "");
    const mind = /^mind\s+([a-z]+)(.*)$/is.exec(after);
    if (mind) after = degerund((mind[1] ?? "").toLowerCase()) + (mind[2] ?? "");
    const first = (/^[a-z][\w'-]*/i.exec(after)?.[0] ?? "").toLowerCase();
    if (!first || RHETORICAL.has(first)) continue;
    return { kind: "ask", base: 2, action: after, personal: PERSONAL_RE.test(after) };
  }
  const need = NEED_RE.exec(s);
  if (need && !inQuotes(s, need.index)) {
    const action = need[1] ?? "";
    return { kind: "ask", base: 2, action, personal: PERSONAL_RE.test(action) };
  }
  for (const m of s.matchAll(PLEASE_RE)) {
    const index = m.index ?? 0;
    const verb = (m[1] ?? "").toLowerCase();
    if (PLEASE_NOISE.has(verb) || !opensClause(s, index) || inQuotes(s, index)) continue;
    const action = s.slice(index).replace(/^\S+\s+/, "");
    return { kind: "ask", base: 2, action, personal: PERSONAL_RE.test(action) };
  }
  // "Send it over please": an imperative that ends with a please.
  const plain = stripLead(s);
  const verb = (/^[a-z][\w'-]*/i.exec(plain)?.[0] ?? "").toLowerCase();
  if (VERBS.has(verb) && /\b(?:please|pls|plz)\W*$/i.test(plain)) {
    return { kind: "ask", base: 2, action: plain, personal: PERSONAL_RE.test(plain) };
  }
  return undefined;
}

/** Every signal of one sentence; the strongest decides its kind. */
function sentenceSignals(s: string, today: string): Signal[] {
  const signals: Signal[] = [];
  const reviewObject = REVIEW_OBJECT_RE.exec(s);
  if (reviewObject && !inQuotes(s, reviewObject.index)) {
    signals.push({ kind: "review", base: 3, action: `review ${reviewObject[1] ?? ""}` });
  } else if (REVIEW_REQUEST_RE.test(s)) {
    signals.push({ kind: "review", base: 3, action: "" });
  }
  const action = ACTION_RE.exec(s);
  if (action) {
    const rest = (s.slice(0, action.index) + " " + s.slice(action.index + action[0].length))
      .replace(/\[\s*\]|\(\s*\)/g, " ");
    signals.push({ kind: "action", base: 3, action: rest });
  }
  const assigned = ASSIGNED_RE.exec(s);
  if (assigned) {
    const rest = s.slice(assigned.index + assigned[0].length);
    signals.push({
      kind: "assignment",
      base: 3,
      action: [assigned[1] ?? "", rest].join(" ").trim(),
    });
  }
  if (INVITE_RE.test(s)) signals.push({ kind: "invitation", base: 3, action: "" });
  const reminder = REMINDER_RE.exec(s);
  if (reminder) signals.push({ kind: "reminder", base: 2.5, action: reminder[1] ?? "" });
  const remember = REMEMBER_RE.exec(s);
  if (remember && !inQuotes(s, remember.index)) {
    signals.push({ kind: "reminder", base: 1.5, action: remember[1] ?? "" });
  }
  const ask = askSignal(s);
  if (ask) signals.push(ask);
  if (DUE_RE.test(s) && resolveDeadline(s, today)) {
    signals.push({ kind: "deadline", base: 2, action: s });
  }
  return signals;
}

// ---------------------------------------------------------------------------------------
// Titles

const LABELS = new Set(
  (
    "subject to from cc bcc re fwd date when where note reminder todo action invitation " +
    "deadline due priority organizer status assignee reporter title description"
  ).split(" "),
);

/** Removes bullets, timestamps, "Name:" prefixes and greetings from the front of a line. */
function stripLead(text: string): string {
  let s = text.trim();
  s = s.replace(/^(?:[-*•·–]|\d{1,2}[.)])\s+/, "");
  s = s.replace(/^\[?\d{1,2}:\d{2}(?:\s?[ap]\.?m\.?)?\]?\s*/i, "");
  const name = /^([\p{L}@][\p{L}\d_.'-]*(?:\s+[\p{L}][\p{L}.'-]*){0,2})\s*:\s+(?=\S)/u.exec(s);
  if (name && !LABELS.has((name[1] ?? "").toLowerCase())) s = s.slice(name[0].length);
  for (let i = 0; i < 3; i++) {
    const before = s;
    s = s.replace(
      /^(?:hey|hi|hello|ok|okay|so|also|btw|and|but|quick one|quick q)\b[\s,!:-]*/i,
      "",
    );
    s = s.replace(/^@[\w.-]+[\s,:]*/, "");
    s = s.replace(/^[\p{Lu}][\p{L}'-]*,\s+/u, ""); // a vocative "Sam, …"
    if (s === before) break;
  }
  return s;
}

function tidy(text: string): string {
  let s = text.replace(/[^\p{L}\p{N}\s#@&'’:/.,()$%+!?-]/gu, " ").replace(/\s+/g, " ");
  s = s.replace(/\(\s*\)|\[\s*\]/g, " ").replace(/\s+/g, " ");
  for (let i = 0; i < 4; i++) {
    const before = s;
    s = s.replace(/^[\s,.;:!?\-–—"'“”()]+|[\s,.;:!?\-–—"'“”(]+$/g, "");
    s = s.replace(/^(?:to|and|then|also)\s+/i, "");
    s = s.replace(
      /\s+(?:is|are|was|were|be|to|for|and|or|the|a|an|by|on|at|of|with|due|before|until|from|in)$/i,
      "",
    );
    if (s === before) break;
  }
  return s.trim();
}

function capitalize(s: string): string {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

function lowerFirst(s: string): string {
  return /^[A-Z][a-z]/.test(s) ? s.charAt(0).toLowerCase() + s.slice(1) : s;
}

function firstWord(s: string): string {
  return (/^[a-z][\w'-]*/i.exec(s)?.[0] ?? "").toLowerCase();
}

function limitWords(s: string, max: number): string {
  const words = s.split(/\s+/).filter(Boolean);
  return words.slice(0, max).join(" ").replace(/[\s,:;(-]+$/, "");
}

/** Drops deadline phrases ("by Friday", "tomorrow's", "by 5pm") from a clause. */
function withoutDeadline(s: string): string {
  return s.replace(POSSESSIVE_DAY, "").replace(TIME_PHRASE, " ").replace(DEADLINE_PHRASE, " ");
}

interface TitleOptions {
  sender: string;
  /** Put "me"/"my" in the sender's name (asks only; a to-do's "my" is the user's own). */
  swapPronouns: boolean;
  /** Verb to prefix when the clause does not start with one ("Expense reports" → …). */
  verb?: string;
}

/** A concise imperative title from the clause of a request. */
function imperativeTitle(action: string, opts: TitleOptions): string {
  let s = stripLead(action).replace(/^(?:due(?: date)?|deadline|to-?do|reminder|note)\s*:\s*/i, "");
  s = s.split(REASON_CUT)[0] || s;
  s = tidy(s.replace(SOFTENERS, " ").replace(/\s+/g, " "));
  s = tidy(withoutDeadline(s));
  s = s.replace(/^(?:take|have) a (?:quick |closer )?look at\b/i, "review")
    .replace(/^look (?:into|over)\b/i, "review");
  const first = firstWord(s);
  if (first.endsWith("ing")) s = degerund(first) + s.slice(first.length);
  if (opts.swapPronouns) {
    const who = opts.sender;
    const give = /^(\S+)\s+(?:me|us)\s+(.+)$/i.exec(s);
    if (give && GIVE_VERBS.has((give[1] ?? "").toLowerCase())) {
      s = `${give[1]} ${give[2]}${who ? ` to ${who}` : ""}`;
    }
    s = s.replace(/\b(?:me|us)\b/gi, who || "them");
    s = s.replace(/\b(?:my|our)\b/gi, who ? `${who}'s` : "their");
  }
  if (VERBS.has(firstWord(s))) s = s.replace(/^(\S+)\s+(?:the|a|an)\s+/i, "$1 ");
  else if (opts.verb && s) s = `${opts.verb} ${lowerFirst(s)}`;
  return capitalize(tidy(limitWords(s, TITLE_WORDS)));
}

function lineText(lines: readonly string[], i: number): string {
  return lines[i] ?? "";
}

/** The OCR lines around `index`, nearest first, skipping blanks. */
function neighbours(lines: readonly string[], index: number, reach: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= reach; d++) {
    if (index - d >= 0 && lineText(lines, index - d)) out.push(index - d);
    if (index + d < lines.length && lineText(lines, index + d)) out.push(index + d);
  }
  return out;
}

const PR_REF_RE = /(?:^|\s|\()((?:#|!)\d{1,7})\b/;

/** The PR or MR name from a window title such as "Add limiter by sam · Pull Request #4 · …". */
function titleSubject(windowTitle: string): string {
  const head = windowTitle.split(/\s+[·|•]\s+|\s+[-–—]\s+/)[0] ?? "";
  const s = head.replace(/\s+by\s+\S+$/i, "").replace(/\s*\(?(?:#|!)\d+\)?/g, "").trim();
  if (
    !s ||
    /^(?:notifications|pull requests?|merge requests?|github|gitlab|inbox|calendar)$/i.test(s) ||
    /\b(?:pull|merge) requests?\b/i.test(s)
  ) {
    return "";
  }
  return s;
}

function reviewTitle(
  unit: Unit,
  lines: readonly string[],
  windowTitle: string,
): string {
  let ref = "";
  let name = "";
  const fromUnit = PR_REF_RE.exec(unit.text);
  const fromTitle = PR_REF_RE.exec(windowTitle);
  if (fromUnit) ref = fromUnit[1] ?? "";
  else if (fromTitle) ref = fromTitle[1] ?? "";
  if (!ref && unit.line >= 0) {
    for (const i of neighbours(lines, unit.line, 2)) {
      const line = lineText(lines, i);
      const m = PR_REF_RE.exec(line);
      if (!m) continue;
      ref = m[1] ?? "";
      name = tidy(line.slice((m.index ?? 0) + m[0].length));
      break;
    }
  }
  name = name || titleSubject(windowTitle);
  const mr = ref.startsWith("!") || /merge request|gitlab/i.test(windowTitle);
  const what = mr ? "MR" : "PR";
  const title = ref
    ? `Review ${what} ${ref}${name ? `: ${name}` : ""}`
    : name
    ? `Review ${name}`
    : `Review ${mr ? "merge" : "pull"} request`;
  return limitWords(title, TITLE_WORDS);
}

const DATE_LIKE_RE = new RegExp(
  String.raw`^(?:(?:${WEEKDAY_ANY_ALT}|${MONTH_ALT}|when|date|time|today|tomorrow)\b|\d)`,
  "i",
);

function invitationTitle(
  unit: Unit,
  lines: readonly string[],
  appName: string,
  windowTitle: string,
): string {
  const s = unit.text;
  const patterns = [
    /invitation:\s*(.+?)(?:\s+@\s+|\s+[-–—]\s+|\s+\(|$)/i,
    /invited (?:you )?to\s+(?:the\s+)?(.+?)(?:\s+(?:on|at|@|for)\s+|[,.!?(]|$)/i,
  ];
  let event = "";
  for (const re of patterns) {
    const m = re.exec(s);
    if (m?.[1]) {
      event = m[1];
      break;
    }
  }
  if (!event) {
    const t = /invitation:\s*(.+?)(?:\s+@\s+|\s+[-–—]\s+|$)/i.exec(windowTitle);
    if (t?.[1]) event = t[1];
  }
  if (!event && unit.line >= 0) {
    for (let i = unit.line - 1; i >= Math.max(0, unit.line - 3); i--) {
      const line = lineText(lines, i);
      if (line && !DATE_LIKE_RE.test(line) && !INVITE_RE.test(line)) {
        event = line;
        break;
      }
    }
  }
  if (!event) {
    const head = titleSubject(windowTitle);
    if (head && head.toLowerCase() !== appName.trim().toLowerCase()) event = head;
  }
  event = tidy(withoutDeadline(event));
  return limitWords(event ? `RSVP to ${event}` : "RSVP to invitation", TITLE_WORDS);
}

/** The first name of whoever wrote the line at `index`, when the screen shows it. */
function findSender(lines: readonly string[], index: number, frame: FrameInput): string {
  const first = (name: string) => {
    const word = (name.trim().split(/\s+/)[0] ?? "").replace(/^@/, "").replace(/[^\p{L}'-]/gu, "");
    return /^(?:me|you|i|we|today|yesterday)$/i.test(word) ? "" : capitalize(word);
  };
  if (index >= 0) {
    const own = lineText(lines, index).replace(/^\[?\d{1,2}:\d{2}(?:\s?[ap]\.?m\.?)?\]?\s*/i, "");
    const prefix = /^([\p{Lu}][\p{L}.'-]*(?:\s+[\p{Lu}][\p{L}.'-]*){0,2})\s*:\s+\S/u.exec(own);
    if (prefix && !LABELS.has((prefix[1] ?? "").toLowerCase())) return first(prefix[1] ?? "");
    for (let i = index - 1; i >= Math.max(0, index - 4); i--) {
      const line = lineText(lines, i);
      const header =
        /^([\p{L}@][\p{L}\d_.'-]*(?:\s+[\p{Lu}][\p{L}.'-]*){0,2})\s+(?:[-—–]\s+)?(?:\d{1,2}:\d{2}\s*(?:[ap]\.?m\.?)?|(?:today|yesterday) at\b.*)$/iu
          .exec(line);
      if (header) return first(header[1] ?? "");
    }
    for (let i = index - 1; i >= 0; i--) {
      const from = /^from:\s*([^<@\n]+?)\s*(?:<|$)/i.exec(lineText(lines, i));
      if (from) return first(from[1] ?? "");
    }
  }
  const dm = /^(.+?)\s*\(DM\)/i.exec(frame.windowTitle);
  if (dm) return first(dm[1] ?? "");
  if (
    /\b(?:messages|whatsapp|signal|telegram)\b/i.test(frame.appName) &&
    /^[\p{Lu}][\p{L}'-]*(?:\s+[\p{Lu}][\p{L}'-]*){0,2}$/u.test(frame.windowTitle.trim())
  ) {
    return first(frame.windowTitle);
  }
  return "";
}

// ---------------------------------------------------------------------------------------
// Overlap with existing tasks

/**
 * Words that name the same thing in office work, each group folded to its first word, so a
 * screen that says "deck" still matches a task that says "slides". General vocabulary only,
 * never a phrase of a particular screen.
 */
const SYNONYMS: ReadonlyMap<string, string> = new Map(
  [
    "slide deck presentation",
    "doc document",
    "email mail",
    "training course",
    "finish complete",
    "send share forward",
    "fix repair",
    "invoice bill",
    "review approve",
  ].flatMap((group) => {
    const [first, ...rest] = group.split(" ").map(stem);
    return [first!, ...rest].map((word) => [word, first!] as const);
  }),
);

function overlapTokens(text: string): string[] {
  const cleaned = withoutDeadline(text.toLowerCase().replace(/['’]s\b/g, ""));
  const out: string[] = [];
  for (const raw of cleaned.split(/[^\p{L}\p{N}]+/u)) {
    if (!raw || STOPWORDS.has(raw) || (raw.length < 2 && !/\d/.test(raw))) continue;
    const stemmed = stem(raw);
    const token = SYNONYMS.get(stemmed) ?? stemmed;
    if (!out.includes(token)) out.push(token);
  }
  return out;
}

/**
 * How strongly two task texts overlap, 0..1: the weighted share of the smaller word set
 * found in the other (overlap coefficient), after lowercasing, dropping stopwords and
 * dates, and stripping suffixes. Common verbs and generic nouns ("send", "review", "task")
 * weigh half. It is 0 unless the texts share a distinctive word and at least two words
 * (one if a side has only one), and 0 when both carry numbers or codes ("Q3", "#482") and
 * share none, so "Send Q3 report" never duplicates "Send Q4 report".
 */
export function taskOverlap(a: string, b: string): number {
  return tokenOverlap(overlapTokens(a), overlapTokens(b));
}

const tokenWeight = (t: string) => (GENERIC.has(t) ? 0.5 : 1);
const weightOf = (ts: readonly string[]) => ts.reduce((acc, t) => acc + tokenWeight(t), 0);

function tokenOverlap(left: readonly string[], right: readonly string[]): number {
  if (left.length === 0 || right.length === 0) return 0;
  const rightSet = new Set(right);
  const shared = left.filter((t) => rightSet.has(t));
  const numbersL = left.filter((t) => /\d/.test(t));
  const numbersR = right.filter((t) => /\d/.test(t));
  if (numbersL.length > 0 && numbersR.length > 0 && !numbersL.some((t) => rightSet.has(t))) {
    return 0;
  }
  if (!shared.some((t) => !GENERIC.has(t))) return 0;
  if (shared.length < Math.min(2, left.length, right.length)) return 0;
  return Math.min(1, weightOf(shared) / Math.min(weightOf(left), weightOf(right)));
}

/** An existing task a candidate duplicates. */
export interface Duplicate {
  taskId: number;
  status: "active" | "completed" | "deleted";
  description: string;
  score: number;
}

interface PoolTask extends Omit<Duplicate, "score"> {
  tokens: string[];
}

/** Search hits first, then the context's lists, each tokenised once. */
function taskPool(
  results: readonly ToolResultItem[],
  context: SessionContext | null | undefined,
): PoolTask[] {
  const entry = (taskId: number, status: Duplicate["status"], description: string) => ({
    taskId,
    status,
    description,
    tokens: overlapTokens(description.slice(0, 2_000)),
  });
  return [
    ...results.map((r) => entry(r.task_id, r.status, r.description)),
    ...(context?.active_tasks ?? []).map((t) => entry(t.task_id, "active", t.description)),
    ...(context?.completed_tasks ?? []).map((t) => entry(t.task_id, "completed", t.description)),
    ...(context?.deleted_tasks ?? []).map((t) => entry(t.task_id, "deleted", t.description)),
  ];
}

function bestDuplicate(text: string, pool: readonly PoolTask[]): Duplicate | undefined {
  const tokens = overlapTokens(text);
  let best: Duplicate | undefined;
  for (const { tokens: theirs, ...task } of pool) {
    const score = tokenOverlap(tokens, theirs);
    if (score >= OVERLAP_THRESHOLD && (!best || score > best.score)) best = { ...task, score };
  }
  return best;
}

/**
 * The existing task (search hit of any status, or any task of the session context) that
 * overlaps most with `text`, if it reaches {@link OVERLAP_THRESHOLD}; the first on ties.
 */
export function findDuplicate(
  text: string,
  results: readonly ToolResultItem[],
  context: SessionContext | null | undefined,
): Duplicate | undefined {
  return bestDuplicate(text, taskPool(results, context));
}

// ---------------------------------------------------------------------------------------
// Detection

interface Unit {
  /** The sentence or line, as seen. */
  text: string;
  /** The whole OCR line (for urgency words); the window title for title units. */
  line: number;
  fullLine: string;
  fromTitle: boolean;
  signal: Signal;
  score: number;
}

/** A task the screen asks for, with every field `extract_task` needs. */
export interface TaskCandidate {
  title: string;
  description: string;
  priority: Priority;
  tags: string[];
  deadline: string;
  confidence: number;
  category: string;
  subcategory: string;
  /** Keywords for `search_keywords`: names, nouns, numbers; at most 6 words. */
  query: string;
  /** The sentence it came from. */
  source: string;
  /** What was found, for the summary ("a direct request"). */
  found: string;
  /** How salient the source was; at least 2. */
  score: number;
}

function splitSentences(line: string): string[] {
  return line
    .split(/(?<=[a-z0-9)\]"”'][.!?])\s+(?=["“@]?[\p{Lu}@])/u)
    .map((s) => s.trim().slice(0, MAX_UNIT_CHARS))
    .filter(Boolean);
}

function scoreSignal(
  signal: Signal,
  text: string,
  kind: AppKind,
  today: string,
  fromTitle: boolean,
): number {
  let score = signal.base;
  const hasDeadline = resolveDeadline(text, today) !== "";
  if (hasDeadline && signal.kind !== "deadline") score += 1;
  if (HIGH_RE.test(text)) score += 0.5;
  if (signal.kind === "ask" && signal.personal) score += 0.5;
  if (CONVERSATIONAL.has(kind) && (signal.kind === "ask" || signal.kind === "reminder")) {
    score += 0.5;
  }
  if (READING.has(kind) || kind === "code_host") {
    // Prose asks its readers things; only an ask about "me"/"us" or with a date counts.
    if (signal.kind === "ask" && !signal.personal && !hasDeadline) return 0;
    // A repository page is read, but its review requests are meant for the user; its
    // checklists (PR templates, roadmaps) mostly are not.
    if (READING.has(kind) || signal.kind === "todo") score *= 0.6;
  }
  if (fromTitle) score *= 0.8;
  return score;
}

function collectUnits(frame: FrameInput, kind: AppKind, today: string): {
  units: Unit[];
  lines: string[];
} {
  const units: Unit[] = [];
  const clean = (s: string) => s.replace(/[’‘]/g, "'").replace(/\s+/g, " ").trim();
  const lines = frame.ocrText.slice(0, MAX_TEXT_CHARS).split(/\r\n|\r|\n/).slice(0, MAX_LINES)
    .map(clean);
  const windowTitle = clean(frame.windowTitle.slice(0, MAX_TITLE_CHARS));

  const addSentences = (text: string, line: number, fromTitle: boolean) => {
    for (const sentence of splitSentences(text)) {
      if (NOISE_RE.test(sentence)) continue;
      let best: Signal | undefined;
      for (const s of sentenceSignals(sentence, today)) if (!best || s.base > best.base) best = s;
      if (!best) continue;
      const score = scoreSignal(best, sentence, kind, today, fromTitle);
      units.push({ text: sentence, line, fullLine: text, fromTitle, signal: best, score });
    }
  };

  if (windowTitle) addSentences(windowTitle, -1, true);
  let inTodoBlock = false;
  lines.forEach((line, i) => {
    if (!line) {
      inTodoBlock = false;
      return;
    }
    if (TODO_HEADING_RE.test(line)) {
      inTodoBlock = true;
      return;
    }
    if (CHECKED_RE.test(line)) return;
    const item = UNCHECKED_RE.exec(line) ?? TODO_PREFIX_RE.exec(line);
    const bullet = inTodoBlock ? BULLET_RE.exec(line) : null;
    if (!bullet) inTodoBlock = false;
    const todo = item ?? bullet;
    if (todo) {
      const text = line.slice(0, MAX_UNIT_CHARS);
      if (NOISE_RE.test(text)) return;
      const signal: Signal = { kind: "todo", base: item ? 3 : 2.5, action: todo[1] ?? "" };
      const score = scoreSignal(signal, text, kind, today, false);
      units.push({ text, line: i, fullLine: line, fromTitle: false, signal, score });
      return;
    }
    addSentences(line, i, false);
  });
  return { units, lines };
}

function buildTitle(unit: Unit, lines: readonly string[], frame: FrameInput): string {
  const { kind, action } = unit.signal;
  switch (kind) {
    case "review":
      if (action) break;
      return reviewTitle(unit, lines, frame.windowTitle);
    case "invitation":
      return invitationTitle(unit, lines, frame.appName, frame.windowTitle);
    case "action":
    case "assignment": {
      let clause = tidy(withoutDeadline(action));
      if (clause.split(/\s+/).filter(Boolean).length < 2 && unit.line >= 0) {
        // "Priya assigned ENG-204 to you" / "Action required": the subject is on the next line.
        const next = neighbours(lines, unit.line, 1).find((i) => i > unit.line);
        const nextLine = next === undefined ? "" : lineText(lines, next);
        if (nextLine && !/^\S+:\s/.test(nextLine)) {
          clause = VERBS.has(firstWord(nextLine)) && clause
            ? `${nextLine} (${clause})`
            : `${clause} ${nextLine}`.trim();
        }
      }
      return imperativeTitle(clause, {
        sender: "",
        swapPronouns: false,
        verb: kind === "action" ? "Complete" : "Work on",
      });
    }
    default:
      break;
  }
  return imperativeTitle(action, {
    sender: kind === "ask" || kind === "review" ? findSender(lines, unit.line, frame) : "",
    swapPronouns: kind === "ask" || kind === "review",
    ...(kind === "deadline" ? { verb: "Complete" } : {}),
  });
}

const LABELLED_DATE_RE = /^(?:due(?: date)?|deadline|when|starts?|date due|by|expires?)\b\s*:?/i;

function findDeadline(
  unit: Unit,
  lines: readonly string[],
  windowTitle: string,
  today: string,
): string {
  const own = resolveDeadline(unit.text, today);
  if (own) return own;
  if (unit.line >= 0) {
    const anyDate = unit.signal.kind === "invitation" || unit.signal.kind === "action" ||
      unit.signal.kind === "assignment";
    for (const i of neighbours(lines, unit.line, 3)) {
      const line = lineText(lines, i);
      if (!anyDate && !LABELLED_DATE_RE.test(line)) continue;
      if (anyDate && line.length > 120) continue;
      const found = resolveDeadline(line, today);
      if (found) return found;
    }
  }
  if (unit.signal.kind === "invitation" || unit.signal.kind === "action") {
    return resolveDeadline(windowTitle, today);
  }
  return "";
}

function findPriority(
  unit: Unit,
  lines: readonly string[],
  windowTitle: string,
  deadline: string,
  today: string,
): Priority {
  const near = unit.line >= 0 ? neighbours(lines, unit.line, 3).map((i) => lineText(lines, i)) : [];
  const label = [unit.fullLine, ...near].map((l) => PRIORITY_LABEL.exec(l)?.[1]).find(Boolean)
    ?.toLowerCase();
  if (HIGH_RE.test(unit.fullLine) || STRONG_TITLE_RE.test(windowTitle)) return "high";
  if (label && /^(?:highest|high|urgent|critical|blocker|p0|p1)$/.test(label)) return "high";
  const due = parseIsoDay(deadline);
  const now = parseIsoDay(today);
  if (due !== undefined && now !== undefined && due - now <= 2 && due - now >= -60) return "high";
  if (LOW_RE.test(unit.fullLine) || label) return "low";
  return "medium";
}

function findCategory(kind: Kind, app: AppKind, unit: Unit, windowTitle: string): string {
  if (
    kind === "review" &&
    (app === "code_host" ||
      /\b(?:pull request|merge request|PR|MR|github|gitlab|bitbucket)\b|(?:^|\s)[#!]\d+/i.test(
        `${unit.text} ${windowTitle}`,
      ))
  ) {
    return "code_review";
  }
  if (kind === "invitation") return "calendar";
  if (kind === "todo") return "todo_list";
  switch (app) {
    case "chat":
      return "message";
    case "email":
      return "email";
    case "calendar":
      return "calendar";
    case "code_host":
      return "code_review";
    case "tasks":
      return "todo_list";
    case "document":
    case "reader":
      return "document";
    default:
      return "other";
  }
}

function words(text: string): string[] {
  return text.split(/\s+/).map((w) => w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ""))
    .filter(Boolean);
}

const LIGHT_VERBS: ReadonlySet<string> = new Set(
  "make do get take go come put keep let see look try sure ensure".split(" "),
);

/** Search keywords: names, nouns and numbers of the title, then of the source; ≤ 6 words. */
function searchQuery(title: string, source: string): string {
  const picked: string[] = [];
  const add = (text: string, skipVerbs: boolean) => {
    for (const [i, w] of words(text).entries()) {
      const lower = w.toLowerCase().replace(/['’]s$/, "");
      if (picked.length === 6) return;
      if (STOPWORDS.has(lower)) continue;
      if (skipVerbs && (LIGHT_VERBS.has(lower) || (i === 0 && VERBS.has(lower)))) continue;
      if (lower.length < 2 && !/\d/.test(lower)) continue;
      if (/^(?:rsvp|pr|mr)$/.test(lower)) continue;
      if (picked.some((p) => p.toLowerCase() === lower)) continue;
      picked.push(w.replace(/['’]s$/, ""));
    }
  };
  add(title, true);
  if (picked.length < 2) add(title, false);
  if (picked.length < 2) add(withoutDeadline(source), true);
  return picked.join(" ");
}

function makeTags(kind: Kind, title: string): string[] {
  const tags = [TAG[kind]];
  for (const w of words(title)) {
    const lower = w.toLowerCase();
    if (tags.length === 4) break;
    if (!/^[a-z0-9][a-z0-9-]*$/.test(lower) || lower.length < 2) continue;
    if (STOPWORDS.has(lower) || VERBS.has(lower) || tags.includes(lower)) continue;
    if (/^(?:rsvp|pr|mr)$/.test(lower)) continue;
    tags.push(lower);
  }
  return tags;
}

/**
 * The most salient task a frame asks of the user, or `undefined` when nothing is actionable.
 * Candidates are scored per sentence (and per to-do line); among those above the bar, the
 * highest wins, earliest first on ties, skipping ones that already match a task of `context`
 * when another candidate is left (so a to-do list yields its first new item).
 */
export function detectTask(
  frame: FrameInput,
  today: string,
  context?: SessionContext | null,
): TaskCandidate | undefined {
  const app = classifyApp(frame.appName, frame.windowTitle);
  if (BLIND_KINDS.has(app) || isIdle(frame, app)) return undefined;
  const { units, lines } = collectUnits(frame, app, today);
  const ranked = units
    .map((unit, order) => ({ unit, order }))
    .filter(({ unit }) => unit.score >= MIN_SCORE)
    .sort((a, b) => b.unit.score - a.unit.score || a.order - b.order);
  if (ranked.length === 0) return undefined;

  const windowTitle = frame.windowTitle.slice(0, MAX_TITLE_CHARS);
  const fallback = `Follow up on ${appLabel(frame.appName)} ${
    PHRASE[ranked[0]?.unit.signal.kind ?? "ask"].replace(/^an? /, "")
  }`;
  const build = (unit: Unit): TaskCandidate => {
    const kind = unit.signal.kind;
    const title = buildTitle(unit, lines, frame).slice(0, 200) || limitWords(fallback, 10);
    const deadline = findDeadline(unit, lines, windowTitle, today);
    let confidence = CONFIDENCE[kind];
    if (deadline) confidence += 0.1;
    if (CONVERSATIONAL.has(app) && kind === "ask") confidence += 0.05;
    if (READING.has(app)) confidence -= 0.15;
    confidence = Math.round(Math.min(0.95, Math.max(0.1, confidence)) * 100) / 100;
    const seen = windowTitle.trim() && windowTitle.trim() !== frame.appName.trim()
      ? `${appLabel(frame.appName)}: ${windowTitle.trim().slice(0, 80)}`
      : appLabel(frame.appName);
    const source = unit.text.trim().slice(0, 300);
    return {
      title,
      description: `${source} (seen in ${seen})`,
      priority: findPriority(unit, lines, windowTitle, deadline, today),
      tags: makeTags(kind, title),
      deadline,
      confidence,
      category: findCategory(kind, app, unit, windowTitle),
      subcategory: SUBCATEGORY[kind],
      query: searchQuery(title, unit.text),
      source,
      found: PHRASE[kind],
      score: unit.score,
    };
  };
  const candidates = ranked.map(({ unit }) => unit);
  const first = candidates[0];
  if (!first) return undefined;
  const known = taskPool([], context);
  for (const unit of candidates.slice(0, 20)) {
    const candidate = build(unit);
    if (!bestDuplicate(candidate.title, known)) return candidate;
  }
  return build(first);
}

// ---------------------------------------------------------------------------------------
// The model

/** Characters of a conversation the offline model "read", for a rough token count. */
function charsRead(conversation: Conversation): number {
  const { frame, context } = conversation.request;
  let chars = Math.min(frame.ocrText.length, MAX_TEXT_CHARS) + frame.windowTitle.length +
    frame.appName.length;
  for (const list of [context.active_tasks, context.completed_tasks, context.deleted_tasks]) {
    for (const task of list ?? []) chars += task.description.length + 16;
  }
  for (const turn of conversation.turns) {
    if (turn.role === "tool") chars += turn.output.length;
  }
  return chars;
}

function reply(call: FunctionCall, conversation: Conversation): ModelReply {
  return {
    functionCall: call,
    content: { role: "model", functionCall: { name: call.name, args: call.args } },
    usage: {
      inputTokens: 200 + Math.ceil(charsRead(conversation) / 4),
      outputTokens: 10 + Math.ceil(JSON.stringify(call.args).length / 4),
      costUsd: 0,
    },
  };
}

/**
 * A rule-based {@link Model}: no key, no network, no clock. It searches once by keyword when
 * the screen holds a task, then extracts or rejects it; otherwise it reports no task.
 */
export class OfflineModel implements Model {
  /** Shown in logs and metrics. */
  readonly name = "offline";

  /** Decides the next call from the conversation alone; rejects if `signal` has aborted. */
  generate(conversation: Conversation, signal: AbortSignal): Promise<ModelReply> {
    if (signal.aborted) return Promise.reject(signal.reason);
    try {
      return Promise.resolve(reply(this.#decide(conversation), conversation));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #decide(conversation: Conversation): FunctionCall {
    const { request, turns } = conversation;
    const activity = describeActivity(request.frame);
    const candidate = detectTask(request.frame, request.today, request.context);
    const summary = {
      context_summary: activity.summary,
      current_activity: activity.activity,
    };
    if (!candidate) return { name: "no_task_found", args: summary };

    const toolTurns = turns.filter((t): t is ToolTurn => t.role === "tool");
    if (toolTurns.length === 0) {
      return { name: "search_keywords", args: { query: candidate.query } };
    }
    // A failed search has no results: the context's task lists still count.
    const results = toolTurns.flatMap((t) => t.results);
    // The title is the task in a few words; the sentence it came from often names more of it
    // ("Can you approve the Q4 budget?" → "Approve it"), so both are compared.
    const duplicate = findDuplicate(candidate.title, results, request.context) ??
      findDuplicate(candidate.source, results, request.context);
    if (duplicate) {
      const described = duplicate.description.replace(/\s+/g, " ").trim().slice(0, 100);
      return {
        name: "reject_task",
        args: {
          reason: `Duplicates ${duplicate.status} task #${duplicate.taskId}: "${described}" ` +
            `(word overlap ${duplicate.score.toFixed(2)})`,
          context_summary: `${activity.summary}; the screen repeats an existing task.`,
          current_activity: activity.activity,
        },
      };
    }
    return {
      name: "extract_task",
      args: {
        title: candidate.title,
        description: candidate.description,
        priority: candidate.priority,
        tags: candidate.tags,
        source_app: request.frame.appName,
        inferred_deadline: candidate.deadline,
        confidence: candidate.confidence,
        source_category: candidate.category,
        source_subcategory: candidate.subcategory,
        relevance_score: 0,
        context_summary: `${activity.summary}; spotted ${candidate.found}: ${candidate.title}.`,
        current_activity: activity.activity,
      },
    };
  }
}
