/**
 * Defects an outside review reproduced against a real server over real sockets: messages that
 * cost unbounded work, frames that pin memory, and connections that never say hello.
 */
import assert from "node:assert/strict";
import type { AnalysisRequest } from "../../src/analysis/model.ts";
import { call, delay, gated, recording, ScriptedModel, type Step } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";
import { PrivacyGuard } from "../../src/frames/privacy.ts";
import { FRAME_TEXT_CHARS } from "../../src/protocol/text.ts";

const NO_TASK = call("no_task_found", { context_summary: "s", current_activity: "a" });

function frame(n: number, fields: Record<string, unknown> = {}) {
  return { type: "frame_event", frame_number: n, app_name: "Mail", ocr_text: "hi", ...fields };
}

Deno.test("a connection that never says hello is closed with 1008", async () => {
  await using server = startTestServer({
    model: new ScriptedModel([]),
    limits: { helloTimeoutMs: 300 },
  });
  await using client = await server.connect();
  client.send(frame(1));
  assert.equal((await client.expect("server_error")).code, "NO_CONTEXT");
  assert.equal(await client.closed, 1008);
  assert.match(server.metrics.render(), /^proactive_hello_timeouts_total 1$/m);
  // A session that said hello in time is not closed by the same timer.
  await using late = await server.connect();
  await late.hello({ session_context: {} });
  await late.expectSilence(600);
});

Deno.test("a frame whose deadline passed while it waited never reaches the model", async () => {
  // Frame 0's model step lets frame 1 arrive, then holds the event loop past the deadline
  // (a stalled process): frame 1 has no time left when its turn comes.
  const stall: Step = async () => {
    await delay(300);
    const until = performance.now() + 700;
    while (performance.now() < until) { /* busy */ }
    return {
      functionCall: { name: "no_task_found", args: {} },
      content: {},
      usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 },
    };
  };
  const model = new ScriptedModel([stall]);
  await using server = startTestServer({
    model,
    limits: {
      analysisTimeoutMs: 500,
      toolResultTimeoutMs: 100,
      privacy: new PrivacyGuard({ skipApps: ["1Password"], skipTitles: [], redactContacts: false }),
    },
  });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.send(frame(0));
  // Out of time before its turn: the deadline decides first, not the privacy guard's skip.
  client.send(frame(1, { app_name: "1Password" }));
  const first = await client.next();
  assert.equal(first.type === "analysis_outcome" || first.type === "server_error", true);
  const second = await client.expect("server_error");
  assert.deepEqual([second.code, second.frame_id], ["ANALYSIS_TIMEOUT", "1"]);
  assert.equal(model.calls.length, 1, "frame 1 never called the model");
});

Deno.test("waiting frames hold at most maxPendingBytes; the oldest gives way", async (t) => {
  const image = "A".repeat(300_000);
  await t.step("a third waiting 300 KB frame pushes out the first under a 700 KB cap", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const seen: AnalysisRequest[] = [];
    const model = new ScriptedModel([
      gated(gate),
      recording(seen),
      recording(seen),
      recording(seen),
    ]);
    await using server = startTestServer({ model, limits: { maxPendingBytes: 700_000 } });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(0));
    for (let n = 1; n <= 3; n++) client.send(frame(n, { jpeg_base64: image }));
    await client.expectSilence(200);
    release();
    // Terminals keep the frames' order: the dropped frame's comes in its place.
    const terminals = [];
    for (let i = 0; i < 4; i++) {
      const m = await client.next();
      terminals.push(
        m.type === "server_error"
          ? `${m.frame_id}:${m.code}`
          : `${m.type === "analysis_outcome" ? m.frame_id : m.type}`,
      );
    }
    assert.deepEqual(terminals, ["0", "1:FRAME_DROPPED", "2", "3"]);
    assert.equal(seen.length, 2);
    assert.ok(seen.every((r) => r.frame.jpegBase64 === undefined), "images released after use");
  });
  await t.step("a waiting frame bigger than the cap on its own is dropped itself", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const model = new ScriptedModel([gated(gate), NO_TASK, NO_TASK]);
    await using server = startTestServer({ model, limits: { maxPendingBytes: 100_000 } });
    await using client = await server.connect();
    await client.hello({ session_context: {} });
    client.send(frame(0));
    client.send(frame(1, { jpeg_base64: "B".repeat(40_000) }));
    client.send(frame(2, { jpeg_base64: image }));
    await client.expectSilence(200);
    release();
    assert.equal((await client.expect("analysis_outcome")).frame_id, "0");
    // The small waiting frame stays: only the oversized one gives way.
    assert.equal((await client.expect("analysis_outcome")).frame_id, "1");
    const dropped = await client.expect("server_error");
    assert.deepEqual([dropped.code, dropped.frame_id], ["FRAME_DROPPED", "2"]);
    // An idle session analyses the same frame: the cap is on waiting, not on size.
    client.send(frame(3, { jpeg_base64: image }));
    assert.equal((await client.expect("analysis_outcome")).frame_id, "3");
  });
});

