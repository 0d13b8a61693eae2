/**
 * Reads replay input: a folder of screens or a JSONL file of `frame_event` objects.
 *
 * A folder holds one frame per file stem, in natural name order:
 * - `<name>.txt`: the OCR text (wins over an `ocr_text` in the metadata);
 * - `<name>.json`: metadata, any `frame_event` fields (`app_name`, `window_title`, …);
 * - `<name>.jpg` / `.jpeg`: the screenshot, sent as `jpeg_base64`.
 * Any one of them makes a frame; other files are ignored. `screenshot_id` defaults to the
 * stem, `frame_number` to the position.
 *
 * A JSONL file holds one `frame_event` per line (blank lines skipped), validated by the
 * protocol codec. Their `session_context` is not used: the replay sends its own.
 *
 * Every problem is a {@link ReplayInputError} whose message is one line naming the file (and
 * line), never the file's content.
 *
 * @module
 */
import type { FrameFields } from "../client/client.ts";
import { decodeClientMessage } from "../protocol/codec.ts";

/** One frame to replay. */
export interface ReplayFrame {
  /** The file stem or the JSONL line, for the result table. */
  name: string;
  fields: FrameFields;
}

/** Why replay input could not be read. */
export type ReplayInputErrorCode =
  | "NOT_FOUND"
  | "UNREADABLE"
  | "UNSUPPORTED"
  | "EMPTY"
  | "BAD_LINE"
  | "BAD_METADATA"
  | "TOO_LARGE";

/** Bad replay input; `message` is one line for the user. */
export class ReplayInputError extends Error {
  /** Stable code callers can switch on. */
  readonly code: ReplayInputErrorCode;

  constructor(code: ReplayInputErrorCode, message: string) {
    super(message);
    this.name = "ReplayInputError";
    this.code = code;
  }
}

/** Largest screenshot read, bytes (the server's default message cap is 16 MiB). */
export const MAX_JPEG_BYTES = 10 * 1024 * 1024;
/** Largest text or metadata file read, bytes. */
export const MAX_TEXT_BYTES = 4 * 1024 * 1024;
/** Largest JSONL file read, bytes. */
export const MAX_JSONL_BYTES = 512 * 1024 * 1024;

const FRAME_EXTENSIONS = new Set(["txt", "json", "jpg", "jpeg"]);

/** Loads the frames of a folder or a `.jsonl` file. */
export async function loadFrames(path: string): Promise<ReplayFrame[]> {
  const info = await stat(path);
  if (info.isDirectory) return await loadFolder(path);
  if (info.isFile && /\.(?:jsonl|ndjson)$/i.test(path)) return await loadJsonl(path, info.size);
  throw new ReplayInputError(
    "UNSUPPORTED",
    `${path} is neither a folder of frames nor a .jsonl file`,
  );
}

async function stat(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    throw ioError(path, err);
  }
}

function ioError(path: string, err: unknown): ReplayInputError {
  if (err instanceof Deno.errors.NotFound) {
    return new ReplayInputError("NOT_FOUND", `Cannot read ${path}: no such file or folder`);
  }
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return new ReplayInputError("UNREADABLE", `Cannot read ${path}: permission denied`);
  }
  if (err instanceof Deno.errors.IsADirectory) {
    return new ReplayInputError("UNREADABLE", `Cannot read ${path}: it is a folder`);
  }
  if (err instanceof TypeError && /utf-?8|decode/i.test(err.message)) {
    return new ReplayInputError("UNREADABLE", `Cannot read ${path}: not UTF-8 text`);
  }
  const name = err instanceof Error ? err.name : "error";
  return new ReplayInputError("UNREADABLE", `Cannot read ${path}: ${name}`);
}

async function readText(path: string, maxBytes: number): Promise<string> {
  const bytes = await readBytes(path, maxBytes);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ReplayInputError("UNREADABLE", `Cannot read ${path}: not UTF-8 text`);
  }
}

async function readBytes(path: string, maxBytes: number): Promise<Uint8Array> {
  let info: Deno.FileInfo;
  let bytes: Uint8Array;
  try {
    info = await Deno.stat(path);
    if (info.size > maxBytes) {
      throw new ReplayInputError(
        "TOO_LARGE",
        `Cannot read ${path}: larger than ${Math.round(maxBytes / 1024 / 1024)} MiB`,
      );
    }
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof ReplayInputError) throw err;
    throw ioError(path, err);
  }
  return bytes;
}

