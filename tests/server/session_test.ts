import assert from "node:assert/strict";
import { call, delay, gated, ScriptedModel, type Step } from "../fakes/fake_model.ts";
import { startTestServer, TEST_LIMITS } from "../fakes/test_server.ts";

const CONTEXT = {
  active_tasks: [{
    task_id: 7,
    description: "Send Q3 report",
    priority: "high",
    relevance_score: 1,
  }],
  completed_tasks: [],
  deleted_tasks: [],
  goals: [{ goal_id: "g1", title: "Ship v2", description: "" }],
};

function frame(n: number, fields: Record<string, unknown> = {}) {
  return {
    type: "frame_event",
    frame_number: n,
    screenshot_id: `shot-${n}`,
    app_name: "Slack",
    window_title: "#general",
    ocr_text: "Can you send me the Q3 report by Friday?",
    ...fields,
  };
}

const NO_TASK = call("no_task_found", { context_summary: "chat", current_activity: "Chatting" });

Deno.test("session: handshake", async (t) => {
  await using server = startTestServer({ model: new ScriptedModel([]) });
  await t.step("session_ready carries the protocol fields", async () => {
    await using client = await server.connect();
    const ready = await client.hello({ context_version: "v7", session_context: CONTEXT });
    assert.match(ready.session_id, /^[0-9a-f-]{36}$/);
    assert.equal(ready.protocol_version, "1.0");
    assert.equal(ready.context_version, "v7");
    assert.equal(ready.max_model_iterations, 5);
    assert.deepEqual(ready.supported_tool_kinds, ["search_similar", "search_keywords"]);
    assert.equal(ready.max_message_bytes, TEST_LIMITS.maxMessageBytes, "ours, additive");
  });
  await t.step("a repeated hello keeps the session_id", async () => {
    await using client = await server.connect();
    const first = await client.hello();
    const second = await client.hello({ context_version: "v2" });
    assert.equal(second.session_id, first.session_id);
    assert.equal(second.context_version, "v2");
  });
  await t.step("missing protocol_version means 1.0; 1.1 is negotiated", async () => {
    await using a = await server.connect();
    a.send({ type: "client_hello" });
    assert.equal((await a.expect("session_ready")).protocol_version, "1.0");
    await a.expectSilence(100);
    await using b = await server.connect();
    assert.equal((await b.hello({ protocol_version: "1.1" })).protocol_version, "1.1");
    assert.equal((await b.hello({ protocol_version: "2.0" })).protocol_version, "1.1");
  });
});

