/**
 * The wire protocol's message types, written out by hand so the public API carries no zod
 * types. `messages.ts` re-exports them next to their schemas and checks at compile time that
 * each one is exactly what its schema infers.
 *
 * @module
 */
import type { ErrorCode, Priority, ProtocolVersion, ToolKind } from "./messages.ts";

/** Where a search hit came from on the desktop. */
export type MatchType = "vector" | "fts" | "unspecified";
/** The status of a task a search found. */
export type TaskStatus = "active" | "completed" | "deleted";

/** A task the user has open. */
export interface ActiveTask {
  /** The desktop's id of the task. */
  task_id: number;
  /** The task's text. */
  description: string;
  /** Free-form priority ("high", "medium", "low" in practice). */
  priority?: string | null;
  /** Rank: 1 = most important. */
  relevance_score?: number | null;
}

/** A completed or deleted task. */
export interface PastTask {
  /** The desktop's id of the task. */
  task_id: number;
  /** The task's text. */
  description: string;
}

/** A goal the user has set. */
export interface Goal {
  /** The desktop's id of the goal. */
  goal_id: string;
  /** Short title. */
  title: string;
  /** Longer description. */
  description?: string | null;
}

/** What the desktop knows about the user. */
export interface SessionContext {
  /** Tasks the user has open. */
  active_tasks?: ActiveTask[] | null;
  /** Tasks the user completed. */
  completed_tasks?: PastTask[] | null;
  /** Tasks the user deleted. */
  deleted_tasks?: PastTask[] | null;
  /** The user's goals. */
  goals?: Goal[] | null;
}

/** The first message of a session. */
export interface ClientHello {
  /** Message type. */
  type: "client_hello";
  /** The highest protocol version the client speaks ("1.0" when absent). */
  protocol_version?: string | null;
  /** The client's version, for logs. */
  app_version?: string | null;
  /** The client's OS version, for logs. */
  os_version?: string | null;
  /** Version of `session_context`. */
  context_version?: string | null;
  /** The user's tasks and goals. */
  session_context?: SessionContext | null;
}

/** One screen to analyse. */
export interface FrameEvent {
  /** Message type. */
  type: "frame_event";
  /** The client's frame counter. */
  frame_number?: number | null;
  /** The frame's id, echoed as `frame_id` in the answers. */
  screenshot_id?: string | null;
  /** The application in front. */
  app_name?: string | null;
  /** Its window title. */
  window_title?: string | null;
  /** Text read off the screen. */
  ocr_text?: string | null;
  /** The screenshot, JPEG in base64. */
  jpeg_base64?: string | null;
  /** Version of `session_context`, when the frame carries one. */
  context_version?: string | null;
  /** A new session context. */
  session_context?: SessionContext | null;
  /**
   * v1.1: a 64-bit perceptual hash of the screenshot as 16 hex characters, computed where the
   * pixels are; lets the server skip a screen that has not changed (docs/protocol.md §5.9).
   * The reference client computes it in browsers (a dHash, `differenceHash`) and sends it
   * lowercase; any other value is ignored by the server, never an error.
   */
  screen_hash?: string | null;
}

/** One task a desktop search found. */
export interface ToolResultItem {
  /** The desktop's id of the task. */
  task_id: number;
  /** The task's text. */
  description: string;
  /** Whether the task is open, completed or deleted. */
  status: TaskStatus;
  /** Similarity to the query, when the search measures one. */
  similarity?: number | null;
  /** Which search found it. */
  match_type?: MatchType | null;
  /** Rank: 1 = most important. */
  relevance_score?: number | null;
}

/** The desktop's answer to a `tool_call_request`. */
export interface ToolResult {
  /** Message type. */
  type: "tool_result";
  /** The `request_id` of the `tool_call_request` it answers. */
  request_id: string;
  /** The frame the request was for. */
  frame_id?: string | null;
  /** The hits. */
  results?: ToolResultItem[] | null;
  /** Why the search failed, if it did. */
  error?: string | null;
}

/** Application-level keep-alive. */
export interface Heartbeat {
  /** Message type. */
  type: "heartbeat";
}

/** Every message a client may send. */
export type ClientMessage = ClientHello | FrameEvent | ToolResult | Heartbeat;

/** The reply to every `client_hello`. */
export interface SessionReady {
  /** Message type. */
  type: "session_ready";
  /** The server's id of this session. */
  session_id: string;
  /** The negotiated protocol version. */
  protocol_version: ProtocolVersion;
  /** The context version the server holds. */
  context_version: string;
  /** The model-call cap per frame. */
  max_model_iterations: number;
  /** The tools the server may ask the client to run. */
  supported_tool_kinds: ToolKind[];
  /** Ours, additive: the largest message the server accepts (`MAX_MESSAGE_BYTES`). */
  max_message_bytes?: number;
}

/** Asks the desktop to run a search over the user's tasks. */
export interface ToolCallRequest {
  /** Message type. */
  type: "tool_call_request";
  /** Echoed in the `tool_result`. */
  request_id: string;
  /** Which search to run. */
  tool_kind: ToolKind;
  /** What to search for. */
  query: string;
  /** How long the server waits for the answer, ms. */
  deadline_ms: number;
  /** The frame being analysed. */
  frame_id: string;
}