Deno.test("context lists are cut to their caps, counted, and the rest never examined", async () => {
  const seen: AnalysisRequest[] = [];
  const model = new ScriptedModel([recording(seen)]);
  await using server = startTestServer({
    model,
    limits: { listCaps: { activeTasks: 5, pastTasks: 2, goals: 1, toolResults: 2 } },
  });
  await using client = await server.connect();
  const tasks = Array.from({ length: 8 }, (_, i) => ({ task_id: i, description: `t${i}` }));
  // Past the caps, items that are not even tasks: never looked at, so never "malformed".
  const junk = Array.from({ length: 100_000 }, () => 0);
  client.send({
    type: "client_hello",
    session_context: {
      active_tasks: [...tasks, ...junk],
      completed_tasks: [...tasks.slice(0, 2), ...junk],
      goals: [{ goal_id: "g", title: "t" }, ...junk],
    },
  });
  await client.expect("session_ready");
  client.send(frame(1));
  await client.expect("analysis_outcome");
  const context = seen[0]!.context;
  assert.deepEqual(context.active_tasks?.map((t) => t.task_id), [0, 1, 2, 3, 4]);
  assert.equal(context.completed_tasks?.length, 2);
  assert.equal(context.goals?.length, 1);
  const text = server.metrics.render();
  assert.match(
    text,
    /^proactive_message_list_items_cut_total\{list="session_context.active_tasks"\} 100003$/m,
  );
  assert.match(
    text,
    /^proactive_message_list_items_cut_total\{list="session_context.completed_tasks"\} 100000$/m,
  );
});

Deno.test("a message nested too deep gets INVALID_MESSAGE, and the session goes on", async () => {
  await using server = startTestServer({ model: new ScriptedModel([NO_TASK]) });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.sendRaw(`{"type":"frame_event","x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
  const error = await client.expect("server_error");
  assert.equal(error.code, "INVALID_MESSAGE");
  assert.match(error.message, /nests deeper than 32 levels/);
  client.send(frame(1));
  assert.equal((await client.expect("analysis_outcome")).frame_id, "1");
});

Deno.test("a client that floods messages before its hello is closed with 1008", async () => {
  await using server = startTestServer({ model: new ScriptedModel([]) });
  await using client = await server.connect();
  for (let n = 0; n < 100; n++) client.send(frame(n));
  const codes: string[] = [];
  for (;;) {
    const message = await client.next().catch(() => undefined);
    if (!message) break;
    if (message.type === "server_error") codes.push(message.code);
  }
  // 1008, or a reset when the server closes with the flood still unread in its buffer.
  const code = await client.closed;
  assert.ok([1008, 1006, 0].includes(code), `closed with ${code}`);
  assert.ok(codes.length >= 1 && codes.length <= 64, `${codes.length} answers`);
  assert.ok(codes.every((code) => code === "NO_CONTEXT"));
});

Deno.test("megabytes of token-like OCR text: the frame gets its outcome, cut and redacted", async () => {
  // A regular expression over ~6 million characters after `token:` exhausted V8's stack: the
  // frame never got a terminal and the rejection ended the process.
  const seen: AnalysisRequest[] = [];
  await using server = startTestServer({
    model: new ScriptedModel([recording(seen), recording(seen)]),
    limits: {
      maxMessageBytes: 16 * 1024 * 1024,
      privacy: new PrivacyGuard({ skipApps: [], skipTitles: [], redactContacts: false }),
    },
  });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  client.send(frame(1, { ocr_text: `token: ${alphabet.repeat(100_000)}` }));
  const outcome = await client.expect("analysis_outcome");
  assert.equal(outcome.outcome_kind, "no_task_found");
  assert.equal(seen.length, 1);
  const ocr = seen[0]!.frame.ocrText;
  assert.ok(ocr.length <= FRAME_TEXT_CHARS.ocr, `${ocr.length} characters reached the model`);
  assert.match(ocr, /^token: \[redacted:api_key\]/);
  // The session goes on.
  client.send(frame(2));
  assert.equal((await client.expect("analysis_outcome")).frame_id, "2");
});

Deno.test("a stage that throws before the model still ends its frame with INTERNAL", async () => {
  class BrokenGuard extends PrivacyGuard {
    override check(): never {
      throw new RangeError("Maximum call stack size exceeded");
    }
  }
  await using server = startTestServer({
    model: new ScriptedModel([NO_TASK]),
    limits: { privacy: new BrokenGuard({ skipApps: [], skipTitles: [], redactContacts: false }) },
  });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.send(frame(1));
  const error = await client.expect("server_error");
  assert.equal(error.code, "INTERNAL");
  assert.equal(error.frame_id, "1");
  assert.doesNotMatch(error.message, /stack/i);
});

Deno.test("an awaited tool_result past a decoding bound is a failed search, not an error", async () => {
  const model = new ScriptedModel([call("search_keywords", { query: "q" }), NO_TASK]);
  await using server = startTestServer({ model, limits: { toolResultTimeoutMs: 60_000 } });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.send(frame(1));
  const request = await client.expect("tool_call_request");
  const deep = "[".repeat(40) + "]".repeat(40);
  client.sendRaw(
    `{"type":"tool_result","request_id":"${request.request_id}","results":[],"x":${deep}}`,
  );
  assert.equal((await client.expect("analysis_outcome")).frame_id, "1");
  const turn = model.calls[1]!.turns.at(-1)!;
  assert.equal(turn.role, "tool");
  assert.match(JSON.stringify(turn), /malformed/);
  await client.expectSilence(300);
});

Deno.test("a tool_result with a second type is read as what JSON makes of it", async () => {
  await using server = startTestServer({ model: new ScriptedModel([NO_TASK]) });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.sendRaw(
    '{"type":"tool_result","type":"frame_event","frame_number":7,"app_name":"Mail","ocr_text":"x"}',
  );
  assert.equal((await client.expect("analysis_outcome")).frame_id, "7");
  // Without a second type it is still dropped unread (nothing is awaited).
  client.sendRaw('{"type":"tool_result" and no JSON after it');
  await client.expectSilence(300);
});
