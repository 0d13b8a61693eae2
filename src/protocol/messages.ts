/**
 * The `/v1/proactive` wire protocol (v1.0, Omi-compatible, and our v1.1), as zod schemas.
 *
 * These definitions are the single source of truth: the decoder validates client messages
 * with them, the inferred types flow through the code, and `z.toJSONSchema` publishes them
 * (see `schema.ts`). Unknown fields are accepted and dropped, as docs/protocol.md §1 says.
 *
 * @module
 */
import { z } from "zod";
import type * as T from "./types.ts";

/** Protocol versions we speak; the highest one a client asks for is negotiated. */
export const PROTOCOL_VERSIONS = ["1.0", "1.1"] as const;
/** A negotiated protocol version. */
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

/**
 * The WebSocket subprotocol of docs/protocol.md §1.1: a server selects it when a client
 * offers it (browsers offer it beside their token).
 */
export const SUBPROTOCOL = "proactive";
/** The prefix of the subprotocol that carries a bearer token: `bearer.<token>` (§1.1). */
export const BEARER_SUBPROTOCOL_PREFIX = "bearer.";

/** The model-call cap of docs/protocol.md §5.5, announced in `session_ready`. */
export const MAX_MODEL_ITERATIONS = 5;
/** The tool kinds the desktop executes for us. */
export const TOOL_KINDS = ["search_similar", "search_keywords"] as const;
/** A tool the client executes. */
export type ToolKind = (typeof TOOL_KINDS)[number];

/** Longest `screenshot_id` we accept: frame ids are echoed and held in queues. */
export const MAX_SCREENSHOT_ID_CHARS = 1024;

// Optional fields: Swift omits nil values, other clients may send `null`; both mean absent.
const optString = z.string().nullish();
const optInt = z.int().nullish();

// ---------------------------------------------------------------------------------------
// Session context (client → server)

/** A task the user currently has open. `relevance_score` is a rank: 1 = most important. */
export const ActiveTask = z.object({
  task_id: z.int(),
  description: z.string(),
  priority: optString,
  relevance_score: optInt,
});
/** A task the user has open. */
export type ActiveTask = T.ActiveTask;

/** A completed or user-deleted task. */
export const PastTask = z.object({
  task_id: z.int(),
  description: z.string(),
});
/** A completed or deleted task. */
export type PastTask = T.PastTask;

/** A goal the user has set. */
export const Goal = z.object({
  goal_id: z.string(),
  title: z.string(),
  description: optString,
});
/** A goal the user has set. */
export type Goal = T.Goal;

/** What the desktop knows about the user; every list may be empty or missing. */
export const SessionContext = z.object({
  active_tasks: z.array(ActiveTask).nullish(),
  completed_tasks: z.array(PastTask).nullish(),
  deleted_tasks: z.array(PastTask).nullish(),
  goals: z.array(Goal).nullish(),
});
/** What the desktop knows about the user. */
export type SessionContext = T.SessionContext;

// ---------------------------------------------------------------------------------------
// Client → server

/** The first message of a session; answered by `session_ready`. */
export const ClientHello = z.object({
  type: z.literal("client_hello"),
  protocol_version: optString,
  app_version: optString,
  os_version: optString,
  context_version: optString,
  session_context: SessionContext.nullish(),
});
/** The first message of a session. */
export type ClientHello = T.ClientHello;

/** One screen to analyse. */
export const FrameEvent = z.object({
  type: z.literal("frame_event"),
  frame_number: optInt,
  screenshot_id: z.string().max(MAX_SCREENSHOT_ID_CHARS).nullish(),
  app_name: optString,
  window_title: optString,
  ocr_text: optString,
  jpeg_base64: optString,
  context_version: optString,
  session_context: SessionContext.nullish(),
  /** v1.1: a 64-bit perceptual hash of the screenshot, 16 hex characters. */
  screen_hash: optString,
});
/** One screen to analyse. */
export type FrameEvent = T.FrameEvent;

/** Where a search hit came from on the desktop. */
export const MatchType = z.enum(["vector", "fts", "unspecified"]);
/** The status of a task a search found. */
export const TaskStatus = z.enum(["active", "completed", "deleted"]);
/** Where a search hit came from on the desktop. */
export type MatchType = T.MatchType;
/** The status of a task a search found. */
export type TaskStatus = T.TaskStatus;