Deno.test("session: context", async (t) => {
  await t.step("a frame before any context gets NO_CONTEXT and the session goes on", async () => {
    const model = new ScriptedModel([NO_TASK]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    client.send({ type: "client_hello", protocol_version: "1.0" });
    await client.expect("session_ready");
    client.send(frame(1));
    const err = await client.expect("server_error");
    assert.deepEqual(
      { code: err.code, retryable: err.retryable, frame_id: err.frame_id },
      { code: "NO_CONTEXT", retryable: true, frame_id: "shot-1" },
    );
    client.send(frame(2, { context_version: "v1", session_context: {} }));
    assert.equal((await client.expect("analysis_outcome")).frame_id, "shot-2");
    assert.equal(model.calls.length, 1);
  });
  await t.step("a frame's newer context is used by that frame and kept", async () => {
    const seen: Array<number | undefined> = [];
    const record: Step = (c) => {
      seen.push(c.request.context.active_tasks?.[0]?.task_id);
      return Promise.resolve({
        functionCall: { name: "no_task_found", args: {} },
        content: {},
        usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
      });
    };
    await using server = startTestServer({ model: new ScriptedModel([record, record, record]) });
    await using client = await server.connect();
    await client.hello({ context_version: "v1", session_context: CONTEXT });
    const v2 = { active_tasks: [{ task_id: 99, description: "New task", priority: "low" }] };
    client.send(frame(1, { context_version: "v2", session_context: v2 }));
    await client.expect("analysis_outcome");
    client.send(frame(2));
    await client.expect("analysis_outcome");
    // Same version again with other content: not a refresh.
    client.send(frame(3, { context_version: "v2", session_context: CONTEXT }));
    await client.expect("analysis_outcome");
    assert.deepEqual(seen, [99, 99, 99]);
  });
});

Deno.test("session: tool calls", async (t) => {
  await t.step("search → tool_result → extract, heartbeats silent during the wait", async () => {
    const model = new ScriptedModel([
      call("search_keywords", { query: "Q3 report" }),
      call("extract_task", { title: "Send Q3 report", priority: "high", confidence: 0.9 }),
    ]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    await client.hello({ session_context: CONTEXT });
    client.send({ type: "heartbeat" });
    client.send(frame(1));
    const request = await client.expect("tool_call_request");
    assert.equal(request.tool_kind, "search_keywords");
    assert.equal(request.query, "Q3 report");
    assert.equal(request.frame_id, "shot-1");
    assert.equal(request.deadline_ms, 5_000);
    client.send({ type: "heartbeat" });
    client.send({ type: "heartbeat" });
    await client.expectSilence(100);
    // A result for another request is discarded, silently.
    client.send({ type: "tool_result", request_id: "not-it", frame_id: "shot-1", results: [] });
    await client.expectSilence(100);
    assert.equal(model.calls.length, 1);
    client.send({
      type: "tool_result",
      request_id: request.request_id,
      frame_id: "shot-1",
      results: [{
        task_id: 3,
        description: "Other",
        status: "completed",
        similarity: 0,
        match_type: "fts",
        relevance_score: 0,
      }],
    });
    const outcome = await client.expect("analysis_outcome");
    assert.equal(outcome.outcome_kind, "extract_task");
    assert.equal(outcome.usage.tool_calls, 1);
    const turn = model.calls[1]?.turns[1];
    assert.ok(turn?.role === "tool" && turn.results[0]?.task_id === 3);
    client.send({ type: "heartbeat" });
    await client.expectSilence(100);
  });

  await t.step("v1.1 gets tool_call_cancel on a tool deadline, v1.0 never does", async () => {
    for (const version of ["1.1", "1.0"]) {
      const model = new ScriptedModel([call("search_similar", { query: "q" })]);
      await using server = startTestServer({ model, limits: { toolResultTimeoutMs: 100 } });
      await using client = await server.connect();
      await client.hello({ protocol_version: version, session_context: CONTEXT });
      client.send(frame(1));
      const request = await client.expect("tool_call_request");
      if (version === "1.1") {
        const cancel = await client.expect("tool_call_cancel");
        assert.equal(cancel.request_id, request.request_id);
        assert.equal(cancel.frame_id, "shot-1");
      }
      const outcome = await client.expect("analysis_outcome");
      assert.equal(outcome.outcome_kind, "no_task_found");
      assert.match(outcome.context_summary, /did not answer in time/);
      // A late result for the cancelled call is ignored.
      client.send({ type: "tool_result", request_id: request.request_id, results: [] });
      await client.expectSilence(100);
    }
  });

  await t.step(
    "a malformed result for the pending call ends the wait as a search error",
    async () => {
      const model = new ScriptedModel([call("search_similar", { query: "q" }), NO_TASK]);
      await using server = startTestServer({ model });
      await using client = await server.connect();
      await client.hello({ session_context: CONTEXT });
      client.send(frame(1));
      const request = await client.expect("tool_call_request");
      client.send({ type: "tool_result", request_id: request.request_id, results: "nope" });
      const outcome = await client.expect("analysis_outcome");
      assert.equal(outcome.frame_id, "shot-1");
      const turn = model.calls[1]?.turns[1];
      assert.ok(turn?.role === "tool" && /^Search error/.test(turn.output));
    },
  );
});

Deno.test("session: frames are sequential, one terminal each, in order", async (t) => {
  await t.step("pipelined frames each get exactly one terminal, in order", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => open = resolve);
    const model = new ScriptedModel([gated(gate), NO_TASK, NO_TASK]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    await client.hello({ session_context: CONTEXT });
    for (const n of [1, 2, 3]) client.send(frame(n));
    await delay(100);
    assert.equal(model.calls.length, 1, "one frame at a time");
    open();
    for (const n of [1, 2, 3]) {
      assert.equal((await client.expect("analysis_outcome")).frame_id, `shot-${n}`);
    }
    await client.expectSilence(100);
  });

  await t.step("a full queue drops the oldest waiting frame, in its place in line", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => open = resolve);
    const model = new ScriptedModel([gated(gate), NO_TASK, NO_TASK]);
    await using server = startTestServer({ model, limits: { maxPendingFrames: 2 } });
    await using client = await server.connect();
    await client.hello({ session_context: CONTEXT });
    client.send(frame(1)); // running
    await delay(50);
    client.send(frame(2)); // waiting
    client.send(frame(3)); // waiting
    client.send(frame(4)); // queue full: 2 is dropped
    await client.expectSilence(100); // nothing may overtake frame 1's outcome
    open();
    const got = [];
    for (let i = 0; i < 4; i++) {
      const m = await client.next();
      got.push(
        m.type === "analysis_outcome"
          ? `outcome ${m.frame_id}`
          : m.type === "server_error"
          ? `${m.code} ${m.frame_id}`
          : m.type,
      );
    }
    assert.deepEqual(got, [
      "outcome shot-1",
      "FRAME_DROPPED shot-2",
      "outcome shot-3",
      "outcome shot-4",
    ]);
    assert.equal(model.calls.length, 3);
  });

  await t.step('frame_id falls back to frame_number, then "0"', async () => {
    const model = new ScriptedModel([NO_TASK, NO_TASK]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    await client.hello({ session_context: CONTEXT });
    client.send(frame(12, { screenshot_id: "" }));
    assert.equal((await client.expect("analysis_outcome")).frame_id, "12");
    client.send({ type: "frame_event" });
    assert.equal((await client.expect("analysis_outcome")).frame_id, "0");
  });
});

