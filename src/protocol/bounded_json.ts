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
 * The scan does not validate JSON; `JSON.parse` of the kept text does. A syntax error inside a
 * cut region goes unnoticed, which is harmless: that part is never looked at.
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

/** Longest key read for path matching; longer keys match no cap. */
const MAX_KEY_CHARS = 64;

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
  /** In an object: whether the next string is a key. */
  expectKey: boolean;
}

/** Parses `text`, cutting arrays to their caps; refuses too deep or too many values. */
export function boundedParse(text: string, caps: ArrayCaps): BoundedParse | BoundedRefusal {
  const stack: Frame[] = [];
  const cut: Record<string, number> = {};
  /** Kept text as slices, when anything was cut. */
  const pieces: string[] = [];
  let keptFrom = 0;
  let values = 0;
  const strings = new StringSkipper(text);
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = strings.end(i);
      if (end < 0) return notJson();
      const top = stack[stack.length - 1];
      if (top && !top.array && top.expectKey) {
        if (stack.length <= 2) {
          top.key = end - i - 1 <= MAX_KEY_CHARS ? text.slice(i + 1, end) : "";
        }
      } else if (++values > MAX_VALUES) return tooMany();
      i = end + 1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++values > MAX_VALUES) return tooMany();
      if (stack.length >= MAX_DEPTH) {
        return { ok: false, message: `Message nests deeper than ${MAX_DEPTH} levels` };
      }
      const parent = stack[stack.length - 1];
      let path = "";
      if (parent === undefined) path = "";
      else if (stack.length <= 2 && !parent.array && parent.key) {
        path = parent.path ? `${parent.path}.${parent.key}` : parent.key;
      }
      const array = c === OPEN_BRACKET;
      stack.push({
        array,
        commas: 0,
        cap: array ? caps[path] ?? DEFAULT_ARRAY_CAP : 0,
        path,
        key: "",
        expectKey: !array,
      });
      i++;
      continue;
    }
    if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
      i++;
      continue;
    }
    if (c === COMMA) {
      const top = stack[stack.length - 1];
      if (top?.array && top.commas + 1 >= top.cap) {
        // The cap is reached: everything up to this array's closing bracket is cut.
        const close = skipToClose(text, strings, i + 1);
        if (close.end === -2) return tooMuchWhitespace();
        if (close.end < 0) return notJson();
        const label = caps[top.path] !== undefined ? top.path : "*";
        cut[label] = (cut[label] ?? 0) + close.elements;
        pieces.push(text.slice(keptFrom, i));
        keptFrom = close.end;
        i = close.end;
        continue;
      }
      if (top) {
        top.commas++;
        if (!top.array) top.expectKey = true;
      }
      i++;
      continue;
    }
    if (c === COLON) {
      const top = stack[stack.length - 1];
      if (top) top.expectKey = false;
      i++;
      continue;
    }
    if (c <= 32) {
      if (++strings.whitespace > MAX_WHITESPACE) return tooMuchWhitespace();
      i++;
      continue;
    }
    // A number, true, false or null: one value, walked to its end.
    if (++values > MAX_VALUES) return tooMany();
    const stop = Math.min(n, i + MAX_SCALAR_CHARS);
    i++;
    while (i < stop && isScalarChar(text.charCodeAt(i))) i++;
    if (i === stop && i < n && isScalarChar(text.charCodeAt(i))) {
      return {
        ok: false,
        message: `Message has a number longer than ${MAX_SCALAR_CHARS} characters`,
      };
    }
  }
  let kept = text;
  if (pieces.length) {
    pieces.push(text.slice(keptFrom));
    kept = pieces.join("");
  }
  try {
    return { ok: true, value: JSON.parse(kept), cut };
  } catch {
    return notJson();
  }
}

function isScalarChar(c: number): boolean {
  return !(c === COMMA || c === CLOSE_BRACKET || c === CLOSE_BRACE || c === COLON || c <= 32 ||
    c === QUOTE || c === OPEN_BRACE || c === OPEN_BRACKET);
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

  /** Index of the quote that closes the string opening at `start`, or -1. */
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
      if ((q - 1 - b) % 2 === 0) return q;
      from = q + 1;
    }
    // `from` follows an escaped quote, so it is outside any escape.
    const n = text.length;
    for (let i = from; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) return i;
    }
    return -1;
  }
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
