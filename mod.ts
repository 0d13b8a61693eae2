/**
 * Public API of `proactive` for clients: the `/v1/proactive` wire protocol (message types,
 * runtime validators, the JSON Schema) and the reference client, {@link ProactiveClient}.
 *
 * Everything here runs in Deno, browsers and Node 22+ (anything with a WHATWG `WebSocket`):
 * no `Deno.*` or `node:` API, and none of the server or its analysis core. `deno task build`
 * bundles it into one ESM file, `dist/client.js`.
 *
 * ```ts
 * import { ProactiveClient } from "./mod.ts";
 *
 * await using client = await ProactiveClient.connect({ url: "ws://127.0.0.1:8080/v1/proactive" });
 * const terminal = await client.analyzeFrame({ app_name: "Slack", ocr_text: "Send the report?" });
 * console.log(terminal.type);
 * ```
 *
 * @module
 */
export {
  BEARER_SUBPROTOCOL_PREFIX,
  ERROR_CODES,
  MAX_MODEL_ITERATIONS,
  MAX_SCREENSHOT_ID_CHARS,
  PRIORITIES,
  PROTOCOL_VERSIONS,
  SUBPROTOCOL,
  TOOL_KINDS,
} from "./src/protocol/messages.ts";
export type { ErrorCode, Priority, ProtocolVersion, ToolKind } from "./src/protocol/messages.ts";
export type {
  ActiveTask,
  AnalysisOutcome,
  AnalysisOutcomeBase,
  ClientHello,
  ClientMessage,
  ExtractedTask,
  ExtractTaskOutcome,
  FrameEvent,
  Goal,
  GoAway,
  Heartbeat,
  MatchType,
  ModelCallUsage,
  NoTaskFoundOutcome,
  PastTask,
  RejectTaskOutcome,
  ServerError,
  ServerMessage,
  SessionContext,
  SessionReady,
  TaskStatus,
  ToolCallCancel,
  ToolCallRequest,
  ToolResult,
  ToolResultItem,
  Usage,
} from "./src/protocol/types.ts";
export {
  ActiveTaskSchema,
  AnalysisOutcomeSchema,
  ClientHelloSchema,
  ClientMessageSchema,
  ExtractedTaskSchema,
  FrameEventSchema,
  GoalSchema,
  GoAwaySchema,
  HeartbeatSchema,
  PastTaskSchema,
  protocolJsonSchema,
  ServerErrorSchema,
  ServerMessageSchema,
  SessionContextSchema,
  SessionReadySchema,
  ToolCallCancelSchema,
  ToolCallRequestSchema,
  ToolResultItemSchema,
  ToolResultSchema,
  UsageSchema,
} from "./src/protocol/schema.ts";
export type { Schema, SchemaError, SchemaIssue, SchemaResult } from "./src/protocol/schema.ts";
export { ProactiveClient } from "./src/client/client.ts";
export type {
  ClientEvent,
  FrameFields,
  FrameOptions,
  FrameTerminal,
  ProactiveClientOptions,
  TokenTransport,
  ToolCallHandler,
} from "./src/client/client.ts";
export { differenceHash, screenHashDistance } from "./src/client/screen_hash.ts";
export { backoffDelay } from "./src/client/backoff.ts";
export type { ReconnectOptions } from "./src/client/backoff.ts";
export type { WebSocketConstructor } from "./src/client/connection.ts";
export { ClientError } from "./src/client/errors.ts";
export type { ClientErrorCode } from "./src/client/errors.ts";
