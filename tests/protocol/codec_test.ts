import assert from "node:assert/strict";
import { decodeClientMessage, encodeServerMessage, frameIdOf } from "../../src/protocol/codec.ts";
import { ServerMessage } from "../../src/protocol/messages.ts";
import { protocolJsonSchemaText } from "../../src/protocol/schema.ts";

Deno.test("decodeClientMessage() accepts every client message of protocol v1.0", async (t) => {
  await t.step("an Omi client_hello with a full context", () => {
    const result = decodeClientMessage(JSON.stringify({
      type: "client_hello",
      protocol_version: "1.0",
      app_version: "0.9.1",
      os_version: "macOS 15.2",
      context_version: "c1",
      session_context: {
        active_tasks: [{ task_id: 1, description: "a", priority: "high", relevance_score: 2 }],
        completed_tasks: [{ task_id: 2, description: "b" }],
        deleted_tasks: [{ task_id: 3, description: "c" }],
        goals: [{ goal_id: "g", title: "t", description: "d" }],
      },
      unknown_field: { ignored: true },
    }));
    assert.ok(result.ok);
    assert.equal(result.message.type, "client_hello");
    assert.ok(!("unknown_field" in result.message), "unknown fields are dropped");
  });
  await t.step("a frame_event with nulls and missing optionals", () => {
    const result = decodeClientMessage(JSON.stringify({
      type: "frame_event",
      frame_number: 3,
      screenshot_id: null,
      app_name: "Mail",
      window_title: "",
      ocr_text: "",
    }));
    assert.ok(result.ok && result.message.type === "frame_event");
  });
  await t.step("a tool_result and a heartbeat", () => {
    assert.ok(
      decodeClientMessage(JSON.stringify({
        type: "tool_result",
        request_id: "r",
        frame_id: "f",
        results: [{
          task_id: 1,
          description: "d",
          status: "deleted",
          similarity: 0.5,
          match_type: "vector",
          relevance_score: 0,
        }],
      })).ok,
    );
    assert.ok(decodeClientMessage('{"type":"heartbeat"}').ok);
  });
});

Deno.test("decodeClientMessage() names the field, never the value", async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ["binary", new Uint8Array([1]), "Binary frames are not accepted: send JSON text frames"],
    ["not JSON", "{", "Message is not valid JSON"],
    ["null", "null", "Message must be a JSON object"],
    ["array", "[]", "Message must be a JSON object"],
    ["no type", '{"a":1}', 'Message must have a string "type"'],
    ["numeric type", '{"type":1}', 'Message must have a string "type"'],
    ["unknown type", '{"type":"nope"}', 'Unknown message type "nope"'],
    [
      "missing required field",
      '{"type":"tool_result"}',
      'Invalid "tool_result": "request_id" is required',
    ],
    [
      "wrong enum",
      JSON.stringify({
        type: "tool_result",
        request_id: "r",
        results: [{ task_id: 1, description: "d", status: "gone" }],
      }),
      'Invalid "tool_result": "results[0].status" must be one of "active", "completed", "deleted"',
    ],
    [
      "fractional int",
      JSON.stringify({ type: "frame_event", frame_number: 1.5 }),
      'Invalid "frame_event": "frame_number" must be an integer',
    ],
    [
      "wrong nested type",
      JSON.stringify({ type: "frame_event", session_context: "secret title" }),
      'Invalid "frame_event": "session_context" must be an object',
    ],
    [
      "array expected",
      JSON.stringify({ type: "frame_event", session_context: { active_tasks: "x" } }),
      'Invalid "frame_event": "session_context.active_tasks" must be an array',
    ],
    [
      "overlong screenshot_id",
      JSON.stringify({ type: "frame_event", screenshot_id: "s".repeat(2000) }),
      'Invalid "frame_event": "screenshot_id" is too long (at most 1024)',
    ],
  ];
  for (const [name, input, message] of cases) {
    await t.step(name, () => {
      const result = decodeClientMessage(input);
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(result.message, message);
    });
  }
  await t.step("an invalid frame still yields its frame id", () => {
    const result = decodeClientMessage(
      JSON.stringify({ type: "frame_event", screenshot_id: "abc", ocr_text: 5 }),
    );
    assert.ok(!result.ok && result.frameId === "abc");
  });
  await t.step("an invalid tool_result still yields its request id", () => {
    const result = decodeClientMessage(
      JSON.stringify({ type: "tool_result", request_id: "r1", results: 5 }),
    );
    assert.ok(!result.ok && result.requestId === "r1");
  });
});

