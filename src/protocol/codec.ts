/**
 * The one way in and the one way out for wire messages.
 *
 * `decodeClientMessage` turns a WebSocket payload into a validated {@link ClientMessage} or a
 * precise, client-safe error (`Invalid "frame_event": "app_name" must be a string`): the field
 * path and the expected type, never a raw zod dump and never the offending value. Its work is
 * bounded whatever the payload's shape: see `bounded_json.ts`.
 *
 * @module
 */
import type { z } from "zod";
import { type ArrayCaps, boundedParse } from "./bounded_json.ts";
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
  type SessionContext,
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

/** Elements kept per list; more are cut where the message is decoded, unexamined. */
export interface ListCaps {
  activeTasks: number;
  /** Completed and deleted tasks, each. */
  pastTasks: number;
  goals: number;
  toolResults: number;
}

/** The default caps (the configuration's `MAX_ACTIVE_TASKS` … `MAX_TOOL_RESULTS`). */
export const DEFAULT_LIST_CAPS: ListCaps = {
  activeTasks: 1000,
  pastTasks: 500,
  goals: 100,
  toolResults: 50,
};

/** A decoded message and what was left out of it. */
export interface DecodedMessage {
  ok: true;
  message: ClientMessage;
  /** Context items left out because they were malformed. */
  droppedContextItems: number;
  /** List elements beyond their cap, by path (`session_context.active_tasks`, `results`). */
  cut: Record<string, number>;
  /**
   * True for a `tool_result` nobody waits for: discarded without validating it
   * (`message` then holds only its type and `request_id`).
   */
  discarded?: true;
}

/** A decoded message or the reason it was refused. */
export type DecodeResult = DecodedMessage | DecodeFailure;

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
 * The frame id of docs/protocol.md §2.3: `screenshot_id` if non-empty, else `frame_number`,
 * else "0".
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
  /**
   * The `request_id` the session waits for, or `null` when it waits for none. When given, a
   * `tool_result` for any other request is discarded unvalidated; when nothing is awaited,
   * one that says so at the start of its text is not even parsed.
   */
  awaitedRequestId?: string | null;
  /** List caps; {@link DEFAULT_LIST_CAPS} by default. */
  caps?: ListCaps;
}

const STRAY_PREFIX = '{"type":"tool_result"';

const arrayCapsCache = new WeakMap<ListCaps, ArrayCaps>();

function arrayCaps(caps: ListCaps): ArrayCaps {
  let paths = arrayCapsCache.get(caps);
  if (!paths) {
    paths = {
      "session_context.active_tasks": caps.activeTasks,
      "session_context.completed_tasks": caps.pastTasks,
      "session_context.deleted_tasks": caps.pastTasks,
      "session_context.goals": caps.goals,
      "results": caps.toolResults,
    };
    arrayCapsCache.set(caps, paths);
  }
  return paths;
}

/**
 * Decodes one WebSocket payload with bounded work: lists are cut to their caps before they
 * are parsed ({@link boundedParse}), every context item is validated once, and a stray
 * `tool_result` is not validated at all. Binary payloads are refused: the protocol is JSON
 * text.
 */
export function decodeClientMessage(data: unknown, options: DecodeOptions = {}): DecodeResult {
  if (typeof data !== "string") {
    return { ok: false, message: "Binary frames are not accepted: send JSON text frames" };
  }
  // Unread when nothing is awaited; but not with a second "type" in it, which JSON's last
  // key would make the message's type.
  if (
    options.awaitedRequestId === null && data.startsWith(STRAY_PREFIX) &&
    data.indexOf('"type"', STRAY_PREFIX.length) < 0
  ) {
    return stray("");
  }
  const parsed = boundedParse(data, arrayCaps(options.caps ?? DEFAULT_LIST_CAPS));
  if (!parsed.ok) return unreadable(data, parsed.message, options.awaitedRequestId);
  const raw = parsed.value;
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
    type === "tool_result" && options.awaitedRequestId !== undefined &&
    obj.request_id !== options.awaitedRequestId
  ) {
    return stray(typeof obj.request_id === "string" ? obj.request_id : "");
  }

  // The context is decoded on its own, item by item, so that nothing is validated twice.
  let context: SessionContext | undefined;
  let droppedContextItems = 0;
  if (type === "client_hello" || type === "frame_event") {
    const rawContext = obj.session_context;
    delete obj.session_context;
    const known = type === "frame_event" && options.knownContextVersion !== undefined &&
      obj.context_version === options.knownContextVersion;
    if (rawContext != null && !known) {
      const decoded = decodeContext(rawContext);
      if (typeof decoded === "string") {
        // A hello's optional fields are left out when wrongly typed (every hello gets
        // session_ready, docs/protocol.md §3.1); a frame with a broken context is refused.
        if (type === "frame_event") return invalid(type, decoded, obj);
        droppedContextItems = 0;
      } else {
        context = decoded.context;
        droppedContextItems = decoded.dropped;
      }
    }
  }

  const result = type === "client_hello"
    ? decodeHello(obj)
    : SCHEMAS[type].safeParse(obj) as z.ZodSafeParseResult<ClientMessage>;
  if (!result.success) {
    return invalid(type, `${describeIssue(result.error.issues[0], obj)}`, obj);
  }
  const message = result.data;
  if (context && (message.type === "client_hello" || message.type === "frame_event")) {
    message.session_context = context;
  }
  return { ok: true, message, droppedContextItems, cut: parsed.cut };
}