/** A task the analysis extracted. */
export interface ExtractedTask {
  /** Short title, never empty. */
  title: string;
  /** Longer description. */
  description: string;
  /** The task's priority. */
  priority: Priority;
  /** Free-form tags. */
  tags: string[];
  /** The application it was seen in. */
  source_app: string;
  /** A deadline read off the screen, or "". */
  inferred_deadline: string;
  /** Confidence, 0 to 1. */
  confidence: number;
  /** Category of the source. */
  source_category: string;
  /** Subcategory of the source. */
  source_subcategory: string;
  /** Rank among the user's tasks: 1 = most important. */
  relevance_score: number;
}

/** Per-frame accounting. */
export interface Usage {
  /** Model calls made. */
  model_calls: number;
  /** Tool calls made. */
  tool_calls: number;
  /** Input tokens billed, cached ones included. */
  input_tokens: number;
  /**
   * Additive: of `input_tokens`, those served from the model's prompt cache (billed at the
   * cached rate); 0 when none. Optional for decoders: servers before it do not send it.
   */
  cached_input_tokens?: number;
  /** Output tokens billed. */
  output_tokens: number;
  /** Ours, additive: thinking tokens (billed as output). */
  thinking_tokens: number;
  /** Time spent in model calls, ms. */
  model_ms: number;
  /** Time spent waiting for tool results, ms. */
  tool_ms: number;
  /** Time from frame to outcome, ms. */
  total_ms: number;
  /** Estimated cost, US dollars. */
  cost_usd: number;
  /** Additive: set when no model was called, and why (docs/protocol.md §5.9, §5.10). */
  skipped?: "unchanged_screen" | "privacy";
  /**
   * Additive: how many findings of each kind (`card`, `api_key`, …) were redacted from the
   * frame's title and OCR text before any model saw them; absent when none (§11).
   */
  redactions?: Record<string, number>;
  /**
   * Additive: the model that decided (`provider:model`, e.g. `gemini:gemini-2.5-flash`), which
   * after a fallback is not the configured one; absent when no model was called.
   */
  model?: string;
  /**
   * Additive: one entry per model call, in call order; absent when no model was called. Its
   * counts sum to the frame's totals above.
   */
  calls?: ModelCallUsage[];
}

/** Additive: the accounting of one model call of a frame (`usage.calls`). */
export interface ModelCallUsage {
  /** The model that answered (`provider:model`). */
  model: string;
  /** Time the call took, ms. */
  ms: number;
  /** Input tokens billed, cached ones included. */
  input_tokens: number;
  /** Of `input_tokens`, those served from the prompt cache. */
  cached_input_tokens: number;
  /** Output tokens billed. */
  output_tokens: number;
  /** Thinking tokens (billed as output). */
  thinking_tokens: number;
  /** Estimated cost, US dollars. */
  cost_usd: number;
  /** The function the model called in this reply; absent when it called none. */
  function?: string;
}

/** The fields every `analysis_outcome` has. */
export interface AnalysisOutcomeBase {
  /** Message type. */
  type: "analysis_outcome";
  /** The frame it answers. */
  frame_id: string;
  /** What the screen is about. */
  context_summary: string;
  /** What the user is doing. */
  current_activity: string;
  /** The frame's accounting. */
  usage: Usage;
}

/** An outcome that extracted a task. */
export interface ExtractTaskOutcome extends AnalysisOutcomeBase {
  /** Outcome kind. */
  outcome_kind: "extract_task";
  /** The task. */
  task: ExtractedTask;
}

/** An outcome that saw a task and rejected it. */
export interface RejectTaskOutcome extends AnalysisOutcomeBase {
  /** Outcome kind. */
  outcome_kind: "reject_task";
  /** Why it was rejected. */
  reason: string;
}

/** An outcome that found no task. */
export interface NoTaskFoundOutcome extends AnalysisOutcomeBase {
  /** Outcome kind. */
  outcome_kind: "no_task_found";
}

/** The terminal message of an analysed frame. */
export type AnalysisOutcome = ExtractTaskOutcome | RejectTaskOutcome | NoTaskFoundOutcome;

/** An error sent to the client. */
export interface ServerError {
  /** Message type. */
  type: "server_error";
  /** Stable error code. */
  code: ErrorCode;
  /** For people. */
  message: string;
  /** False: the server closes the socket right after it. */
  retryable: boolean;
  /** The frame it is about, if any. */
  frame_id?: string;
  /** When to retry, for `RATE_LIMITED`. */
  retry_after_ms?: number;
}

/** v1.1: a pending tool call will not be waited for any more. */
export interface ToolCallCancel {
  /** Message type. */
  type: "tool_call_cancel";
  /** The request cancelled. */
  request_id: string;
  /** Its frame. */
  frame_id: string;
  /** Why. */
  reason: string;
}

/** v1.1: the server is draining. */
export interface GoAway {
  /** Message type. */
  type: "go_away";
  /** Why. */
  reason: string;
  /** Reconnect after this many ms. */
  reconnect_after_ms: number;
}

/** Every message the server may send. */
export type ServerMessage =
  | SessionReady
  | ToolCallRequest
  | AnalysisOutcome
  | ServerError
  | ToolCallCancel
  | GoAway;