/** One task a desktop search found. */
export const ToolResultItem = z.object({
  task_id: z.int(),
  description: z.string(),
  status: TaskStatus,
  similarity: z.number().nullish(),
  match_type: MatchType.nullish(),
  relevance_score: optInt,
});
/** One task a desktop search found. */
export type ToolResultItem = T.ToolResultItem;

/** The desktop's answer to a `tool_call_request`, matched by `request_id` only. */
export const ToolResult = z.object({
  type: z.literal("tool_result"),
  request_id: z.string(),
  frame_id: optString,
  results: z.array(ToolResultItem).nullish(),
  error: optString,
});
/** The desktop's answer to a `tool_call_request`. */
export type ToolResult = T.ToolResult;

/** Application-level keep-alive; never answered. */
export const Heartbeat = z.object({ type: z.literal("heartbeat") });
/** Application-level keep-alive. */
export type Heartbeat = T.Heartbeat;

/** Every message a client may send. */
export const ClientMessage = z.discriminatedUnion("type", [
  ClientHello,
  FrameEvent,
  ToolResult,
  Heartbeat,
]);
/** Every message a client may send. */
export type ClientMessage = T.ClientMessage;

// ---------------------------------------------------------------------------------------
// Server → client

/** The reply to every `client_hello`. */
export const SessionReady = z.object({
  type: z.literal("session_ready"),
  session_id: z.string(),
  protocol_version: z.enum(PROTOCOL_VERSIONS),
  context_version: z.string(),
  max_model_iterations: z.int(),
  supported_tool_kinds: z.array(z.enum(TOOL_KINDS)),
  /** Ours, additive: the largest message the server accepts (`MAX_MESSAGE_BYTES`). */
  max_message_bytes: z.int().optional(),
});
/** The reply to every `client_hello`. */
export type SessionReady = T.SessionReady;

/** Asks the desktop to run a search over the user's tasks. */
export const ToolCallRequest = z.object({
  type: z.literal("tool_call_request"),
  request_id: z.string(),
  tool_kind: z.enum(TOOL_KINDS),
  query: z.string(),
  deadline_ms: z.int(),
  frame_id: z.string(),
});
/** Asks the desktop to run a search over the user's tasks. */
export type ToolCallRequest = T.ToolCallRequest;

/** Task priorities on the wire. */
export const PRIORITIES = ["high", "medium", "low"] as const;
/** A task priority. */
export type Priority = (typeof PRIORITIES)[number];

/** A task the analysis extracted, with exactly the JSON types the Swift decoder expects. */
export const ExtractedTask = z.object({
  title: z.string().min(1),
  description: z.string(),
  priority: z.enum(PRIORITIES),
  tags: z.array(z.string()),
  source_app: z.string(),
  inferred_deadline: z.string(),
  confidence: z.number().min(0).max(1),
  source_category: z.string(),
  source_subcategory: z.string(),
  relevance_score: z.int(),
});
/** A task the analysis extracted. */
export type ExtractedTask = T.ExtractedTask;

/** Additive: the accounting of one model call (docs/protocol.md §3.4, `usage.calls`). */
export const ModelCallUsage = z.object({
  model: z.string(),
  ms: z.int(),
  input_tokens: z.int(),
  cached_input_tokens: z.int(),
  output_tokens: z.int(),
  thinking_tokens: z.int(),
  cost_usd: z.number(),
  function: z.string().optional(),
});
/** The accounting of one model call. */
export type ModelCallUsage = T.ModelCallUsage;

/** Per-frame accounting (docs/protocol.md §3.4; sent to every client, extra fields are safe). */
export const Usage = z.object({
  model_calls: z.int(),
  tool_calls: z.int(),
  input_tokens: z.int(),
  /** Additive: of `input_tokens`, those served from the prompt cache (optional to decode). */
  cached_input_tokens: z.int().optional(),
  output_tokens: z.int(),
  /** Ours, additive: thinking tokens (billed as output). */
  thinking_tokens: z.int(),
  model_ms: z.int(),
  tool_ms: z.int(),
  total_ms: z.int(),
  cost_usd: z.number(),
  /** Additive: why no model was called (`unchanged_screen`, `privacy`). */
  skipped: z.enum(["unchanged_screen", "privacy"]).optional(),
  /** Additive: findings redacted from the frame's text before the model saw it, per kind. */
  redactions: z.record(z.string(), z.int()).optional(),
  /** Additive: the model that decided (`provider:model`); absent without a model call. */
  model: z.string().optional(),
  /** Additive: one entry per model call, in order; absent without a model call. */
  calls: z.array(ModelCallUsage).optional(),
});
/** Per-frame accounting. */
export type Usage = T.Usage;

