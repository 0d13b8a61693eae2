/**
 * `JSON.parse` with bounded work, whatever the shape of the text.
 *
 * A bare `JSON.parse` of 16 MiB of `[{},{},…]` takes seconds and builds ~30× the text in
 * objects; nested `[[[[…]]]]` is worse. Before parsing, one linear pass over the text (strings
 * are skipped with `indexOf`, so a large base64 screenshot costs almost nothing) enforces:
 *
 * - **array caps**: an array holds at most its cap of elements (per path: the context lists
 *   and `results[]` have their own, every other array {@link DEFAULT_ARRAY_CAP}); the rest is
 *   cut from the text unparsed and counted;
 * - **depth**: containers nest at most {@link MAX_DEPTH} deep;
 * - **values**: at most {@link MAX_VALUES} JSON values are kept in all;
 * - **filler**: at most {@link MAX_WHITESPACE} characters of whitespace between tokens and
 *   {@link MAX_SCALAR_CHARS} characters per number or literal.
 *
 * Together these keep the scan cheaper per character than `JSON.parse` on every shape, and
 * what is parsed small.
 *
 * The scan checks JSON's grammar as it goes (and the contents of strings: short ones as they
 * are read, long ones natively when much text follows them), so broken JSON is refused about
 * where `JSON.parse` would stop; `JSON.parse` of the kept text has the last word. Inside a cut
 * region only brackets and strings are followed: a syntax error there goes unnoticed, which is
 * harmless, as that part is never parsed or looked at.
 *
 * @module
 */

/** Elements kept of an array whose path has no cap of its own. */
export const DEFAULT_ARRAY_CAP = 64;
/** Deepest nesting of objects and arrays accepted (protocol messages need 4). */
export const MAX_DEPTH = 32;
/** Most JSON values kept in one message (a full context of capped lists needs ~15 000). */
export const MAX_VALUES = 200_000;
/**
 * Most whitespace between tokens in one message. Clients send compact JSON; even a
 * pretty-printed full context has far less. Walking more would cost more than parsing it.
 */
export const MAX_WHITESPACE = 1024 * 1024;
/** Longest number or literal (a task id or a similarity needs ~25 characters). */
export const MAX_SCALAR_CHARS = 1000;

/**
 * Caps of arrays by their path from the root object: `"results"` for a root key,
 * `"session_context.active_tasks"` for a key of a root key's object.
 */
export type ArrayCaps = Readonly<Record<string, number>>;

/** The parsed value and what was cut from it. */
export interface BoundedParse {
  ok: true;
  value: unknown;
  /** Elements cut by path (capped paths only; other arrays are counted under `"*"`). */
  cut: Record<string, number>;
}

