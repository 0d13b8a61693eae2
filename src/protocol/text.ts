/**
 * Cutting text without breaking it: a string cut between the two halves of a surrogate pair
 * holds a lone surrogate, which `JSON.stringify` writes as an escape (`"\ud83d"`) that strict
 * decoders (Swift's among them) refuse, so the whole message would be lost to the client.
 *
 * @module
 */

/**
 * The first `max` UTF-16 code units of `text` (all of it when shorter), one fewer when the cut
 * would fall inside a surrogate pair.
 */
export function headOf(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return "";
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/**
 * What a frame's text is cut to on arrival, in UTF-16 code units: more than any model reads
 * of it (the prompt takes 12,000 characters of OCR text, the offline model 20,000), so no
 * model sees less, while the privacy guard and the unchanged-screen check never work through
 * megabytes of one message (a regular expression over millions of characters can exhaust
 * V8's stack, and takes seconds).
 */
export const FRAME_TEXT_CHARS = { ocr: 32_000, title: 2_000, app: 1_000 } as const;