Deno.test("session: junk gets INVALID_MESSAGE and the session goes on", async (t) => {
  const junk: Array<[string, string | Uint8Array, RegExp, string | undefined]> = [
    ["not JSON", "{nope", /not valid JSON/, undefined],
    ["not an object", "[1,2]", /must be a JSON object/, undefined],
    ["a JSON string", '"hello"', /must be a JSON object/, undefined],
    ["no type", "{}", /string "type"/, undefined],
    [
      "unknown type",
      '{"type":"launch_rockets"}',
      /Unknown message type "launch_rockets"/,
      undefined,
    ],
    [
      "wrong field type",
      JSON.stringify({ type: "frame_event", frame_number: 8, session_context: [] }),
      /"session_context" must be an object/,
      "8",
    ],
    [
      "frame with wrong type",
      JSON.stringify({ type: "frame_event", screenshot_id: "s9", app_name: 5 }),
      /Invalid "frame_event": "app_name" must be a string/,
      "s9",
    ],
    ["binary frame", new Uint8Array([1, 2, 3]), /Binary frames/, undefined],
  ];
  const model = new ScriptedModel(Array.from({ length: junk.length }, () => NO_TASK));
  await using server = startTestServer({ model });
  await using client = await server.connect();
  await client.hello({ session_context: CONTEXT });
  for (const [name, payload, pattern, frameId] of junk) {
    await t.step(name, async () => {
      client.sendRaw(payload);
      const err = await client.expect("server_error");
      assert.equal(err.code, "INVALID_MESSAGE");
      assert.equal(err.retryable, true);
      assert.match(err.message, pattern);
      assert.equal(err.frame_id, frameId);
      client.send(frame(1));
      assert.equal((await client.expect("analysis_outcome")).outcome_kind, "no_task_found");
    });
  }
});

Deno.test("session: limits and endings", async (t) => {
  await t.step("an oversize message closes the socket with 1009", async () => {
    await using server = startTestServer({
      model: new ScriptedModel([]),
      limits: { maxMessageBytes: 2048 },
    });
    await using client = await server.connect();
    await client.hello();
    client.send(frame(1, { ocr_text: "x".repeat(4096) }));
    assert.equal(await client.closed, 1009);
  });

  await t.step("the frame deadline ends in ANALYSIS_TIMEOUT and the session goes on", async () => {
    const model = new ScriptedModel([{ hang: true }, NO_TASK]);
    await using server = startTestServer({
      model,
      limits: { analysisTimeoutMs: 150, toolResultTimeoutMs: 100 },
    });
    await using client = await server.connect();
    await client.hello({ session_context: CONTEXT });
    client.send(frame(1));
    const err = await client.expect("server_error");
    assert.deepEqual([err.code, err.retryable, err.frame_id], ["ANALYSIS_TIMEOUT", true, "shot-1"]);
    client.send(frame(2));
    assert.equal((await client.expect("analysis_outcome")).frame_id, "shot-2");
  });

  await t.step("a disconnect during a tool wait aborts the model call", async () => {
    const model = new ScriptedModel([
      call("search_similar", { query: "q" }),
      call("search_similar", { query: "q2" }),
      { hang: true },
    ]);
    await using server = startTestServer({ model });
    const client = await server.connect();
    await client.hello({ session_context: CONTEXT });
    client.send(frame(1));
    const first = await client.expect("tool_call_request");
    client.send({ type: "tool_result", request_id: first.request_id, results: [] });
    await client.expect("tool_call_request");
    // Now waiting for a tool result: disconnect. The session must cancel the wait...
    await client.close();
    await delay(100);
    assert.equal(model.calls.length, 2, "no model call after the disconnect");
    assert.equal(server.registry.size, 0);
  });

  await t.step("a disconnect during a model call aborts it", async () => {
    const model = new ScriptedModel([{ hang: true }]);
    await using server = startTestServer({ model });
    const client = await server.connect();
    await client.hello({ session_context: CONTEXT });
    client.send(frame(1));
    while (model.calls.length === 0) await delay(10);
    await client.close();
    await model.sawAbort();
    assert.equal(model.calls[0]?.aborted, true);
  });
});
