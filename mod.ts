/**
 * Public API of `proactive`: the wire protocol (schemas, types, codec) and the analysis core,
 * for clients and for other providers.
 *
 * @module
 */
export * from "./src/protocol/messages.ts";
export { decodeClientMessage, encodeServerMessage, frameIdOf } from "./src/protocol/codec.ts";
export type { DecodeFailure, DecodeOptions, DecodeResult } from "./src/protocol/codec.ts";
export { protocolJsonSchema } from "./src/protocol/schema.ts";
export { analyzeFrame } from "./src/analysis/analyze_frame.ts";
export type { AnalysisEvent, AnalyzeFrameOptions } from "./src/analysis/analyze_frame.ts";
export { ModelError } from "./src/analysis/model.ts";
export type {
  AnalysisRequest,
  Conversation,
  FrameInput,
  FunctionCall,
  Model,
  ModelReply,
  ModelUsage,
  Turn,
} from "./src/analysis/model.ts";
export { ProactiveClient } from "./src/client/client.ts";
export type {
  ClientEvent,
  FrameFields,
  FrameOptions,
  FrameTerminal,
  ProactiveClientOptions,
  ToolCallHandler,
} from "./src/client/client.ts";
export { backoffDelay } from "./src/client/backoff.ts";
export type { ReconnectOptions } from "./src/client/backoff.ts";
export type { WebSocketConstructor } from "./src/client/connection.ts";
export { ClientError } from "./src/client/errors.ts";
export type { ClientErrorCode } from "./src/client/errors.ts";
