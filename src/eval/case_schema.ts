/**
 * The checks of one evaluation case line that need no file system: shared by the eval's
 * loader (`cases.ts`, which then reads `frame.jpeg_path`) and the developer console (which
 * bundles this module into the browser to check a case before it is saved), so both accept
 * and refuse the same cases with the same words.
 *
 * @module
 */
import type { FrameFields } from "../client/client.ts";
import { MAX_SCREENSHOT_ID_CHARS, SessionContext } from "../protocol/messages.ts";
import type { SessionContext as SessionContextType } from "../protocol/types.ts";

/** The three outcomes a case can expect. */
export const EXPECTATIONS = ["extract_task", "reject_task", "no_task_found"] as const;
/** An expected outcome. */
export type Expectation = (typeof EXPECTATIONS)[number];

/** A case line as checked, before `frame.jpeg_path` is read. */
export interface CheckedCase {
  id: string;
  expect: Expectation;
  /** The fields sent; `jpeg_base64` when the line carries it. */
  frame: FrameFields;
  /** `frame.jpeg_path` as given (relative to the case file; not read here). */
  jpegPath?: string;
  context: SessionContextType;
  notes?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isAbsolute(path: string): boolean {
  return path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path);
}

/** Checks one parsed case line; throws an `Error` whose message is the reason, in one line. */
export function checkCase(value: unknown): CheckedCase {
  if (!isObject(value)) throw new Error("a case must be a JSON object");
  const { id, expect, frame, context, notes } = value;
  if (typeof id !== "string" || id.trim() === "") {
    throw new Error('"id" must be a non-empty string');
  }
  if (id.length > MAX_SCREENSHOT_ID_CHARS) {
    throw new Error(`"id" is longer than ${MAX_SCREENSHOT_ID_CHARS} characters`);
  }
  if (expect === undefined) throw new Error(`"expect" is missing`);
  if (typeof expect !== "string" || !(EXPECTATIONS as readonly string[]).includes(expect)) {
    const shown = typeof expect === "string" ? JSON.stringify(expect.slice(0, 40)) : typeof expect;
    throw new Error(`unknown "expect" ${shown}: must be one of ${EXPECTATIONS.join(", ")}`);
  }
  if (!isObject(frame)) throw new Error('"frame" must be an object');
  for (const field of ["app_name", "window_title", "ocr_text"]) {
    if (typeof frame[field] !== "string") throw new Error(`"frame.${field}" must be a string`);
  }
  const fields: FrameFields = {
    screenshot_id: id,
    app_name: frame.app_name as string,
    window_title: frame.window_title as string,
    ocr_text: frame.ocr_text as string,
  };
  const { jpeg_base64: base64, jpeg_path: jpegPath } = frame;
  if (base64 !== undefined && jpegPath !== undefined) {
    throw new Error('"frame" has both "jpeg_base64" and "jpeg_path": give one');
  }
  if (base64 !== undefined) {
    if (typeof base64 !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) {
      throw new Error('"frame.jpeg_base64" must be a base64 string');
    }
    if (base64 !== "" && !base64.startsWith("/9j/")) {
      throw new Error('"frame.jpeg_base64" is not a JPEG (it must start with FF D8 FF)');
    }
    fields.jpeg_base64 = base64;
  }
  if (jpegPath !== undefined) {
    if (typeof jpegPath !== "string" || jpegPath === "") {
      throw new Error('"frame.jpeg_path" must be a non-empty string');
    }
    // Relative to the case file and inside its folder: a case never reads (and sends to a
    // model) a file from elsewhere on the machine.
    if (isAbsolute(jpegPath)) {
      throw new Error(`"frame.jpeg_path" ${JSON.stringify(jpegPath)} must be relative to the file`);
    }
  }
  let sessionContext: SessionContextType = {};
  if (context !== undefined && context !== null) {
    const parsed = SessionContext.safeParse(context);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path.map(String).join(".");
      throw new Error(
        path ? `"context.${path}" is invalid: ${issue?.message}` : '"context" must be an object',
      );
    }
    sessionContext = parsed.data;
  }
  if (notes !== undefined && typeof notes !== "string") throw new Error('"notes" must be a string');
  return {
    id,
    expect: expect as Expectation,
    frame: fields,
    ...(typeof jpegPath === "string" ? { jpegPath } : {}),
    context: sessionContext,
    ...(typeof notes === "string" ? { notes } : {}),
  };
}
