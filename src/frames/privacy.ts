/**
 * The privacy guard (README "Privacy guard"): what reaches a model never holds a secret.
 *
 * Two parts, both run where a frame enters the analysis, before any model (the offline one
 * included) sees it:
 *
 * - **Skipping**: a frame of a sensitive app or window (`PRIVACY_SKIP_APPS`,
 *   `PRIVACY_SKIP_TITLES`: case-insensitive globs) is never analysed; it ends at once in
 *   `no_task_found` with `usage.skipped: "privacy"`.
 * - **Redaction**: the window title and the OCR text pass through {@link redact}, which
 *   replaces each finding with a typed placeholder (`[redacted:card]`). When anything was
 *   redacted the screenshot is withheld too: the image would show what the text hid.
 *
 * The detector is hand-written (no Deno-friendly library fits: gitleaks and friends are Go,
 * the npm ones pull in large rule engines); its rule shapes follow gitleaks'. Numbers are
 * checked (Luhn for cards, mod 97 for IBANs, the invalid SSN ranges), after undoing common
 * OCR confusions (O/0, l/1/I, stray spaces). Findings are never kept, logged or counted by
 * content: only the count per kind leaves this module.
 *
 * @module
 */
import { emptyUsage } from "../analysis/analyze_frame.ts";
import type { FrameInput } from "../analysis/model.ts";
import type { AnalysisOutcome } from "../protocol/messages.ts";

/** The kinds of finding, each with its placeholder `[redacted:KIND]`. */
export const REDACTION_KINDS = [
  "private_key",
  "jwt",
  "api_key",
  "password",
  "iban",
  "card",
  "ssn",
  "email",
  "phone",
] as const;
/** A kind of finding. */
export type RedactionKind = (typeof REDACTION_KINDS)[number];
/** Findings per kind (only kinds found). */
export type RedactionCounts = Partial<Record<RedactionKind, number>>;

/** Options of {@link redact}. */
export interface RedactOptions {
  /** Also redact e-mail addresses and phone numbers (`PRIVACY_REDACT_CONTACTS`). */
  contacts?: boolean;
}

/** The text with its findings replaced, and how many of each kind. */
export interface Redacted {
  text: string;
  counts: RedactionCounts;
}

const placeholder = (kind: RedactionKind): string => `[redacted:${kind}]`;

// ---------------------------------------------------------------------------------------------
// Rules

const PRIVATE_KEY =
  /-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|$)/g;

const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}={0,2}/g;

/** Known key shapes (gitleaks' rules, simplified). */
const API_KEYS: RegExp[] = [
  // AWS access key ids.
  /(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])/g,
  // Google API keys.
  /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/g,
  // GitHub tokens.
  /(?<![A-Za-z0-9_])(?:ghp|gho|ghu|ghs|ghr)_[0-9A-Za-z]{36,255}(?![A-Za-z0-9_])/g,
  /(?<![A-Za-z0-9_])github_pat_[0-9A-Za-z_]{22,255}/g,
  // Slack tokens.
  /(?<![A-Za-z0-9])xox[abprs]-[0-9A-Za-z-]{10,250}/g,
  // Stripe keys.
  /(?<![A-Za-z0-9_])(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,247}(?![A-Za-z0-9])/g,
  // Anthropic, then OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-).
  /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}/g,
  /(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g,
];

