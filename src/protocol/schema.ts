/**
 * The protocol's published schemas: runtime validators of every message (the zod
 * definitions the decoder uses, behind a small interface of our own so the public API does
 * not depend on zod's types) and the JSON Schema, served at `GET /v1/proactive/schema` and
 * committed as `docs/protocol.schema.json`.
 *
 * @module
 */
import { z } from "zod";
import * as wire from "./messages.ts";
import type * as T from "./types.ts";
import { ClientMessage, ServerMessage } from "./messages.ts";

/** One problem a validator found. */
export interface SchemaIssue {
  /** What kind of problem (`invalid_type`, `too_big`, …). */
  readonly code: string;
  /** Where in the value: object keys and array indices. */
  readonly path: PropertyKey[];
  /** For people. */
  readonly message: string;
}

/** A failed validation. */
export interface SchemaError extends Error {
  /** Every problem found. */
  readonly issues: SchemaIssue[];
}

/** The result of {@link Schema.safeParse}. */
export type SchemaResult<T> =
  | { readonly success: true; readonly data: T }
  | { readonly success: false; readonly error: SchemaError };

/**
 * A runtime validator of one protocol type. Unknown fields are accepted and dropped; `null`
 * optional fields parse as given.
 */
export interface Schema<T> {
  /** The validated value (unknown fields dropped); throws a {@link SchemaError}. */
  parse(data: unknown): T;
  /** The validated value or the problems found; never throws. */
  safeParse(data: unknown): SchemaResult<T>;
}

/** Validates a task the user has open. */
export const ActiveTaskSchema: Schema<T.ActiveTask> = wire.ActiveTask;
/** Validates a completed or deleted task. */
export const PastTaskSchema: Schema<T.PastTask> = wire.PastTask;
/** Validates a goal. */
export const GoalSchema: Schema<T.Goal> = wire.Goal;
/** Validates a session context. */
export const SessionContextSchema: Schema<T.SessionContext> = wire.SessionContext;
/** Validates a `client_hello`. */
export const ClientHelloSchema: Schema<T.ClientHello> = wire.ClientHello;
/** Validates a `frame_event`. */
export const FrameEventSchema: Schema<T.FrameEvent> = wire.FrameEvent;
/** Validates one search hit of a `tool_result`. */
export const ToolResultItemSchema: Schema<T.ToolResultItem> = wire.ToolResultItem;
/** Validates a `tool_result`. */
export const ToolResultSchema: Schema<T.ToolResult> = wire.ToolResult;
/** Validates a `heartbeat`. */
export const HeartbeatSchema: Schema<T.Heartbeat> = wire.Heartbeat;
/** Validates any client message. */
export const ClientMessageSchema: Schema<T.ClientMessage> = wire.ClientMessage;
/** Validates a `session_ready`. */
export const SessionReadySchema: Schema<T.SessionReady> = wire.SessionReady;
/** Validates a `tool_call_request`. */
export const ToolCallRequestSchema: Schema<T.ToolCallRequest> = wire.ToolCallRequest;
/** Validates an extracted task. */
export const ExtractedTaskSchema: Schema<T.ExtractedTask> = wire.ExtractedTask;
/** Validates a frame's usage. */
export const UsageSchema: Schema<T.Usage> = wire.Usage;
/** Validates an `analysis_outcome`. */
export const AnalysisOutcomeSchema: Schema<T.AnalysisOutcome> = wire.AnalysisOutcome;
/** Validates a `server_error`. */
export const ServerErrorSchema: Schema<T.ServerError> = wire.ServerError;
/** Validates a `tool_call_cancel`. */
export const ToolCallCancelSchema: Schema<T.ToolCallCancel> = wire.ToolCallCancel;
/** Validates a `go_away`. */
export const GoAwaySchema: Schema<T.GoAway> = wire.GoAway;
/** Validates any server message. */
export const ServerMessageSchema: Schema<T.ServerMessage> = wire.ServerMessage;

/** The JSON Schema document of the wire protocol. */
export function protocolJsonSchema(): Record<string, unknown> {
  const strip = (schema: Record<string, unknown>) => {
    const { $schema: _, ...rest } = schema;
    return rest;
  };
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "proactive /v1/proactive wire protocol",
    description:
      "Protocol v1.0 (Omi-compatible) and v1.1. Each WebSocket text frame carries one message: " +
      "client messages match ClientMessage, server messages match ServerMessage. Unknown " +
      "fields are allowed and ignored in both directions.",
    $defs: {
      ClientMessage: strip(z.toJSONSchema(ClientMessage, { io: "input" })),
      ServerMessage: strip(z.toJSONSchema(ServerMessage, { io: "output" })),
    },
    anyOf: [{ $ref: "#/$defs/ClientMessage" }, { $ref: "#/$defs/ServerMessage" }],
  };
}

/** The schema as committed: stable key order, two-space indent, trailing newline. */
export function protocolJsonSchemaText(): string {
  return JSON.stringify(protocolJsonSchema(), null, 2) + "\n";
}
