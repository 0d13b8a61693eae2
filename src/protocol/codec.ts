/**
 * The one way in and the one way out for wire messages.
 *
 * `decodeClientMessage` turns a WebSocket payload into a validated {@link ClientMessage} or a
 * precise, client-safe error (`Invalid "frame_event": "app_name" must be a string`): the field
 * path and the expected type, never a raw zod dump and never the offending value.
 *
 * @module
 */
import type { z } from "zod";
import {
  ActiveTask,
  ClientHello,
  type ClientMessage,
  FrameEvent,
  Goal,
  Heartbeat,
  MAX_SCREENSHOT_ID_CHARS,
  PastTask,
  type ServerMessage,
  ToolResult,
} from "./messages.ts";

/** Why a payload could not be decoded, in words that are safe to send to the client. */
export interface DecodeFailure {
  ok: false;
  /** Human-readable, client-safe; names the field path, never echoes values. */
  message: string;
  /** The message `type`, when it was a known one. */
  type?: ClientMessage["type"];
  /** For a `frame_event`: the frame id, when one could be read. */
  frameId?: string;
  /** For a `tool_result`: its `request_id`, when one could be read. */
  requestId?: string;
}

/** A decoded message or the reason it was refused. */
export type DecodeResult =
  | {
    ok: true;
    message: ClientMessage;
    /** Context items left out because they were malformed (see {@link pruneContext}). */
    droppedContextItems: number;
  }
  | DecodeFailure;

const SCHEMAS = {
  client_hello: ClientHello,
  frame_event: FrameEvent,
  tool_result: ToolResult,
  heartbeat: Heartbeat,
} as const satisfies Record<ClientMessage["type"], z.ZodType>;

function isKnownType(type: string): type is keyof typeof SCHEMAS {
  return Object.hasOwn(SCHEMAS, type);
}

/**
 * The frame id of protocol.md §2: `screenshot_id` if non-empty, else `frame_number`, else "0".
 */
export function frameIdOf(screenshotId: unknown, frameNumber: unknown): string {
  if (
    typeof screenshotId === "string" && screenshotId !== "" &&
    screenshotId.length <= MAX_SCREENSHOT_ID_CHARS
  ) {
    return screenshotId;
  }
  if (typeof frameNumber === "number" && Number.isSafeInteger(frameNumber)) {
    return String(frameNumber);
  }
  return "0";
}

/** Options of {@link decodeClientMessage}. */
export interface DecodeOptions {
  /**
   * The `context_version` the session already holds. A frame that carries this version
   * carries a context the session will not use (Omi sends it on every frame), so it is
   * neither validated nor kept.
   */
  knownContextVersion?: string;
}

/** Decodes one WebSocket payload. Binary payloads are refused: the protocol is JSON text. */
export function decodeClientMessage(data: unknown, options: DecodeOptions = {}): DecodeResult {
  if (typeof data !== "string") {
    return { ok: false, message: "Binary frames are not accepted: send JSON text frames" };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return { ok: false, message: "Message is not valid JSON" };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, message: "Message must be a JSON object" };
  }
  const obj = raw as Record<string, unknown>;
  if (typeof obj.type !== "string") {
    return { ok: false, message: 'Message must have a string "type"' };
  }
  const type = obj.type;
  if (!isKnownType(type)) {
    return { ok: false, message: `Unknown message type ${JSON.stringify(type.slice(0, 40))}` };
  }
  if (
    type === "frame_event" && options.knownContextVersion !== undefined &&
    obj.context_version === options.knownContextVersion
  ) {
    delete obj.session_context;
  }
  let parsed = SCHEMAS[type].safeParse(obj);
  // Context items are only checked one by one when the message as a whole fails: the common
  // case validates once.
  let droppedContextItems = 0;
  if (!parsed.success && (type === "client_hello" || type === "frame_event")) {
    droppedContextItems = pruneContext(obj.session_context);
    if (droppedContextItems) parsed = SCHEMAS[type].safeParse(obj);
  }
  if (!parsed.success && type === "client_hello") {
    // Every hello is answered with session_ready (protocol §3): its fields are optional, so
    // a wrongly typed one is left out rather than costing the client its session.
    for (const issue of parsed.error.issues) {
      const field = issue.path[0];
      if (typeof field === "string" && field !== "type") delete obj[field];
    }
    parsed = SCHEMAS[type].safeParse(obj);
  }
  if (parsed.success) {
    return { ok: true, message: parsed.data as ClientMessage, droppedContextItems };
  }
  const failure: DecodeFailure = {
    ok: false,
    type,
    message: `Invalid "${type}": ${describeIssue(parsed.error.issues[0], obj)}`,
  };
  if (type === "frame_event") failure.frameId = frameIdOf(obj.screenshot_id, obj.frame_number);
  if (type === "tool_result" && typeof obj.request_id === "string") {
    failure.requestId = obj.request_id;
  }
  return failure;
}

const CONTEXT_ITEMS = {
  active_tasks: ActiveTask,
  completed_tasks: PastTask,
  deleted_tasks: PastTask,
  goals: Goal,
} as const;

/**
 * Removes malformed items from the lists of a raw `session_context`, in place, and returns
 * how many it removed. One bad task (say a fractional `relevance_score`) must not cost the
 * whole hello — the client would get no `session_ready` and reconnect forever — nor every
 * frame that carries the context. A list or context of the wrong type is still refused.
 */
export function pruneContext(context: unknown): number {
  if (typeof context !== "object" || context === null) return 0;
  const lists = context as Record<string, unknown>;
  let dropped = 0;
  for (const [key, schema] of Object.entries(CONTEXT_ITEMS)) {
    const items = lists[key];
    if (!Array.isArray(items)) continue;
    const kept = items.filter((item) => schema.safeParse(item).success);
    dropped += items.length - kept.length;
    if (kept.length !== items.length) lists[key] = kept;
  }
  return dropped;
}

/** Serialises a server message. The types guarantee the wire shape; nothing is re-validated. */
export function encodeServerMessage(message: ServerMessage): string {
  return JSON.stringify(message);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

const ARTICLE: Record<string, string> = {
  int: "an integer",
  array: "an array",
  object: "an object",
};

/** One issue in words: `"session_context.active_tasks[0].task_id" must be an integer`. */
function describeIssue(issue: z.core.$ZodIssue | undefined, root: unknown): string {
  if (!issue) return "message is invalid";
  const path = issue.path.reduce<string>(
    (acc, key) =>
      typeof key === "number" ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key),
    "",
  );
  const field = path ? `"${path}"` : "message";
  switch (issue.code) {
    case "invalid_type": {
      if (valueAt(root, issue.path) === undefined) return `${field} is required`;
      const expected = String(issue.expected);
      return `${field} must be ${ARTICLE[expected] ?? `a ${expected}`}`;
    }
    case "invalid_value":
      return `${field} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_big":
      return issue.origin === "string" || issue.origin === "array"
        ? `${field} is too long (at most ${String(issue.maximum)})`
        : `${field} must be at most ${String(issue.maximum)}`;
    case "too_small":
      return issue.origin === "string" || issue.origin === "array"
        ? `${field} is too short (at least ${String(issue.minimum)})`
        : `${field} must be at least ${String(issue.minimum)}`;
    default:
      return `${field} is invalid`;
  }
}