/**
 * A message past a decoding bound. One that reads like the awaited `tool_result` (its type,
 * and the request id the server made up, in its text) is reported as that result, so that the
 * session counts it as a failed search (docs/protocol.md §2.4) rather than leave the frame
 * waiting for an answer that came.
 */
function unreadable(
  data: string,
  message: string,
  awaited: string | null | undefined,
): DecodeFailure {
  if (
    typeof awaited === "string" && data.includes(JSON.stringify(awaited)) &&
    TOOL_RESULT_TYPE.test(data)
  ) {
    return { ok: false, type: "tool_result", requestId: awaited, message };
  }
  return { ok: false, message };
}

const TOOL_RESULT_TYPE = /"type"\s*:\s*"tool_result"/;

function stray(requestId: string): DecodedMessage {
  return {
    ok: true,
    message: { type: "tool_result", request_id: requestId },
    droppedContextItems: 0,
    cut: {},
    discarded: true,
  };
}

function invalid(
  type: ClientMessage["type"],
  reason: string,
  obj: Record<string, unknown>,
): DecodeFailure {
  const failure: DecodeFailure = { ok: false, type, message: `Invalid "${type}": ${reason}` };
  if (type === "frame_event") failure.frameId = frameIdOf(obj.screenshot_id, obj.frame_number);
  if (type === "tool_result" && typeof obj.request_id === "string") {
    failure.requestId = obj.request_id;
  }
  return failure;
}

/**
 * A hello's fields, each checked once against its schema: a wrongly typed one is left out
 * rather than costing the client its session (every hello is answered, docs/protocol.md §3.1).
 */
function decodeHello(obj: Record<string, unknown>): z.ZodSafeParseResult<ClientMessage> {
  const hello: ClientHello = { type: "client_hello" };
  for (const field of HELLO_FIELDS) {
    const checked = ClientHello.shape[field].safeParse(obj[field]);
    if (checked.success && checked.data != null) hello[field] = checked.data;
  }
  return { success: true, data: hello };
}

const HELLO_FIELDS = ["protocol_version", "app_version", "os_version", "context_version"] as const;

const CONTEXT_ITEMS = {
  active_tasks: ActiveTask,
  completed_tasks: PastTask,
  deleted_tasks: PastTask,
  goals: Goal,
} as const;

/**
 * A raw `session_context`, each list item validated once: malformed items are left out and
 * counted. One bad task (say a fractional `relevance_score`) must not cost the whole hello —
 * the client would get no `session_ready` and reconnect forever — nor every frame that
 * carries the context. A list or context of the wrong type is refused (the reason returned).
 */
export function decodeContext(
  raw: unknown,
): { context: SessionContext; dropped: number } | string {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return '"session_context" must be an object';
  }
  const lists = raw as Record<string, unknown>;
  const context: SessionContext = {};
  let dropped = 0;
  for (const key of Object.keys(CONTEXT_ITEMS) as Array<keyof typeof CONTEXT_ITEMS>) {
    const items = lists[key];
    if (items == null) continue;
    if (!Array.isArray(items)) return `"session_context.${key}" must be an array`;
    const schema = CONTEXT_ITEMS[key];
    const kept: unknown[] = [];
    for (const item of items) {
      const checked = schema.safeParse(item);
      if (checked.success) kept.push(checked.data);
      else dropped++;
    }
    (context as Record<string, unknown[]>)[key] = kept;
  }
  return { context, dropped };
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
