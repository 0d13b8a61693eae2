/**
 * What a client that reads "until the next terminal" must never see: a message before
 * `session_ready`, or an error that lands between a frame's tool call and its outcome.
 */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { call, delay, ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";

const NO_TASK = call("no_task_found", { context_summary: "s", current_activity: "a" });

function frame(n: number) {
  return { type: "frame_event", frame_number: n, app_name: "Mail", ocr_text: "hello" };
}

Deno.test("session: nothing is sent before session_ready but the answers to early messages", async (t) => {
  await t.step("a frame and junk sent before the hello are answered at once", async () => {
    const model = new ScriptedModel([NO_TASK]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    client.send({ ...frame(1), session_context: {} });
    const early = await client.expect("server_error");
    assert.deepEqual([early.code, early.frame_id, early.retryable], ["NO_CONTEXT", "1", true]);
    client.sendRaw("not json");
    assert.equal((await client.expect("server_error")).code, "INVALID_MESSAGE");
    client.send({ type: "tool_result", request_id: "r", results: [] });
    client.send({ type: "heartbeat" });
    await client.expectSilence(100);
    assert.equal(model.calls.length, 0, "the early frame never reached the model");
    const ready = await client.hello();
    assert.equal(ready.type, "session_ready");
    client.send(frame(2));
    assert.equal((await client.expect("analysis_outcome")).frame_id, "2");
    await client.expectSilence(100);
  });
  await t.step("a hello with one malformed task still gets session_ready", async () => {
    await using server = startTestServer({ model: new ScriptedModel([]) });
    await using client = await server.connect();
    const ready = await client.hello({
      session_context: {
        active_tasks: [
          { task_id: 1, description: "ok", priority: "high" },
          { task_id: 2, description: "bad rank", relevance_score: 2.5 },
        ],
      },
    });
    assert.equal(ready.type, "session_ready");
  });
  await t.step("a hello with wrongly typed fields still gets session_ready", async () => {
    await using server = startTestServer({ model: new ScriptedModel([]) });
    await using client = await server.connect();
    client.send({ type: "client_hello", app_version: 26, session_context: [] });
    assert.equal((await client.expect("session_ready")).type, "session_ready");
    client.send(frame(1));
    assert.equal(
      (await client.expect("server_error")).code,
      "NO_CONTEXT",
      "its context was left out",
    );
  });
});

Deno.test("session: no error lands inside a running frame", async (t) => {
  await t.step("junk during a tool wait is answered after the frame's outcome", async () => {
    const model = new ScriptedModel([call("search_keywords", { query: "q" }), NO_TASK]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    const request = await client.expect("tool_call_request");
    client.sendRaw("{broken");
    client.send({ type: "tool_result", request_id: request.request_id, results: [] });
    assert.equal((await client.expect("analysis_outcome")).frame_id, "1");
    assert.equal((await client.expect("server_error")).code, "INVALID_MESSAGE");
  });
  await t.step("a malformed stale tool_result is discarded silently", async () => {
    const model = new ScriptedModel([call("search_keywords", { query: "q" }), NO_TASK]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    const request = await client.expect("tool_call_request");
    client.send({
      type: "tool_result",
      request_id: "some-old-request",
      results: [{ task_id: 1, description: "d", status: "archived" }],
    });
    client.send({ type: "tool_result", request_id: request.request_id, results: [] });
    assert.equal((await client.expect("analysis_outcome")).frame_id, "1");
    await client.expectSilence(100);
  });
});

Deno.test("session: deadlines as the client sees them", async (t) => {
  await t.step("deadline_ms never promises more than the frame has left", async () => {
    const model = new ScriptedModel([call("search_keywords", { query: "q" })]);
    await using server = startTestServer({
      model,
      limits: { analysisTimeoutMs: 300, toolResultTimeoutMs: 5_000 },
    });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    const first = await client.expect("tool_call_request");
    assert.ok(first.deadline_ms <= 300, `announced ${first.deadline_ms}`);
    assert.equal((await client.expect("server_error")).code, "ANALYSIS_TIMEOUT");
  });
  await t.step("v1.1: the frame deadline during a tool wait sends tool_call_cancel", async () => {
    const model = new ScriptedModel([call("search_keywords", { query: "q" })]);
    await using server = startTestServer({
      model,
      limits: { analysisTimeoutMs: 200, toolResultTimeoutMs: 5_000 },
    });
    await using client = await server.connect();
    await client.hello({ protocol_version: "1.1", session_context: {} });
    client.send(frame(1));
    const request = await client.expect("tool_call_request");
    const cancel = await client.expect("tool_call_cancel");
    assert.deepEqual([cancel.request_id, cancel.frame_id], [request.request_id, "1"]);
    assert.equal((await client.expect("server_error")).code, "ANALYSIS_TIMEOUT");
  });
  await t.step("a disconnect ends a tool wait at once, not at its deadline", async () => {
    const lines: string[] = [];
    const model = new ScriptedModel([call("search_keywords", { query: "q" })]);
    await using server = startTestServer({
      model,
      limits: { analysisTimeoutMs: 120_000, toolResultTimeoutMs: 60_000 },
      log: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
    });
    const client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    await client.expect("tool_call_request");
    await client.close();
    const deadline = performance.now() + 5_000;
    while (!lines.some((l) => l.includes("frame cancelled")) && performance.now() < deadline) {
      await delay(10);
    }
    assert.ok(lines.some((l) => l.includes("frame cancelled")), "the frame ended");
    assert.equal(model.calls.length, 1);
  });
});