Deno.test("frameIdOf() follows docs/protocol.md §2.3", () => {
  assert.equal(frameIdOf("s1", 4), "s1");
  assert.equal(frameIdOf("", 4), "4");
  assert.equal(frameIdOf(null, 4), "4");
  assert.equal(frameIdOf(undefined, undefined), "0");
  assert.equal(frameIdOf("", "7"), "0");
});

Deno.test("encodeServerMessage() writes JSON that the server schema accepts", () => {
  const text = encodeServerMessage({
    type: "server_error",
    code: "NO_CONTEXT",
    message: "m",
    retryable: true,
    frame_id: "f",
  });
  assert.deepEqual(ServerMessage.parse(JSON.parse(text)), JSON.parse(text));
});

Deno.test("docs/protocol.schema.json is up to date (run `deno task schema` to refresh)", async () => {
  const committed = await Deno.readTextFile(
    new URL("../../docs/protocol.schema.json", import.meta.url),
  );
  assert.equal(committed, protocolJsonSchemaText());
  const schema = JSON.parse(committed);
  for (const type of ["client_hello", "frame_event", "tool_result", "heartbeat"]) {
    assert.ok(JSON.stringify(schema.$defs.ClientMessage).includes(`"${type}"`), type);
  }
  for (
    const type of [
      "session_ready",
      "tool_call_request",
      "analysis_outcome",
      "server_error",
      "tool_call_cancel",
      "go_away",
    ]
  ) {
    assert.ok(JSON.stringify(schema.$defs.ServerMessage).includes(`"${type}"`), type);
  }
});

Deno.test("decodeClientMessage() leaves malformed context items out instead of refusing", () => {
  const result = decodeClientMessage(JSON.stringify({
    type: "client_hello",
    session_context: {
      active_tasks: [
        { task_id: 1, description: "fine", priority: "high", relevance_score: 2 },
        { task_id: 2, description: "fractional rank", relevance_score: 1.5 },
      ],
      goals: [{ goal_id: 1, title: "numeric id" }, { goal_id: "g", title: "ok" }],
    },
  }));
  assert.ok(result.ok);
  if (!result.ok || result.message.type !== "client_hello") return;
  assert.equal(result.droppedContextItems, 2);
  assert.deepEqual(result.message.session_context?.active_tasks?.map((t) => t.task_id), [1]);
  assert.deepEqual(result.message.session_context?.goals?.map((g) => g.goal_id), ["g"]);
});

Deno.test("decodeClientMessage() skips a frame's context the session already holds", () => {
  const frame = JSON.stringify({
    type: "frame_event",
    frame_number: 1,
    context_version: "v3",
    session_context: { active_tasks: [{ task_id: "not an int", description: "x" }] },
  });
  const known = decodeClientMessage(frame, { knownContextVersion: "v3" });
  assert.ok(known.ok && known.message.type === "frame_event");
  if (known.ok && known.message.type === "frame_event") {
    assert.equal(known.message.session_context, undefined);
    assert.equal(known.droppedContextItems, 0);
  }
  const fresh = decodeClientMessage(frame, { knownContextVersion: "v2" });
  assert.ok(fresh.ok);
  if (fresh.ok) assert.equal(fresh.droppedContextItems, 1, "a new version is validated");
});

Deno.test("decodeClientMessage() reads a tool_result with a second type as JSON does", () => {
  const text = '{"type":"tool_result","type":"frame_event","frame_number":7,"app_name":"Mail"}';
  const decoded = decodeClientMessage(text, { awaitedRequestId: null });
  assert.ok(decoded.ok);
  assert.equal(decoded.message.type, "frame_event");
  // One type only: dropped unread when nothing is awaited.
  const stray = decodeClientMessage('{"type":"tool_result" no JSON', { awaitedRequestId: null });
  assert.ok(stray.ok && stray.discarded);
});

Deno.test("decodeClientMessage() names the awaited tool_result past a bound, and only it", () => {
  const deep = "[".repeat(40) + "]".repeat(40);
  const text = (id: string) => `{"type":"tool_result","request_id":"${id}","x":${deep}}`;
  const awaited = decodeClientMessage(text("r-1"), { awaitedRequestId: "r-1" });
  assert.ok(!awaited.ok);
  assert.equal(awaited.type, "tool_result");
  assert.equal(awaited.requestId, "r-1");
  // Another id, or nothing awaited: an unreadable message like any other.
  const other = decodeClientMessage(text("r-2"), { awaitedRequestId: "r-1" });
  assert.ok(!other.ok);
  assert.equal(other.type, undefined);
  // A frame that merely holds the id in its text is not taken for the result.
  const frame = decodeClientMessage(
    `{"type":"frame_event","ocr_text":"r-1","x":${deep}}`,
    { awaitedRequestId: "r-1" },
  );
  assert.ok(!frame.ok);
  assert.equal(frame.type, undefined);
});
