/**
 * Skipping unchanged screens (docs/protocol.md §5.9): a frame that shows what the session's
 * last successfully analysed frame showed, within a time window and under the same context,
 * is answered without a model call.
 *
 * "The same" is the same app, window title and OCR text (whitespace normalised) and the same
 * screenshot bytes (a hash of its base64 text: nothing is decoded); or, when both frames carry
 * a v1.1 `screen_hash`, the same text and hashes at most a few bits apart. Only hashes are
 * kept, never the text or the image.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { FrameInput } from "../analysis/model.ts";

/** What is remembered of an analysed screen. */
export interface ScreenPrint {
  /** Hash of app, window title and normalised OCR text. */
  text: string;
  /** Hash of the screenshot's base64 text; "" without one. */
  image: string;
  /** The client's perceptual hash, when it sent a valid one. */
  perceptual?: bigint;
}

/** The print of a frame. */
export function screenPrint(frame: FrameInput, screenHash?: string | null): ScreenPrint {
  const text = createHash("sha256")
    .update(frame.appName).update("\u0000")
    .update(frame.windowTitle).update("\u0000")
    .update(frame.ocrText.replace(/\s+/g, " ").trim())
    .digest("base64");
  const image = frame.jpegBase64
    ? createHash("sha256").update(frame.jpegBase64).digest("base64")
    : "";
  const print: ScreenPrint = { text, image };
  const perceptual = parseScreenHash(screenHash);
  if (perceptual !== undefined) print.perceptual = perceptual;
  return print;
}

/** A 64-bit hash from 16 hex characters; anything else counts as absent. */
export function parseScreenHash(value: string | null | undefined): bigint | undefined {
  return typeof value === "string" && /^[0-9a-fA-F]{16}$/.test(value)
    ? BigInt(`0x${value}`)
    : undefined;
}

/** Bits in which two 64-bit hashes differ. */
export function hammingDistance(a: bigint, b: bigint): number {
  let x = a ^ b;
  let bits = 0;
  while (x) {
    bits += Number(x & 1n);
    x >>= 1n;
  }
  return bits;
}

/** Whether `next` shows what `last` showed. */
export function sameScreen(last: ScreenPrint, next: ScreenPrint, maxDistance: number): boolean {
  if (last.text !== next.text) return false;
  if (last.image === next.image) return true;
  return last.perceptual !== undefined && next.perceptual !== undefined &&
    hammingDistance(last.perceptual, next.perceptual) <= maxDistance;
}
