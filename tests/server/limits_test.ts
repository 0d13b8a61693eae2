import assert from "node:assert/strict";
import type { Authenticator } from "../../src/auth/authenticator.ts";
import { FrameRateLimiter } from "../../src/server/rate_limiter.ts";
import { UserLimits } from "../../src/server/user_limits.ts";
import { FakeClient, rawUpgrade } from "../fakes/fake_client.ts";
import { call, ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";

/** Lets everyone in as the user named in `x-user` (stands in for a verified token). */
const byHeader: Authenticator = {
  authenticate: (request) =>
    Promise.resolve({ ok: true, userId: request.headers.get("x-user") ?? "anon" }),
};

const NO_TASK = call("no_task_found", { context_summary: "s", current_activity: "a" });

function frame(n: number) {
  return { type: "frame_event", frame_number: n, app_name: "Mail", ocr_text: "hello" };
}

Deno.test("FrameRateLimiter: a per-user token bucket", async (t) => {
  let now = 0;
  const limiter = new FrameRateLimiter({ perMinute: 3, now: () => now });
  await t.step("a burst up to the budget passes, the next frame waits", () => {
    assert.deepEqual([limiter.take("a"), limiter.take("a"), limiter.take("a")], [0, 0, 0]);
    assert.equal(limiter.take("a"), 20_000, "one frame refills in 60 s / 3");
  });
  await t.step("users have their own buckets", () => {
    assert.equal(limiter.take("b"), 0);
  });
  await t.step("the bucket refills with time", () => {
    now += 10_000;
    assert.equal(limiter.take("a"), 10_000);
    now += 10_000;
    assert.equal(limiter.take("a"), 0);
  });
  await t.step("full buckets are pruned", () => {
    now += 3_600_000;
    for (let i = 0; i < 1100; i++) limiter.take(`user-${i}`);
    now += 3_600_000;
    for (let i = 0; i < 1100; i++) limiter.take("z");
    assert.ok(limiter.size < 100, `tracked users: ${limiter.size}`);
  });
});

Deno.test("limits before the upgrade", async (t) => {
  await t.step("MAX_SESSIONS_PER_USER → 429, other users unaffected", async () => {
    await using server = startTestServer({
      model: new ScriptedModel([]),
      authenticator: byHeader,
      maxSessionsPerUser: 2,
    });
    await using a1 = await FakeClient.connect(server.wsUrl, { "x-user": "alice" });
    await using a2 = await FakeClient.connect(server.wsUrl, { "x-user": "alice" });
    await Promise.all([a1.hello(), a2.hello()]);
    const third = await rawUpgrade(server.wsUrl, { "x-user": "alice" });
    assert.equal(third.status, 429);
    assert.ok(third.headers.get("retry-after"));
    assert.match((await third.json()).error, /sessions/);
    await using bob = await FakeClient.connect(server.wsUrl, { "x-user": "bob" });
    await bob.hello();
    await a1.close();
    while (server.registry.sessionsOf("alice") > 1) await new Promise((r) => setTimeout(r, 5));
    await using a3 = await FakeClient.connect(server.wsUrl, { "x-user": "alice" });
    await a3.hello();
    assert.equal(server.metrics.rejectedTotal.get({ reason: "max_sessions_per_user" }), 1);
  });
  await t.step("MAX_SESSIONS_PER_USER holds for upgrades that arrive together", async () => {
    // As main.ts wires it (UserLimits, here without Redis): each upgrade is answered after an
    // await, so the count checked must include the sessions admitted meanwhile.
    await using server = startTestServer({
      model: new ScriptedModel([]),
      authenticator: byHeader,
      maxSessionsPerUser: 1,
      userLimits: new UserLimits({ maxSessionsPerUser: 1, framesPerMinute: 0, dailyBudgetUsd: 0 }),
    });
    const tries = await Promise.allSettled(
      Array.from({ length: 4 }, () => FakeClient.connect(server.wsUrl, { "x-user": "alice" })),
    );
    const opened = tries.flatMap((t) => t.status === "fulfilled" ? [t.value] : []);
    try {
      assert.equal(opened.length, 1, `${opened.length} of 4 upgrades opened`);
      assert.equal(server.registry.sessionsOf("alice"), 1);
      assert.equal(server.metrics.rejectedTotal.get({ reason: "max_sessions_per_user" }), 3);
      await opened[0]!.close();
      while (server.registry.sessionsOf("alice") > 0) await new Promise((r) => setTimeout(r, 5));
      // Nothing is left held: the slot is free again.
      await using again = await FakeClient.connect(server.wsUrl, { "x-user": "alice" });
      await again.hello();
    } finally {
      for (const client of opened) await client.close();
    }
  });
  await t.step("MAX_SESSIONS → 503 and counted", async () => {
    await using server = startTestServer({ model: new ScriptedModel([]), maxSessions: 1 });
    await using first = await server.connect();
    await first.hello();
    const response = await rawUpgrade(server.wsUrl);
    assert.equal(response.status, 503);
    await response.body?.cancel();
    assert.equal(server.metrics.rejectedTotal.get({ reason: "max_sessions" }), 1);
  });
});

Deno.test("the frame budget: RATE_LIMITED with retry_after_ms, shared by a user's sessions", async () => {
  await using server = startTestServer({
    model: new ScriptedModel([NO_TASK, NO_TASK, NO_TASK]),
    authenticator: byHeader,
    rateLimitPerMinute: 2,
  });
  await using one = await FakeClient.connect(server.wsUrl, { "x-user": "carol" });
  await using two = await FakeClient.connect(server.wsUrl, { "x-user": "carol" });
  await one.hello({ session_context: {} });
  await two.hello({ session_context: {} });
  one.send(frame(1));
  assert.equal((await one.expect("analysis_outcome")).frame_id, "1");
  two.send(frame(2));
  assert.equal((await two.expect("analysis_outcome")).frame_id, "2");
  one.send(frame(3));
  const limited = await one.expect("server_error");
  assert.deepEqual([limited.code, limited.retryable, limited.frame_id], [
    "RATE_LIMITED",
    true,
    "3",
  ]);
  assert.ok(
    limited.retry_after_ms && limited.retry_after_ms > 0 && limited.retry_after_ms <= 30_000,
  );
  // Another user still has a budget.
  await using dave = await FakeClient.connect(server.wsUrl, { "x-user": "dave" });
  await dave.hello({ session_context: {} });
  dave.send(frame(4));
  assert.equal((await dave.expect("analysis_outcome")).frame_id, "4");
});

Deno.test("a peer that stops answering pings is disconnected (idleTimeout)", async () => {
  await using server = startTestServer({ model: new ScriptedModel([]), idleTimeoutSeconds: 1 });
  // A raw TCP client completes the handshake and then never reads or answers again.
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.server.addr.port });
  const request = "GET /v1/proactive HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  await conn.write(new TextEncoder().encode(request));
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /^HTTP\/1\.1 101/);
  const deadline = Date.now() + 15_000;
  while (server.registry.size === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(server.registry.size, 1, "the session opened");
  while (server.registry.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(server.registry.size, 0, "the silent peer was reaped");
});
