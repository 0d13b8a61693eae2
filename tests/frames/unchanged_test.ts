/**
 * Unchanged screens are answered without a model call: the same text and image, or the same
 * text and `screen_hash`es a few bits apart, within the window and under the same context.
 */
import assert from "node:assert/strict";
import { hammingDistance, parseScreenHash, screenPrint } from "../../src/frames/unchanged.ts";
import { call, delay, ScriptedModel, type Step } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";
import type { FakeClient } from "../fakes/fake_client.ts";

const NO_TASK = call("no_task_found", {
  context_summary: "mail",
  current_activity: "Reading mail",
});

function frame(n: number, fields: Record<string, unknown> = {}) {
  return {
    type: "frame_event",
    frame_number: n,
    app_name: "Mail",
    window_title: "Inbox",
    ocr_text: "Newsletter: ten tips for spring",
    jpeg_base64: "QUJDRA==",
    ...fields,
  };
}

async function outcome(client: FakeClient) {
  return await client.expect("analysis_outcome");
}

const LIMITS = { skipUnchangedMs: 60_000, skipHashDistance: 4 };

Deno.test("an unchanged screen is answered without a model call", async (t) => {
  await t.step("same text (whitespace aside) and the same image: skipped", async () => {
    const model = new ScriptedModel([NO_TASK, NO_TASK]);
    await using server = startTestServer({ model, limits: LIMITS });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    const first = await outcome(client);
    assert.equal(first.usage.model_calls, 1);
    client.send(frame(2, { ocr_text: "  Newsletter:\nten tips   for spring " }));
    const second = await outcome(client);
    assert.equal(second.outcome_kind, "no_task_found");
    assert.equal(second.frame_id, "2");
    assert.equal(second.usage.model_calls, 0);
    assert.equal(second.usage.skipped, "unchanged_screen");
    assert.equal(second.current_activity, "Reading mail", "the last analysis's activity");
    assert.match(second.context_summary, /unchanged/);
    assert.equal(model.calls.length, 1);
    assert.match(
      server.metrics.render(),
      /proactive_frames_skipped_total\{reason="unchanged_screen"\} 1/,
    );
    // Other text or another image is a new screen.
    client.send(frame(3, { jpeg_base64: "QUJDRQ==" }));
    assert.equal((await outcome(client)).usage.model_calls, 1);
  });

  await t.step("screen_hash: the same text and hashes at most 4 bits apart", async () => {
    const model = new ScriptedModel([NO_TASK, NO_TASK, NO_TASK]);
    await using server = startTestServer({ model, limits: LIMITS });
    await using client = await server.connect();
    await client.hello({ protocol_version: "1.1", session_context: {} });
    client.send(frame(1, { screen_hash: "00000000000000ff", jpeg_base64: "AAAA" }));
    await outcome(client);
    // Other JPEG bytes (re-encoded), 4 bits apart: the same screen.
    client.send(frame(2, { screen_hash: "000000000000000f", jpeg_base64: "BBBB" }));
    assert.equal((await outcome(client)).usage.skipped, "unchanged_screen");
    // 5 bits apart: a new screen.
    client.send(frame(3, { screen_hash: "00000000000001f0", jpeg_base64: "CCCC" }));
    assert.equal((await outcome(client)).usage.model_calls, 1);
    // A malformed hash counts as absent: other bytes are then another screen.
    client.send(frame(4, { screen_hash: "not-a-hash", jpeg_base64: "DDDD" }));
    assert.equal((await outcome(client)).usage.model_calls, 1);
    assert.equal(model.calls.length, 3);
  });

  await t.step("only within the window, and only under the same context", async () => {
    const model = new ScriptedModel([NO_TASK, NO_TASK, NO_TASK]);
    await using server = startTestServer({ model, limits: { ...LIMITS, skipUnchangedMs: 300 } });
    await using client = await server.connect();
    await client.hello({ context_version: "c1", session_context: {} });
    client.send(frame(1));
    await outcome(client);
    await delay(400);
    client.send(frame(2));
    assert.equal((await outcome(client)).usage.model_calls, 1, "the window has passed");
    client.send(frame(3, { context_version: "c2", session_context: { active_tasks: [] } }));
    assert.equal((await outcome(client)).usage.model_calls, 1, "a new context");
    assert.equal(model.calls.length, 3);
  });

  await t.step("a context given again, even without a version, is a new context", async () => {
    const model = new ScriptedModel([NO_TASK, NO_TASK, NO_TASK]);
    await using server = startTestServer({ model, limits: LIMITS });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    await outcome(client);
    // The same context again, as Omi sends it with every frame: not a new one.
    client.send(frame(2, { session_context: {} }));
    assert.equal((await outcome(client)).usage.skipped, "unchanged_screen");
    await client.hello({
      session_context: { active_tasks: [{ task_id: 1, description: "Read the newsletter" }] },
    });
    client.send(frame(3));
    assert.equal((await outcome(client)).usage.model_calls, 1, "the hello replaced the context");
    assert.equal(model.calls.length, 2);
  });

  await t.step("a failed frame is never a reason to skip the next", async () => {
    const fail: Step = { throws: new Error("boom") };
    const model = new ScriptedModel([fail, NO_TASK, fail, NO_TASK]);
    await using server = startTestServer({ model, limits: LIMITS });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    assert.equal((await client.expect("server_error")).code, "GEMINI_ERROR");
    client.send(frame(2));
    assert.equal((await outcome(client)).usage.model_calls, 1, "nothing was remembered");
    client.send(frame(3));
    assert.equal((await outcome(client)).usage.skipped, "unchanged_screen");
    client.send(frame(4, { ocr_text: "Something else" }));
    assert.equal((await client.expect("server_error")).code, "GEMINI_ERROR");
    client.send(frame(5));
    assert.equal((await outcome(client)).usage.model_calls, 1, "the failure forgot the screen");
  });

  await t.step("off when the window is 0", async () => {
    const model = new ScriptedModel([NO_TASK, NO_TASK]);
    await using server = startTestServer({ model, limits: { skipUnchangedMs: 0 } });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(1));
    await outcome(client);
    client.send(frame(2));
    assert.equal((await outcome(client)).usage.model_calls, 1);
  });
});

Deno.test("screen hashes: 16 hex characters, compared bit by bit", () => {
  assert.equal(parseScreenHash("00000000000000FF"), 255n);
  for (const bad of ["", "ff", "0000000000000000f", "zzzzzzzzzzzzzzzz", null, undefined]) {
    assert.equal(parseScreenHash(bad), undefined, String(bad));
  }
  assert.equal(hammingDistance(0n, 0n), 0);
  assert.equal(hammingDistance(0xffn, 0x0fn), 4);
  assert.equal(hammingDistance(0xffffffffffffffffn, 0n), 64);
});

Deno.test("screenPrint() tells apart screens whose fields only join alike", () => {
  const print = (appName: string, windowTitle: string, ocrText: string) =>
    screenPrint({ frameId: "1", appName, windowTitle, ocrText }).text;
  // A NUL inside a field is not a field boundary.
  assert.notEqual(
    print("Mail", "Inbox", "pay\u0000invoice"),
    print("Mail", "Inbox\u0000pay", "invoice"),
  );
  // Lone surrogates are not all U+FFFD.
  assert.notEqual(print("Notes", "n", "todo \ud800"), print("Notes", "n", "todo \udfff"));
  // Whitespace is still normalised.
  assert.equal(
    print("Mail", "Inbox", " pay  the\ninvoice "),
    print("Mail", "Inbox", "pay the invoice"),
  );
});
