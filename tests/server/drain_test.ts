import assert from "node:assert/strict";
import { rawUpgrade } from "../fakes/fake_client.ts";
import { call, delay, ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";

const SLOW_NO_TASK = {
  call: { name: "no_task_found", args: { context_summary: "s", current_activity: "a" } },
  delayMs: 300,
};

function frame(n: number) {
  return { type: "frame_event", frame_number: n, app_name: "Mail", ocr_text: "hello" };
}

Deno.test("drain: the running frame finishes, then the socket closes with 1001", async (t) => {
  await t.step("v1.1: go_away, the running frame's outcome, SHUTTING_DOWN, 1001", async () => {
    const model = new ScriptedModel([SLOW_NO_TASK]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    await client.hello({ protocol_version: "1.1", session_context: {} });
    client.send(frame(1));
    client.send(frame(2)); // waiting behind frame 1 when the drain starts
    while (model.calls.length === 0) await delay(5);

    const drained = server.server.drain(10_000, 2_500);
    const goAway = await client.expect("go_away");
    assert.equal(goAway.reconnect_after_ms, 2_500);
    const ready = await fetch(`${server.baseUrl}/readyz`);
    assert.equal(ready.status, 503);
    await ready.body?.cancel();
    client.send(frame(3)); // arrives while draining

    assert.equal((await client.expect("analysis_outcome")).frame_id, "1");
    const refused = await client.expect("server_error");
    assert.deepEqual([refused.code, refused.retryable, refused.frame_id], [
      "SHUTTING_DOWN",
      false,
      "2",
    ]);
    assert.equal(await client.closed, 1001);
    assert.equal(await drained, 0, "nobody had to be cut off");
    assert.equal(model.calls.length, 1, "frames 2 and 3 never reached the model");
  });

  await t.step("v1.0: no go_away; an idle session closes at once", async () => {
    await using server = startTestServer({ model: new ScriptedModel([]) });
    await using client = await server.connect();
    await client.hello();
    const started = performance.now();
    assert.equal(await server.server.drain(10_000), 0);
    assert.equal(await client.closed, 1001);
    assert.ok(performance.now() - started < 5_000);
  });

  await t.step("v1.1: a tool wait cut off by the budget gets tool_call_cancel first", async () => {
    const model = new ScriptedModel([call("search_keywords", { query: "q" })]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    await client.hello({ protocol_version: "1.1", session_context: {} });
    client.send(frame(1));
    const request = await client.expect("tool_call_request");
    const drained = server.server.drain(200);
    assert.equal((await client.expect("go_away")).type, "go_away");
    const cancel = await client.expect("tool_call_cancel");
    assert.deepEqual([cancel.request_id, cancel.reason], [request.request_id, "shutdown"]);
    assert.equal((await client.expect("server_error")).code, "SHUTTING_DOWN");
    assert.equal(await client.closed, 1001);
    assert.equal(await drained, 1);
  });

  await t.step("new upgrades are refused with 503 while draining", async () => {
    const model = new ScriptedModel([{ hang: true }]);
    await using server = startTestServer({ model });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    while (model.calls.length === 0) await delay(5);
    const drained = server.server.drain(300);
    const response = await rawUpgrade(server.wsUrl);
    assert.equal(response.status, 503);
    await response.body?.cancel();
    // The hung frame outlives the drain budget: it gets SHUTTING_DOWN, then 1001.
    assert.equal(await drained, 1);
    const cut = await client.expect("server_error");
    assert.deepEqual([cut.code, cut.retryable, cut.frame_id], ["SHUTTING_DOWN", false, "1"]);
    assert.equal(await client.closed, 1001);
    await model.sawAbort();
  });
});
