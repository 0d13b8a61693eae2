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
import { emptyUsage } from "../analysis/analyze_frame.ts";
import type { FrameInput } from "../analysis/model.ts";
import type { AnalysisOutcome, ServerError } from "../protocol/messages.ts";

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
  // As one JSON array: each field quoted and escaped, so no two different screens write the
  // same text (a NUL inside a field, a lone surrogate, which UTF-8 would turn into U+FFFD).
  const fields = [frame.appName, frame.windowTitle, frame.ocrText.replace(/\s+/g, " ").trim()];
  const text = createHash("sha256").update(JSON.stringify(fields)).digest("base64");
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

/** One frame's pass through the stage: answered here, or analysed and then reported back. */
export type UnchangedCheck =
  | { skipped: AnalysisOutcome }
  | { skipped?: undefined; done(terminal: AnalysisOutcome | ServerError): void };

/**
 * The stage a session keeps: remembers its last successfully analysed screen and answers a
 * frame that shows it again. A frame that goes on to the model forgets the remembered screen
 * until it succeeds, so a failure is never a reason to skip the next frame.
 */
export class UnchangedScreens {
  #windowMs: number;
  #maxDistance: number;
  #last: { print: ScreenPrint; at: number; context: number; activity: string } | undefined;

  /** `windowMs`: how long an analysis answers for the same screen; `maxDistance`: hash bits. */
  constructor(windowMs: number, maxDistance: number) {
    this.#windowMs = windowMs;
    this.#maxDistance = maxDistance;
  }

  /**
   * `frame` as it reaches its turn at `now` (`performance.now()`), analysed against the
   * session's `context`-th context: the skip's answer, or a `done` to call with the frame's
   * terminal.
   */
  check(
    frame: FrameInput,
    screenHash: string | undefined,
    context: number,
    now: number,
  ): UnchangedCheck {
    const print = screenPrint(frame, screenHash);
    const last = this.#last;
    if (
      last && now - last.at < this.#windowMs && last.context === context &&
      sameScreen(last.print, print, this.#maxDistance)
    ) {
      return {
        skipped: {
          type: "analysis_outcome",
          outcome_kind: "no_task_found",
          frame_id: frame.frameId,
          context_summary: "The screen is unchanged since the last analysed frame",
          current_activity: last.activity,
          usage: { ...emptyUsage(), skipped: "unchanged_screen" },
        },
      };
    }
    this.#last = undefined;
    return {
      done: (terminal) => {
        if (terminal.type !== "analysis_outcome") return;
        this.#last = { print, at: now, context, activity: terminal.current_activity };
      },
    };
  }
}
