/**
 * The published JSON Schema of the protocol, made from the same zod definitions the decoder
 * uses. Served at `GET /v1/proactive/schema` and committed as `docs/protocol.schema.json`.
 *
 * @module
 */
import { z } from "zod";
import { ClientMessage, ServerMessage } from "./messages.ts";

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