/** A high-entropy value after a key label: `api_key=…`, `token: …`, `client_secret "…"`. */
const LABELLED_KEY =
  /\b((?:api|access|auth|secret|client|private)?[_-]?(?:api[_-]?key|apikey|key|token|secret))(["']?\s*[:=]\s*["']?)([A-Za-z0-9_\-+/=.]{16,})/gi;

/** A password after its label; the value runs to the next space. */
const PASSWORD =
  /\b(password|passwd|passwort|pwd|passcode|passphrase|pass code)(["']?[ \t]*[:=][ \t]*["']?)([^\s"']{1,128})/gi;

const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;

const PHONE =
  /(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w-])/g;

/** Characters OCR reads for digits, and the digit meant. */
const DIGIT_LIKE: Record<string, string> = {
  O: "0",
  o: "0",
  D: "0",
  I: "1",
  l: "1",
  "|": "1",
  i: "1",
  S: "5",
  B: "8",
};

/** Digits of `text` with OCR look-alikes mapped; undefined when something else is there. */
function digitsOf(text: string): string | undefined {
  let out = "";
  for (const ch of text) {
    if (ch >= "0" && ch <= "9") out += ch;
    else if (ch === " " || ch === "-") continue;
    else if (DIGIT_LIKE[ch]) out += DIGIT_LIKE[ch];
    else return undefined;
  }
  return out;
}

/** Count of real digits in `text`. */
function realDigits(text: string): number {
  let n = 0;
  for (const ch of text) if (ch >= "0" && ch <= "9") n++;
  return n;
}

/** Whether `digits` passes the Luhn check. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Whether a Luhn-valid number has a card network's prefix and length. */
function cardShaped(d: string): boolean {
  const n = d.length;
  if (d[0] === "4") return n === 13 || n === 16 || n === 19;
  if (/^3[47]/.test(d)) return n === 15;
  if (/^3(?:0[0-5]|[689])/.test(d)) return n >= 14 && n <= 19;
  if (/^35(?:2[89]|[3-8])/.test(d)) return n >= 16 && n <= 19;
  if (/^5[1-5]/.test(d)) return n === 16;
  if (/^2(?:2[2-9]|[3-6]|7[01]|720)/.test(d)) return n === 16;
  if (/^6(?:011|4[4-9]|5|2)/.test(d)) return n >= 16 && n <= 19;
  return false;
}

/**
 * Runs of digit-like groups separated by one space or dash: the card candidates. Letters
 * OCR mistakes for digits are allowed inside, but a group must hold a real digit.
 */
const NUMBER_RUN =
  /(?<![A-Za-z0-9])[0-9OolI|]{1,19}(?:[ -]{1,2}[0-9OolI|]{1,19}){0,7}(?![A-Za-z0-9])/g;

function redactCards(text: string): { text: string; count: number } {
  let count = 0;
  const out = text.replace(NUMBER_RUN, (run) => {
    if (realDigits(run) < 10) return run;
    // Groups and where each starts, so a card inside a longer run is found too.
    const groups = run.split(/([ -]{1,2})/);
    const tokens: string[] = [];
    for (let i = 0; i < groups.length; i += 2) tokens.push(groups[i]!);
    const found: Array<[number, number]> = [];
    let i = 0;
    while (i < tokens.length) {
      let matched = -1;
      let digits = "";
      for (let j = i; j < tokens.length; j++) {
        const d = digitsOf(tokens[j]!);
        if (d === undefined) break;
        digits += d;
        if (digits.length > 19) break;
        if (digits.length >= 13 && luhnValid(digits) && cardShaped(digits)) matched = j;
      }
      if (matched >= 0) {
        found.push([i, matched]);
        i = matched + 1;
      } else i++;
    }
    if (!found.length) return run;
    count += found.length;
    const parts: string[] = [];
    let t = 0;
    for (const [from, to] of found) {
      for (; t < from; t++) parts.push(tokens[t]!, groups[2 * t + 1] ?? "");
      parts.push(placeholder("card"), groups[2 * to + 1] ?? "");
      t = to + 1;
    }
    for (; t < tokens.length; t++) parts.push(tokens[t]!, groups[2 * t + 1] ?? "");
    return parts.join("");
  });
  return { text: out, count };
}

/** IBAN lengths by country (the SWIFT registry's common entries). */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MR: 27,
  MT: 31,
  MU: 30,
  NL: 18,
  NO: 15,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  SA: 24,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  TN: 24,
  TR: 26,
  UA: 29,
  VG: 24,
  XK: 20,
}; // deno-fmt-ignore

