/**
 * Reads evaluation cases: JSONL files of labelled screens, one case per line (blank lines
 * skipped), or folders of such files (every `*.jsonl` directly in the folder, in name order).
 *
 * ```json
 * {"id": "slack-q3", "expect": "extract_task",
 *  "frame": {"app_name": "Slack", "window_title": "#team", "ocr_text": "…",
 *            "jpeg_path": "img/slack-q3.jpg"},
 *  "context": {"active_tasks": [], "completed_tasks": [], "deleted_tasks": [], "goals": []},
 *  "notes": "a direct ask"}
 * ```
 *
 * `frame.jpeg_base64` or `frame.jpeg_path` (relative to the JSONL file) is optional, not both;
 * `context` is a `SessionContext` as on the wire (default `{}`); unknown fields are ignored.
 * Every problem is an {@link EvalInputError} whose message is one line naming the file and
 * line, never the file's content.
 *
 * @module
 */
import type { FrameFields } from "../client/client.ts";
import type { SessionContext as SessionContextType } from "../protocol/types.ts";
import { MAX_JPEG_BYTES, MAX_JSONL_BYTES, toBase64 } from "../replay/frames.ts";
import { checkCase, type Expectation } from "./case_schema.ts";

export { type Expectation, EXPECTATIONS } from "./case_schema.ts";

/** One labelled screen. */
export interface EvalCase {
  id: string;
  expect: Expectation;
  /** The `frame_event` fields sent (`screenshot_id` is the case id). */
  frame: FrameFields;
  context: SessionContextType;
  notes?: string;
  /** Where the case came from. */
  file: string;
  line: number;
}

/** Bad evaluation input; `message` is one line for the user. */
export class EvalInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EvalInputError";
  }
}

function ioMessage(path: string, err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return `Cannot read ${path}: no such file or folder`;
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return `Cannot read ${path}: permission denied`;
  }
  if (err instanceof Deno.errors.IsADirectory) return `Cannot read ${path}: it is a folder`;
  return `Cannot read ${path}: ${err instanceof Error ? err.name : "error"}`;
}

function join(folder: string, name: string): string {
  return folder.endsWith("/") ? `${folder}${name}` : `${folder}/${name}`;
}

const SEP = "/";

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** The `.jsonl` files an input names: the file itself, or those directly in a folder. */
async function filesOf(input: string): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(input);
  } catch (err) {
    throw new EvalInputError(ioMessage(input, err));
  }
  if (info.isFile) {
    if (!/\.jsonl$/i.test(input)) throw new EvalInputError(`${input} is not a .jsonl file`);
    return [input];
  }
  if (!info.isDirectory) throw new EvalInputError(`${input} is neither a folder nor a file`);
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(input)) {
      if ((entry.isFile || entry.isSymlink) && /\.jsonl$/i.test(entry.name)) {
        if (!entry.name.startsWith(".")) names.push(entry.name);
      }
    }
  } catch (err) {
    throw new EvalInputError(ioMessage(input, err));
  }
  if (names.length === 0) throw new EvalInputError(`${input} holds no .jsonl files`);
  names.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  return names.map((name) => join(input, name));
}

async function readText(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_JSONL_BYTES) {
      throw new EvalInputError(`Cannot read ${path}: larger than 512 MiB`);
    }
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof EvalInputError) throw err;
    throw new EvalInputError(ioMessage(path, err));
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new EvalInputError(`Cannot read ${path}: not UTF-8 text`);
  }
}

/** The checks of one parsed line; throws the reason (without the location). */
async function parseCase(
  value: unknown,
  file: string,
): Promise<Omit<EvalCase, "file" | "line">> {
  const { jpegPath, ...checked } = checkCase(value);
  const fields = checked.frame;
  if (jpegPath !== undefined) {
    const path = join(dirname(file), jpegPath);
    let bytes: Uint8Array;
    try {
      const real = await Deno.realPath(path);
      const folder = await Deno.realPath(dirname(file));
      if (!real.startsWith(folder + SEP)) {
        throw new Error(
          `"frame.jpeg_path" ${JSON.stringify(jpegPath)} leaves the folder of its file`,
        );
      }
      const info = await Deno.stat(real);
      if (!info.isFile) {
        throw new Error(`"frame.jpeg_path" ${JSON.stringify(jpegPath)} is not a file`);
      }
      if (info.size > MAX_JPEG_BYTES) {
        throw new Error(`"frame.jpeg_path" ${JSON.stringify(jpegPath)} is larger than 10 MiB`);
      }
      bytes = await Deno.readFile(real);
      if (bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[2] !== 0xff) {
        throw new Error(`"frame.jpeg_path" ${JSON.stringify(jpegPath)} is not a JPEG`);
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new Error(`"frame.jpeg_path" ${JSON.stringify(jpegPath)} not found`);
      }
      if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
        throw new Error(`"frame.jpeg_path" ${JSON.stringify(jpegPath)}: permission denied`);
      }
      throw err;
    }
    fields.jpeg_base64 = toBase64(bytes);
  }
  return checked;
}

/** The cases of one JSONL file. */
export async function loadCaseFile(file: string): Promise<EvalCase[]> {
  const text = await readText(file);
  const cases: EvalCase[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const where = `${file}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new EvalInputError(`${where}: not valid JSON`);
    }
    try {
      cases.push({ ...(await parseCase(value, file)), file, line: index + 1 });
    } catch (err) {
      if (err instanceof EvalInputError) throw err;
      throw new EvalInputError(`${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (cases.length === 0) throw new EvalInputError(`${file} holds no cases`);
  return cases;
}

/**
 * The cases of every input (files and folders), in order. Ids must be unique across all of
 * them: a repeated one names both places.
 */
export async function loadCases(inputs: readonly string[]): Promise<EvalCase[]> {
  const cases: EvalCase[] = [];
  const seen = new Map<string, string>();
  for (const input of inputs) {
    for (const file of await filesOf(input)) {
      for (const c of await loadCaseFile(file)) {
        const first = seen.get(c.id);
        if (first) {
          throw new EvalInputError(
            `${c.file}:${c.line}: duplicate "id" ${JSON.stringify(c.id)} (first at ${first})`,
          );
        }
        seen.set(c.id, `${c.file}:${c.line}`);
        cases.push(c);
      }
    }
  }
  return cases;
}
