/**
 * A whole WebSocket session over the real Gemini provider and the real SDK, pointed at the
 * fake Gemini server.
 */
import assert from "node:assert/strict";
import { createLogger, silentLogger } from "../../src/log.ts";
import { GeminiModel } from "../../src/models/gemini.ts";
import { DEFAULT_PRICES } from "../../src/models/prices.ts";
import { errorAnswer, FakeGemini, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { startTestServer } from "../fakes/test_server.ts";

const KEY = "AIzaSyD-very-secret-key-42";

function gemini(fake: FakeGemini) {
  return new GeminiModel({
    model: "gemini-2.5-flash",
    apiKey: KEY,
    baseUrl: fake.baseUrl,
    thinkingBudget: 0,
    price: DEFAULT_PRICES["gemini-2.5-flash"],
    retryBaseMs: 5,
    log: silentLogger,
  });
}

Deno.test("a WebSocket session runs search → tool result → extract over Gemini", async () => {
  await using fake = new FakeGemini([
    functionCallAnswer("search_keywords", { query: "Q3 report" }, { thoughtSignature: "sig-1" }),
    functionCallAnswer("extract_task", {
      title: "Send the Q3 report to Sarah",
      description: "Sarah asked for the Q3 report in #finance",
      priority: "high",
      tags: ["finance", "report"],
      inferred_deadline: "2026-11-27",
      confidence: 0.92,
      source_category: "message",
      source_subcategory: "direct_request",
      relevance_score: 1,
      context_summary: "Sarah asks for the Q3 report",
      current_activity: "Chatting in Slack",
    }),
  ]);
  await using server = startTestServer({ model: gemini(fake) });
  await using client = await server.connect();
  await client.hello({ context_version: "1", session_context: { active_tasks: [] } });
  client.send({
    type: "frame_event",
    frame_number: 1,
    screenshot_id: "shot-1",
    app_name: "Slack",
    window_title: "#finance",
    ocr_text: "Sarah: can you send me the Q3 report by Friday?",
    jpeg_base64: "/9j/4AAQSkZJRg==",
  });
  const request = await client.expect("tool_call_request");
  assert.equal(request.tool_kind, "search_keywords");
  client.send({
    type: "tool_result",
    request_id: request.request_id,
    frame_id: "shot-1",
    results: [],
  });
  const outcome = await client.expect("analysis_outcome");
  assert.equal(outcome.outcome_kind, "extract_task");
  if (outcome.outcome_kind === "extract_task") {
    assert.equal(outcome.task.title, "Send the Q3 report to Sarah");
    assert.equal(outcome.task.source_app, "Slack");
  }
  assert.equal(outcome.usage.model_calls, 2);
  assert.ok(outcome.usage.cost_usd > 0);
  assert.equal(fake.requests.length, 2);
  const second = fake.requests[1]!.body as {
    contents: Array<{ parts: Array<Record<string, unknown>> }>;
  };
  assert.equal(second.contents[1]!.parts[0]!.thoughtSignature, "sig-1");
});

Deno.test("an SDK error carrying the key reaches neither a log line nor the client", async () => {
  const leaky = {
    status: 400,
    json: {
      error: {
        code: 400,
        message: `API key not valid: ${KEY} (url https://x/?key=${KEY})`,
        status: "INVALID_ARGUMENT",
      },
    },
  };
  await using fake = new FakeGemini([leaky]);
  const lines: string[] = [];
  const log = createLogger({ level: "debug", sink: (line) => lines.push(line) });
  await using server = startTestServer({ model: gemini(fake), log });
  const received: string[] = [];
  await using client = await server.connect();
  client.socket.addEventListener("message", (e) => received.push(String(e.data)));
  await client.hello({ session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Mail", ocr_text: "hi" });
  const error = await client.expect("server_error");
  assert.deepEqual([error.code, error.message, error.retryable], [
    "GEMINI_ERROR",
    "Model request failed (HTTP 400)",
    true,
  ]);
  await client.close();
  assert.ok(lines.length > 0, "the session logged");
  for (const text of [...lines, ...received]) {
    assert.ok(!text.includes(KEY) && !text.includes("very-secret"), `leak in: ${text}`);
  }
  // And the key went where it belongs.
  assert.equal(fake.requests[0]!.headers.get("x-goog-api-key"), KEY);
});

Deno.test("503 three times ends the frame in GEMINI_ERROR and the session goes on", async () => {
  await using fake = new FakeGemini([
    errorAnswer(503),
    errorAnswer(503),
    errorAnswer(503),
    functionCallAnswer("no_task_found", { context_summary: "ok" }),
  ]);
  await using server = startTestServer({ model: gemini(fake) });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Mail" });
  const error = await client.expect("server_error");
  assert.deepEqual([error.code, error.frame_id], ["GEMINI_ERROR", "1"]);
  assert.equal(fake.requests.length, 3);
  client.send({ type: "frame_event", frame_number: 2, app_name: "Mail" });
  assert.equal((await client.expect("analysis_outcome")).frame_id, "2");
});

Deno.test("a client disconnect mid-call aborts the HTTP request to Gemini", async () => {
  await using fake = new FakeGemini([{ hang: true }]);
  await using server = startTestServer({ model: gemini(fake) });
  const client = await server.connect();
  await client.hello({ session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Mail", ocr_text: "hi" });
  while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
  await client.close();
  await fake.sawAbort();
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.requests[0]!.aborted, true);
});

Deno.test("an unreadable reply is GEMINI_ERROR and a model error in the metrics, not a decision", async () => {
  const malformed = {
    json: {
      candidates: [{ finishReason: "MALFORMED_FUNCTION_CALL" }],
      usageMetadata: { promptTokenCount: 900 },
    },
  };
  await using fake = new FakeGemini([
    malformed,
    { text: "upstream proxy says hi", headers: { "content-type": "application/json" } },
    functionCallAnswer("no_task_found", { context_summary: "chat", current_activity: "Mail" }),
  ]);
  await using server = startTestServer({ model: gemini(fake), instrument: true });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Mail", ocr_text: "hi" });
  const error = await client.expect("server_error");
  assert.deepEqual([error.code, error.message, error.retryable, error.frame_id], [
    "GEMINI_ERROR",
    "Model returned an unreadable response",
    true,
    "1",
  ]);
  assert.equal(fake.requests.length, 2, "the unreadable reply was retried once");
  // The session goes on, and the next frame gets its decision.
  client.send({ type: "frame_event", frame_number: 2, app_name: "Mail", ocr_text: "hi" });
  const outcome = await client.expect("analysis_outcome");
  assert.deepEqual([outcome.frame_id, outcome.outcome_kind], ["2", "no_task_found"]);
  const { metrics } = server;
  assert.equal(metrics.modelCallErrors.get({ reason: "bad_response" }), 1);
  assert.equal(metrics.framesTotal.get({ outcome: "GEMINI_ERROR" }), 1);
  assert.equal(metrics.framesTotal.get({ outcome: "no_task_found" }), 1, "only frame 2 decided");
});