/** Whether an IBAN (upper case, no spaces) passes mod 97. */
export function ibanValid(iban: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(iban)) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (const ch of moved) {
    const code = ch.charCodeAt(0);
    const value = code <= 57 ? String(code - 48) : String(code - 55);
    for (const d of value) rest = (rest * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rest === 1;
}

const IBAN_CANDIDATE =
  /(?<![A-Za-z0-9])([A-Z]{2})[ ]?([0-9OIl]{2})((?:[ ]{0,2}[A-Za-z0-9]){10,32})/g;

function redactIbans(text: string): { text: string; count: number } {
  let count = 0;
  const out = text.replace(
    IBAN_CANDIDATE,
    (match, country: string, check: string, rest: string) => {
      const length = IBAN_LENGTHS[country];
      if (!length) return match;
      const checkDigits = digitsOf(check);
      if (!checkDigits) return match;
      // The BBAN's first characters, up to the country's length, and how far they reach.
      const want = length - 4;
      let bban = "";
      let used = 0;
      for (; used < rest.length && bban.length < want; used++) {
        const ch = rest[used]!;
        if (ch !== " ") bban += ch;
      }
      if (bban.length < want) return match;
      // The IBAN must end there: not in the middle of a longer word.
      if (/[A-Za-z0-9]/.test(rest[used] ?? "")) return match;
      const plain = bban.toUpperCase();
      // OCR may read 0 as O and 1 as I or l; bank codes may hold letters, mostly in front.
      const fix = (text: string) => text.replace(/[OIL]/g, (c) => (c === "O" ? "0" : "1"));
      const variants = [plain, fix(plain), plain.slice(0, 4) + fix(plain.slice(4))];
      if (!variants.some((v) => ibanValid(country + checkDigits + v))) return match;
      count++;
      return placeholder("iban") + rest.slice(used);
    },
  );
  return { text: out, count };
}

const SSN = /(?<![A-Za-z0-9-])([0-9OlI]{3})([- ])([0-9OlI]{2})\2([0-9OlI]{4})(?![A-Za-z0-9-])/g;

function redactSsns(text: string): { text: string; count: number } {
  let count = 0;
  const out = text.replace(SSN, (match, a: string, _sep: string, g: string, s: string) => {
    const area = digitsOf(a);
    const group = digitsOf(g);
    const serial = digitsOf(s);
    if (!area || !group || !serial) return match;
    if (realDigits(match) < 7) return match;
    if (area === "000" || area === "666" || area[0] === "9") return match;
    if (group === "00" || serial === "0000") return match;
    count++;
    return placeholder("ssn");
  });
  return { text: out, count };
}

/** Shannon entropy of `text`, bits per character. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Whether a labelled value looks like a secret rather than a word or a number. */
function secretLike(value: string): boolean {
  if (value.startsWith("[redacted:")) return false;
  return /[0-9]/.test(value) && /[A-Za-z]/.test(value) && entropy(value) >= 3.5;
}

/** Replaces matches of `re` with the kind's placeholder. */
function replaceAll(
  text: string,
  re: RegExp,
  kind: RedactionKind,
  counts: RedactionCounts,
): string {
  return text.replace(re, () => {
    counts[kind] = (counts[kind] ?? 0) + 1;
    return placeholder(kind);
  });
}

function add(counts: RedactionCounts, kind: RedactionKind, n: number): void {
  if (n > 0) counts[kind] = (counts[kind] ?? 0) + n;
}

/** `text` with every finding replaced by its placeholder, and the counts per kind. */
export function redact(text: string, options: RedactOptions = {}): Redacted {
  const counts: RedactionCounts = {};
  if (!text) return { text, counts };
  let out = replaceAll(text, PRIVATE_KEY, "private_key", counts);
  out = replaceAll(out, JWT, "jwt", counts);
  for (const re of API_KEYS) out = replaceAll(out, re, "api_key", counts);
  out = out.replace(LABELLED_KEY, (match, label: string, sep: string, value: string) => {
    if (!secretLike(value)) return match;
    add(counts, "api_key", 1);
    return label + sep + placeholder("api_key");
  });
  out = out.replace(PASSWORD, (match, label: string, sep: string, value: string) => {
    if (value.startsWith("[redacted:")) return match;
    add(counts, "password", 1);
    return label + sep + placeholder("password");
  });
  if (options.contacts) out = replaceAll(out, EMAIL, "email", counts);
  const ibans = redactIbans(out);
  out = ibans.text;
  add(counts, "iban", ibans.count);
  const cards = redactCards(out);
  out = cards.text;
  add(counts, "card", cards.count);
  const ssns = redactSsns(out);
  out = ssns.text;
  add(counts, "ssn", ssns.count);
  if (options.contacts) {
    out = out.replace(PHONE, (match) => {
      const digits = realDigits(match);
      if (digits < 7 || digits > 15) return match;
      add(counts, "phone", 1);
      return placeholder("phone");
    });
  }
  return { text: out, counts };
}

// ---------------------------------------------------------------------------------------------
// Skipping

/** Apps skipped when `PRIVACY_SKIP_APPS` is unset: password managers, banking, health. */
export const DEFAULT_SKIP_APPS: readonly string[] = [
  "1Password*",
  "Bitwarden*",
  "LastPass*",
  "KeePass*",
  "Dashlane*",
  "Keychain Access",
  "Passwords",
  "Enpass*",
  "NordPass*",
  "Proton Pass*",
  "*Authenticator*",
  "*Banking*",
  "Health",
  "MyChart*",
];

/** Window titles skipped when `PRIVACY_SKIP_TITLES` is unset: private browser windows. */
export const DEFAULT_SKIP_TITLES: readonly string[] = [
  "*Private Browsing*",
  "*Incognito*",
  "*InPrivate*",
  "*Private Window*",
];

/**
 * A comma-separated glob list: unset gives `defaults`, an empty value none (the skip off).
 */
export function parseGlobList(
  value: string | undefined,
  defaults: readonly string[],
): string[] {
  if (value === undefined) return [...defaults];
  return value.split(",").map((g) => g.trim()).filter(Boolean);
}

/** A case-insensitive whole-string matcher of a glob (`*` any run, `?` one character). */
export function globMatcher(glob: string): RegExp {
  const source = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(
    /\?/g,
    ".",
  );
  return new RegExp(`^${source}$`, "is");
}

/** Options of {@link PrivacyGuard}. */
export interface PrivacyOptions {
  /** App-name globs never analysed. */
  skipApps: readonly string[];
  /** Window-title globs never analysed. */
  skipTitles: readonly string[];
  /** Also redact e-mail addresses and phone numbers. */
  redactContacts: boolean;
}

/** One frame's pass through the guard. */
export type PrivacyCheck =
  | { skipped: AnalysisOutcome }
  | {
    skipped?: undefined;
    /** Findings per kind in title and OCR text; empty when none. */
    counts: RedactionCounts;
    /** Whether the screenshot was withheld because text was redacted. */
    imageWithheld: boolean;
  };

/** The note appended to `context_summary` when the screenshot was withheld. */
export const IMAGE_WITHHELD_NOTE = " (screenshot withheld: sensitive text redacted)";

/** The stage a server keeps (stateless): skips sensitive frames, redacts the rest in place. */
export class PrivacyGuard {
  #apps: RegExp[];
  #titles: RegExp[];
  #contacts: boolean;

  constructor(options: PrivacyOptions) {
    this.#apps = options.skipApps.map(globMatcher);
    this.#titles = options.skipTitles.map(globMatcher);
    this.#contacts = options.redactContacts;
  }

  /** Whether a frame of this app and window is never analysed. */
  skips(appName: string, windowTitle: string): boolean {
    const app = appName.trim();
    const title = windowTitle.trim();
    return (app !== "" && this.#apps.some((re) => re.test(app))) ||
      (title !== "" && this.#titles.some((re) => re.test(title)));
  }

  /**
   * Checks `frame` and, unless it is skipped, redacts its title and OCR text in place and
   * drops its screenshot when anything was found.
   */
  check(frame: FrameInput): PrivacyCheck {
    if (this.skips(frame.appName, frame.windowTitle)) {
      delete frame.jpegBase64;
      return {
        skipped: {
          type: "analysis_outcome",
          outcome_kind: "no_task_found",
          frame_id: frame.frameId,
          context_summary: "A private app or window: not analysed",
          current_activity: "",
          usage: { ...emptyUsage(), skipped: "privacy" },
        },
      };
    }
    const options = { contacts: this.#contacts };
    const title = redact(frame.windowTitle, options);
    const ocr = redact(frame.ocrText, options);
    const counts: RedactionCounts = { ...title.counts };
    for (const [kind, n] of Object.entries(ocr.counts) as Array<[RedactionKind, number]>) {
      counts[kind] = (counts[kind] ?? 0) + n;
    }
    frame.windowTitle = title.text;
    frame.ocrText = ocr.text;
    const found = Object.keys(counts).length > 0;
    const imageWithheld = found && frame.jpegBase64 !== undefined;
    if (found) delete frame.jpegBase64;
    return { counts, imageWithheld };
  }
}