/** Why the text was refused, in words safe to send to the client. */
export interface BoundedRefusal {
  ok: false;
  message: string;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const SPACE = 32;
const TAB = 9;
const LF = 10;
const CR = 13;

/** Longest key read for path matching; longer keys match no cap. */
const MAX_KEY_CHARS = 64;

/** What the grammar allows next (JSON's, checked as the scan goes). */
const enum Want {
  Value,
  ValueOrClose,
  Key,
  KeyOrClose,
  Colon,
  CommaOrClose,
  End,
}

/** One open container of the scan. */
interface Frame {
  array: boolean;
  /** Commas seen at this level (elements = commas + 1 once one started). */
  commas: number;
  cap: number;
  /** Path of this container when it is at depth ≤ 2 of the root object, else "". */
  path: string;
  /** The key last read in this object (depth ≤ 2 only). */
  key: string;
  want: Want;
}

/**
 * Parses `text`, cutting arrays to their caps; refuses too deep, too many values or filler.
 * The grammar is checked as the scan goes, so broken JSON is refused about where `JSON.parse`
 * would stop (a long string's contents are left to `JSON.parse`).
 */
export function boundedParse(text: string, caps: ArrayCaps): BoundedParse | BoundedRefusal {
  const stack: Frame[] = [];
  let top: Frame | undefined;
  let rootWant = Want.Value;
  const cut: Record<string, number> = {};
  /** Kept text as slices, when anything was cut. */
  const pieces: string[] = [];
  let keptFrom = 0;
  /** Long root members left out of the parse, put back as slices afterwards. */
  const shared: Array<{ key: string; from: number; to: number }> = [];
  const backslashes = new Backslashes(text);
  let values = 0;
  const strings = new StringSkipper(text);
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = strings.end(i);
      if (end < 0) return notJson();
      const want = top ? top.want : rootWant;
      if (top && (want === Want.Key || want === Want.KeyOrClose)) {
        if (stack.length <= 2) top.key = keyAt(text, i, end);
        top.want = Want.Colon;
      } else if (want === Want.Value || want === Want.ValueOrClose) {
        if (++values > MAX_VALUES) return tooMany();
        if (
          top && stack.length === 1 && !top.array && end - i - 1 >= SHARED_STRING_CHARS &&
          top.key && backslashes.noneIn(i + 1, end)
        ) {
          // A long member of the root object (a screenshot): left out of the parse and taken
          // as a slice of the message, which shares its characters instead of copying them.
          pieces.push(text.slice(keptFrom, i + 1));
          keptFrom = end;
          shared.push({ key: top.key, from: i + 1, to: end });
        }
        if (top) top.want = Want.CommaOrClose;
        else rootWant = Want.End;
      } else return notJson();
      i = end + 1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const want = top ? top.want : rootWant;
      if (want !== Want.Value && want !== Want.ValueOrClose) return notJson();
      if (++values > MAX_VALUES) return tooMany();
      if (stack.length >= MAX_DEPTH) {
        return { ok: false, message: `Message nests deeper than ${MAX_DEPTH} levels` };
      }
      let path = "";
      if (top && stack.length <= 2 && !top.array && top.key) {
        path = top.path ? `${top.path}.${top.key}` : top.key;
      }
      const array = c === OPEN_BRACKET;
      top = {
        array,
        commas: 0,
        cap: array ? capOf(caps, path) : 0,
        path,
        key: "",
        want: array ? Want.ValueOrClose : Want.KeyOrClose,
      };
      stack.push(top);
      i++;
      continue;
    }
    if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (!top || top.array !== (c === CLOSE_BRACKET)) return notJson();
      const w = top.want;
      if (w !== Want.CommaOrClose && w !== (top.array ? Want.ValueOrClose : Want.KeyOrClose)) {
        return notJson();
      }
      stack.pop();
      top = stack[stack.length - 1];
      if (top) top.want = Want.CommaOrClose;
      else rootWant = Want.End;
      i++;
      continue;
    }
    if (c === COMMA) {
      if (!top || top.want !== Want.CommaOrClose) return notJson();
      if (top.array && top.commas + 1 >= top.cap) {
        // The cap is reached: everything up to this array's closing bracket is cut.
        const close = skipToClose(text, strings, i + 1);
        if (close.end === -2) return tooMuchWhitespace();
        if (close.end < 0) return notJson();
        const label = Object.hasOwn(caps, top.path) ? top.path : "*";
        cut[label] = (cut[label] ?? 0) + close.elements;
        pieces.push(text.slice(keptFrom, i));
        keptFrom = close.end;
        i = close.end;
        continue;
      }
      top.commas++;
      top.want = top.array ? Want.Value : Want.Key;
      i++;
      continue;
    }
    if (c === COLON) {
      if (!top || top.want !== Want.Colon) return notJson();
      top.want = Want.Value;
      i++;
      continue;
    }
    if (c === SPACE || c === LF || c === CR || c === TAB) {
      if (++strings.whitespace > MAX_WHITESPACE) return tooMuchWhitespace();
      i++;
      continue;
    }
    // A number, true, false or null: one value, walked to its end and checked.
    const want = top ? top.want : rootWant;
    if (want !== Want.Value && want !== Want.ValueOrClose) return notJson();
    if (++values > MAX_VALUES) return tooMany();
    const start = i;
    const stop = Math.min(n, i + MAX_SCALAR_CHARS);
    i++;
    while (i < stop && isScalarChar(text.charCodeAt(i))) i++;
    if (i === stop && i < n && isScalarChar(text.charCodeAt(i))) {
      return {
        ok: false,
        message: `Message has a number longer than ${MAX_SCALAR_CHARS} characters`,
      };
    }
    if (!isScalar(text, start, i)) return notJson();
    if (top) top.want = Want.CommaOrClose;
    else rootWant = Want.End;
  }
  if (top || rootWant !== Want.End) return notJson();
  let kept = text;
  if (pieces.length) {
    pieces.push(text.slice(keptFrom));
    kept = pieces.join("");
  }
  let value: unknown;
  try {
    value = JSON.parse(kept);
  } catch {
    return notJson();
  }
  if (shared.length && typeof value === "object" && value !== null) {
    const root = value as Record<string, unknown>;
    for (const { key, from, to } of shared) {
      if (root[key] === "") root[key] = text.slice(from, to);
    }
  }
  return { ok: true, value, cut };
}