const outcomeCommon = {
  type: z.literal("analysis_outcome"),
  frame_id: z.string(),
  context_summary: z.string(),
  current_activity: z.string(),
  usage: Usage,
};

/** The terminal message of an analysed frame. */
export const AnalysisOutcome = z.discriminatedUnion("outcome_kind", [
  z.object({ ...outcomeCommon, outcome_kind: z.literal("extract_task"), task: ExtractedTask }),
  z.object({ ...outcomeCommon, outcome_kind: z.literal("reject_task"), reason: z.string() }),
  z.object({ ...outcomeCommon, outcome_kind: z.literal("no_task_found") }),
]);
/** The terminal message of an analysed frame. */
export type AnalysisOutcome = T.AnalysisOutcome;

/** Stable error codes of docs/protocol.md §4. */
export const ERROR_CODES = [
  "NO_CONTEXT",
  "GEMINI_ERROR",
  "ANALYSIS_TIMEOUT",
  "INVALID_MESSAGE",
  "RATE_LIMITED",
  "FRAME_DROPPED",
  "INTERNAL",
  "SHUTTING_DOWN",
] as const;
/** A stable error code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error; when `retryable` is false the server closes the socket right after it. */
export const ServerError = z.object({
  type: z.literal("server_error"),
  code: z.enum(ERROR_CODES),
  message: z.string(),
  retryable: z.boolean(),
  frame_id: z.string().optional(),
  retry_after_ms: z.int().optional(),
});
/** An error sent to the client. */
export type ServerError = T.ServerError;

/** v1.1: a pending tool call will not be waited for any more. */
export const ToolCallCancel = z.object({
  type: z.literal("tool_call_cancel"),
  request_id: z.string(),
  frame_id: z.string(),
  reason: z.string(),
});
/** v1.1: a pending tool call will not be waited for any more. */
export type ToolCallCancel = T.ToolCallCancel;

/** v1.1: the server is draining; reconnect after the given delay. */
export const GoAway = z.object({
  type: z.literal("go_away"),
  reason: z.string(),
  reconnect_after_ms: z.int(),
});
/** v1.1: the server is draining. */
export type GoAway = T.GoAway;

/** Every message the server may send. */
export const ServerMessage = z.union([
  SessionReady,
  ToolCallRequest,
  AnalysisOutcome,
  ServerError,
  ToolCallCancel,
  GoAway,
]);
/** Every message the server may send. */
export type ServerMessage = T.ServerMessage;

// The published types are the hand-written ones of `types.ts` (no zod types in the public
// API); this fails to compile if one of them drifts from what its schema infers.
// Mutual assignability alone lets optional keys differ, so the key sets must match too.
type Same<A, B> = [A] extends [B]
  ? ([B] extends [A]
    ? ([keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false)
    : false)
  : false;
type AllTrue<Checks extends true[]> = Checks;
type _TypesMatchSchemas = AllTrue<[
  Same<ActiveTask, z.infer<typeof ActiveTask>>,
  Same<PastTask, z.infer<typeof PastTask>>,
  Same<Goal, z.infer<typeof Goal>>,
  Same<SessionContext, z.infer<typeof SessionContext>>,
  Same<ClientHello, z.infer<typeof ClientHello>>,
  Same<FrameEvent, z.infer<typeof FrameEvent>>,
  Same<ToolResultItem, z.infer<typeof ToolResultItem>>,
  Same<ToolResult, z.infer<typeof ToolResult>>,
  Same<Heartbeat, z.infer<typeof Heartbeat>>,
  Same<ClientMessage, z.infer<typeof ClientMessage>>,
  Same<SessionReady, z.infer<typeof SessionReady>>,
  Same<ToolCallRequest, z.infer<typeof ToolCallRequest>>,
  Same<ExtractedTask, z.infer<typeof ExtractedTask>>,
  Same<ModelCallUsage, z.infer<typeof ModelCallUsage>>,
  Same<Usage, z.infer<typeof Usage>>,
  Same<AnalysisOutcome, z.infer<typeof AnalysisOutcome>>,
  Same<ServerError, z.infer<typeof ServerError>>,
  Same<ToolCallCancel, z.infer<typeof ToolCallCancel>>,
  Same<GoAway, z.infer<typeof GoAway>>,
  Same<ServerMessage, z.infer<typeof ServerMessage>>,
  Same<MatchType, z.infer<typeof MatchType>>,
  Same<TaskStatus, z.infer<typeof TaskStatus>>,
]>;
