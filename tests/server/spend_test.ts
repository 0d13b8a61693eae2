/**
 * Spend is what the model was billed, not what the frame ended with: a frame whose loop made
 * billed calls and then failed (an HTTP error on a later call, replies that could not be read)
 * counts against the user's daily budget and in the cost metrics. The real Gemini provider
 * against the fake Gemini API, the real server, a real WebSocket client.
 */
import assert from "node:assert/strict";
import type { Authenticator } from "../../src/auth/authenticator.ts";
import { silentLogger } from "../../src/log.ts";
import { GeminiModel } from "../../src/models/gemini.ts";
import { DEFAULT_PRICES } from "../../src/models/prices.ts";
import { UserLimits } from "../../src/server/user_limits.ts";
import { FakeClient } from "../fakes/fake_client.ts";
import { errorAnswer, FakeGemini, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { startTestServer } from "../fakes/test_server.ts";

const byHeader: Authenticator = {
  authenticate: (request) =>
    Promise.resolve({ ok: true, userId: request.headers.get("x-user") ?? "anon" }),
};

/** 1,000 prompt tokens at flash's $0.30 / 1M and 10 output at $2.50 / 1M: $0.000325. */
const BILLED = { promptTokenCount: 1000, candidatesTokenCount: 10 };
const BILLED_USD = (1000 * 0.3 + 10 * 2.5) / 1e6;

function serverFor(fake: FakeGemini) {
  return startTestServer({
    model: new GeminiModel({
      model: "gemini-2.5-flash",
      apiKey: "test-key",
      baseUrl: fake.baseUrl,
      thinkingBudget: 0,
      price: DEFAULT_PRICES["gemini-2.5-flash"],
      retryBaseMs: 10,
      retryMaxMs: 50,
      log: silentLogger,
    }),
    instrument: true,
    authenticator: byHeader,
    // Less than one billed call: whatever a frame spent ends the day's frames.
    userLimits: new UserLimits({ maxSessionsPerUser: 5, framesPerMinute: 0, dailyBudgetUsd: 2e-4 }),
  });
}

const frame = (n: number) => ({ type: "frame_event", frame_number: n, ocr_text: "x" });

Deno.test("spend: a frame that fails after billed calls is charged to the budget and metrics", async (t) => {
  await t.step("a search, then an HTTP error on the next call", async () => {
    await using fake = new FakeGemini([
      functionCallAnswer("search_keywords", { query: "invoice" }, { usage: BILLED }),
      errorAnswer(400),
    ]);
    await using server = serverFor(fake);
    await using client = await FakeClient.connect(server.wsUrl, { "x-user": "erin" });
    await client.hello({ session_context: {} });
    client.send(frame(1));
    const request = await client.expect("tool_call_request");
    client.send({ type: "tool_result", request_id: request.request_id, results: [] });
    const failed = await client.expect("server_error");
    assert.deepEqual([failed.code, failed.frame_id], ["GEMINI_ERROR", "1"]);
    assert.ok(Math.abs(server.metrics.costTotal.get() - BILLED_USD) < 1e-12);

    client.send(frame(2));
    const limited = await client.expect("server_error");
    assert.deepEqual([limited.code, limited.frame_id], ["RATE_LIMITED", "2"]);
    assert.match(limited.message, /^Daily budget of \$0\.0002 reached/);
    assert.equal(fake.requests.length, 2, "no model call for the refused frame");
  });

  await t.step("two replies that could not be read, both billed", async () => {
    const unreadable = {
      json: { candidates: [{ finishReason: "MALFORMED_FUNCTION_CALL" }], usageMetadata: BILLED },
    };
    await using fake = new FakeGemini([unreadable, unreadable]);
    await using server = serverFor(fake);
    await using client = await FakeClient.connect(server.wsUrl, { "x-user": "erin" });
    await client.hello({ session_context: {} });
    client.send(frame(1));
    const failed = await client.expect("server_error");
    assert.deepEqual([failed.code, failed.frame_id], ["GEMINI_ERROR", "1"]);
    assert.equal(fake.requests.length, 2);
    assert.ok(Math.abs(server.metrics.costTotal.get() - 2 * BILLED_USD) < 1e-12);
    assert.equal(server.metrics.tokensTotal.get({ kind: "input" }), 2000);

    client.send(frame(2));
    assert.equal((await client.expect("server_error")).code, "RATE_LIMITED");
    assert.equal(fake.requests.length, 2);
  });
});