/** Root-object strings at least this long are shared with the message, not copied. */
const SHARED_STRING_CHARS = 64 * 1024;

/**
 * Answers "is there a backslash in `text[from, to)`?" for ranges that only move forward,
 * reading the text once in all: the next backslash's position is kept between calls.
 */
class Backslashes {
  #text: string;
  /** The next backslash at or after the last `from`; -1 when there is none; -2 unknown. */
  #next = -2;

  constructor(text: string) {
    this.#text = text;
  }

  /** Whether `text[from, to)` holds no backslash (its JSON and its value are the same). */
  noneIn(from: number, to: number): boolean {
    if (this.#next === -2 || (this.#next >= 0 && this.#next < from)) {
      this.#next = this.#text.indexOf("\\", from);
    }
    return this.#next < 0 || this.#next >= to;
  }
}

/** The cap of an array at `path`: its own (never one inherited from `Object.prototype`). */
function capOf(caps: ArrayCaps, path: string): number {
  return Object.hasOwn(caps, path) ? caps[path]! : DEFAULT_ARRAY_CAP;
}

/** The key whose quotes are at `start` and `end`, unescaped; "" when too long to match a cap. */
function keyAt(text: string, start: number, end: number): string {
  if (end - start - 1 > MAX_KEY_CHARS) return "";
  const raw = text.slice(start + 1, end);
  if (!raw.includes("\\")) return raw;
  try {
    return JSON.parse(text.slice(start, end + 1));
  } catch {
    return "";
  }
}