/** Standard base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

function join(folder: string, name: string): string {
  return folder.endsWith("/") ? `${folder}${name}` : `${folder}/${name}`;
}

/** Validates `fields` as a frame_event; the codec's message names the field, never a value. */
function checkFields(fields: Record<string, unknown>, where: string, code: ReplayInputErrorCode) {
  const decoded = decodeClientMessage(JSON.stringify({ ...fields, type: "frame_event" }));
  if (!decoded.ok) {
    const reason = decoded.message.replace(/^Invalid "frame_event": /, "");
    throw new ReplayInputError(code, `${where}: ${reason}`);
  }
  if (decoded.message.type !== "frame_event") throw new Error("unreachable");
  const { type: _type, context_version: _v, session_context: _c, ...frame } = decoded.message;
  return frame;
}

async function loadFolder(folder: string): Promise<ReplayFrame[]> {
  const stems = new Map<string, Map<string, string>>();
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isFile && !entry.isSymlink) continue;
      const match = /^(.+)\.([A-Za-z]+)$/.exec(entry.name);
      const ext = match?.[2]?.toLowerCase();
      if (!match || !ext || !FRAME_EXTENSIONS.has(ext) || match[1]!.startsWith(".")) continue;
      const stem = match[1]!;
      const files = stems.get(stem) ?? new Map<string, string>();
      files.set(ext === "jpeg" ? "jpg" : ext, join(folder, entry.name));
      stems.set(stem, files);
    }
  } catch (err) {
    throw ioError(folder, err);
  }
  if (stems.size === 0) {
    throw new ReplayInputError(
      "EMPTY",
      `${folder} holds no frames (expected <name>.txt, <name>.json or <name>.jpg files)`,
    );
  }
  const names = [...stems.keys()].sort((a, b) =>
    a.localeCompare(b, "en", { numeric: true, sensitivity: "base" })
  );
  const frames: ReplayFrame[] = [];
  for (const [index, name] of names.entries()) {
    const files = stems.get(name)!;
    let meta: Record<string, unknown> = {};
    const metaPath = files.get("json");
    if (metaPath) {
      const text = await readText(metaPath, MAX_TEXT_BYTES);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ReplayInputError("BAD_METADATA", `${metaPath}: not valid JSON`);
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new ReplayInputError("BAD_METADATA", `${metaPath}: must be a JSON object`);
      }
      meta = parsed as Record<string, unknown>;
    }
    const textPath = files.get("txt");
    if (textPath) meta.ocr_text = await readText(textPath, MAX_TEXT_BYTES);
    const jpegPath = files.get("jpg");
    if (jpegPath) meta.jpeg_base64 = toBase64(await readBytes(jpegPath, MAX_JPEG_BYTES));
    meta.screenshot_id ??= name;
    meta.frame_number ??= index + 1;
    frames.push({
      name,
      fields: checkFields(meta, metaPath ?? join(folder, name), "BAD_METADATA"),
    });
  }
  return frames;
}

async function loadJsonl(path: string, size: number): Promise<ReplayFrame[]> {
  if (size > MAX_JSONL_BYTES) {
    throw new ReplayInputError("TOO_LARGE", `Cannot read ${path}: larger than 512 MiB`);
  }
  const text = await readText(path, MAX_JSONL_BYTES);
  const frames: ReplayFrame[] = [];
  const lines = text.split("\n");
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line) continue;
    const where = `${path}:${index + 1}`;
    const decoded = decodeClientMessage(line);
    if (!decoded.ok) throw new ReplayInputError("BAD_LINE", `${where}: ${decoded.message}`);
    if (decoded.message.type !== "frame_event") {
      throw new ReplayInputError(
        "BAD_LINE",
        `${where}: expected a "frame_event", got "${decoded.message.type}"`,
      );
    }
    const { type: _type, context_version: _v, session_context: _c, ...fields } = decoded.message;
    fields.frame_number ??= frames.length + 1;
    frames.push({ name: fields.screenshot_id || `line ${index + 1}`, fields });
  }
  if (frames.length === 0) throw new ReplayInputError("EMPTY", `${path} holds no frames`);
  return frames;
}