/** Whether `text[start, end)` is `true`, `false`, `null` or a JSON number. */
function isScalar(text: string, start: number, end: number): boolean {
  const c = text.charCodeAt(start);
  if (c === 116) return end - start === 4 && text.startsWith("true", start);
  if (c === 102) return end - start === 5 && text.startsWith("false", start);
  if (c === 110) return end - start === 4 && text.startsWith("null", start);
  let i = start;
  if (text.charCodeAt(i) === 45) i++; // -
  if (text.charCodeAt(i) === 48) i++; // a leading 0 stands alone
  else if (isDigit(text.charCodeAt(i))) { while (isDigit(text.charCodeAt(i))) i++; }
  else return false;
  if (text.charCodeAt(i) === 46) { // .
    i++;
    if (!isDigit(text.charCodeAt(i))) return false;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  const e = text.charCodeAt(i);
  if (e === 101 || e === 69) { // e E
    i++;
    const sign = text.charCodeAt(i);
    if (sign === 43 || sign === 45) i++;
    if (!isDigit(text.charCodeAt(i))) return false;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  return i === end;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isScalarChar(c: number): boolean {
  return !(c === COMMA || c === CLOSE_BRACKET || c === CLOSE_BRACE || c === COLON ||
    c === SPACE || c === LF || c === CR || c === TAB || c === QUOTE || c === OPEN_BRACE ||
    c === OPEN_BRACKET);
}

/**
 * Finds the ends of strings: with `indexOf` (a screenshot's base64 costs one call), or
 * character by character once a string shows many escaped quotes, so that escape-dense
 * text stays as cheap per character as `JSON.parse` of it.
 */
class StringSkipper {
  #text: string;
  /** Whitespace between tokens seen so far, counted by every pass over the text. */
  whitespace = 0;

  constructor(text: string) {
    this.#text = text;
  }

  /**
   * Index of the quote that closes the string opening at `start`, or -1 when there is none or
   * the string is not valid JSON (a control character, an invalid escape). Short strings and
   * the walked part of escape-dense ones are checked as they are read; a long string near the
   * end of the text is left to `JSON.parse`.
   */
  end(start: number): number {
    const text = this.#text;
    let from = start + 1;
    // A quote is the end unless an odd number of backslashes precede it. Few candidates:
    // check each; many escaped quotes in a row: walk the rest of the string instead.
    for (let candidates = 0; candidates < 8; candidates++) {
      const q = text.indexOf('"', from);
      if (q < 0) return -1;
      let b = q - 1;
      while (b > start && text.charCodeAt(b) === BACKSLASH) b--;
      if ((q - 1 - b) % 2 === 0) {
        if (q - start - 1 <= CHECKED_STRING_CHARS) return checkString(text, start + 1, q) ? q : -1;
        // A long string is checked natively only when much text follows it (over 1 MiB, and
        // over half its own length): then a bad one stops the scan early, as it would stop
        // `JSON.parse`, and the check costs less than the walk it saves. A screenshot near
        // the end of its message is not read twice.
        const tail = text.length - q;
        if (tail <= UNCHECKED_TAIL_CHARS || tail < (q - start) / 2) return q;
        return BAD_STRING.test(text.slice(start + 1, q)) ? -1 : q;
      }
      from = q + 1;
    }
    // `from` follows an escaped quote, so it is outside any escape.
    const n = text.length;
    for (let i = from; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) return i;
      if (c < 32) return -1;
      if (c === BACKSLASH) {
        const skip = escapeLength(text, i);
        if (skip === 0) return -1;
        i += skip - 1;
      }
    }
    return -1;
  }
}

/** Strings at most this long have their contents checked during the scan. */
const CHECKED_STRING_CHARS = 256;
/** A longer string is checked when more than this much text follows it. */
const UNCHECKED_TAIL_CHARS = 1024 * 1024;
/**
 * A control character, or a backslash that starts an invalid escape. The backslash counted is
 * the first after an even run of them (`(?<!\\)(?:\\\\)*`): in `\\U` the second backslash
 * is escaped, not an escape.
 */
// deno-lint-ignore no-control-regex -- control characters are exactly what JSON strings forbid
const BAD_STRING = /[\x00-\x1f]|(?<!\\)(?:\\\\)*\\(?!["\\/bfnrt]|u[0-9a-fA-F]{4})/;

/** Whether `text[from, to)` is valid inside a JSON string. */
function checkString(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 32) return false;
    if (c === BACKSLASH) {
      const skip = escapeLength(text, i);
      if (skip === 0) return false;
      i += skip - 1;
    }
  }
  return true;
}

/** Length of the escape at `i` (a backslash): 2, 6 for `\uXXXX`, 0 when invalid. */
function escapeLength(text: string, i: number): number {
  const e = text.charCodeAt(i + 1);
  // " \ / b f n r t
  if (
    e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 ||
    e === 116
  ) return 2;
  if (e !== 117) return 0; // u
  for (let k = 2; k < 6; k++) {
    const h = text.charCodeAt(i + k);
    if (!((h >= 48 && h <= 57) || (h >= 65 && h <= 70) || (h >= 97 && h <= 102))) return 0;
  }
  return 6;
}

/**
 * From just after a comma inside an array, the index of that array's closing bracket (-1 when
 * there is none, -2 when the whitespace budget ran out) and how many elements lie in between. Nothing is counted or kept: strings are skipped,
 * brackets balanced.
 */
function skipToClose(
  text: string,
  strings: StringSkipper,
  from: number,
): { end: number; elements: number } {
  let depth = 0;
  let elements = 1;
  const n = text.length;
  for (let i = from; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = strings.end(i);
      if (end < 0) return { end: -1, elements };
      i = end;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) depth++;
    else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      if (depth === 0) return { end: i, elements };
      depth--;
    } else if (c === COMMA && depth === 0) elements++;
    else if (c <= 32 && ++strings.whitespace > MAX_WHITESPACE) return { end: -2, elements };
  }
  return { end: -1, elements };
}

function notJson(): BoundedRefusal {
  return { ok: false, message: "Message is not valid JSON" };
}

function tooMuchWhitespace(): BoundedRefusal {
  return { ok: false, message: `Message has more than ${MAX_WHITESPACE} characters of whitespace` };
}

function tooMany(): BoundedRefusal {
  return { ok: false, message: `Message has more than ${MAX_VALUES} JSON values` };
}
