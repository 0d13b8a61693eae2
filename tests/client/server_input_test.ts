/**
 * `ProactiveClient` against servers that are not ours, or misbehave: off-schema terminal
 * messages, a non-retryable error on a socket that stays open, out-of-range numbers, and
 * messages larger than the server accepts.
 */
import assert from "node:assert/strict";
import {
  type FrameFields,
  type FrameOptions,
  type FrameTerminal,
  ProactiveClient,
  type ProactiveClientOptions,
} from "../../src/client/client.ts";
import { ClientError } from "../../src/client/errors.ts";
import { coerceTerminal } from "../../src/client/terminal.ts";
import { OfflineModel } from "../../src/models/offline.ts";
import { startTestServer } from "../fakes/test_server.ts";
import { ScriptedServer, within } from "./scripted_server.ts";

const FAST_RECONNECT = { initialDelayMs: 10, maxDelayMs: 40, maxAttempts: 3 };
/** Longer than any test waits: a frame that needs it has hung. */
const HUNG_MS = 30_000;

async function connect(server: ScriptedServer, options: Partial<ProactiveClientOptions> = {}) {
  const connecting = ProactiveClient.connect({
    url: server.url,
    reconnect: FAST_RECONNECT,
    random: () => 0.5,
    frameTimeoutMs: HUNG_MS,
    ...options,
  });
  const connection = await server.connection(server.connections.length);
  await connection.handshake();
  const client = await connecting;
  return { client, connection };
}

/** Starts a frame and waits until the server has it; its promise never goes unhandled. */
async function sent(
  client: ProactiveClient,
  connection: { expect(type: "frame_event"): Promise<unknown> },
  fields: FrameFields,
  options?: FrameOptions,
): Promise<{ frame: Promise<FrameTerminal> }> {
  const frame = client.analyzeFrame(fields, options);
  frame.catch(() => {}); // a failed assertion must not leave it unhandled
  await connection.expect("frame_event");
  return { frame };
}

Deno.test("ProactiveClient ends the frame on an off-schema terminal", async (t) => {
  await t.step("an analysis_outcome without usage (the reference server's)", async () => {
    await using server = new ScriptedServer();
    const ignored: string[] = [];
    const { client, connection } = await connect(server, {
      onEvent: (event) => event.kind === "ignored" && ignored.push(event.reason),
    });
    await using _client = client;
    const { frame } = await sent(client, connection, { screenshot_id: "a", app_name: "Mail" });
    connection.send({
      type: "analysis_outcome",
      outcome_kind: "no_task_found",
      frame_id: "a",
      context_summary: "Nothing to do",
      current_activity: "Mail",
    });
    const outcome = await within(frame, "the frame's answer");
    assert.equal(outcome.type, "analysis_outcome");
    assert.equal(outcome.frame_id, "a");
    assert.equal(outcome.type === "analysis_outcome" && outcome.outcome_kind, "no_task_found");
    assert.equal(outcome.type === "analysis_outcome" && outcome.usage.model_calls, 0);
    assert.deepEqual(ignored, ['off-schema "analysis_outcome" message, coerced']);

    // The session goes on in order.
    const next = client.analyzeFrame({ screenshot_id: "b", app_name: "Mail" });
    next.catch(() => {}); // a failed assertion must not leave it unhandled
    assert.equal((await connection.expect("frame_event")).screenshot_id, "b");
    connection.outcome("b");
    assert.equal((await within(next, "the next frame's answer")).frame_id, "b");
  });

  await t.step("a server_error with a code this client does not know", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server);
    await using _client = client;
    const { frame } = await sent(client, connection, { screenshot_id: "a", app_name: "Mail" });
    connection.send({
      type: "server_error",
      code: "QUOTA_EXCEEDED",
      message: "Out of quota",
      retryable: true,
      frame_id: "a",
    });
    const answer = await within(frame, "the frame's answer");
    assert.equal(answer.type, "server_error");
    assert.equal(answer.type === "server_error" && answer.code, "INTERNAL");
    assert.equal(answer.type === "server_error" && answer.retryable, true);
    assert.ok(client.connected, "a retryable error keeps the session");
  });

  await t.step("an extract_task with mistyped task fields", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server);
    await using _client = client;
    const { frame } = await sent(client, connection, { screenshot_id: "a", app_name: "Slack" });
    connection.send({
      type: "analysis_outcome",
      outcome_kind: "extract_task",
      frame_id: "a",
      context_summary: "A request",
      current_activity: "Slack",
      task: { title: "Send the Q3 report", priority: "urgent", confidence: "0.8", tags: "q3" },
    });
    const outcome = await within(frame, "the frame's answer");
    assert.ok(outcome.type === "analysis_outcome" && outcome.outcome_kind === "extract_task");
    assert.equal(outcome.task.title, "Send the Q3 report");
    assert.equal(outcome.task.priority, "medium");
    assert.equal(outcome.task.confidence, 0.8);
    assert.deepEqual(outcome.task.tags, ["q3"]);
  });
});

Deno.test("coerceTerminal() reads terminals leniently and nothing else", () => {
  assert.equal(coerceTerminal({ type: "tool_call_request" }), undefined);
  assert.equal(coerceTerminal(null), undefined);
  assert.equal(coerceTerminal(["analysis_outcome"]), undefined);
  const fatal = coerceTerminal({ type: "server_error", code: 5, retryable: "false" });
  assert.deepEqual(fatal, {
    type: "server_error",
    code: "INTERNAL",
    message: "",
    retryable: false,
  });
  const unknownKind = coerceTerminal({
    type: "analysis_outcome",
    outcome_kind: "later",
    frame_id: 3,
  });
  assert.equal(
    unknownKind?.type === "analysis_outcome" && unknownKind.outcome_kind,
    "no_task_found",
  );
  assert.equal(unknownKind?.frame_id, "3");
});

Deno.test("ProactiveClient after a non-retryable server_error", async (t) => {
  await t.step(
    "sends no frame on that socket, closes it if the server does not, and goes on",
    async () => {
      await using server = new ScriptedServer();
      const { client, connection: old } = await connect(server);
      await using _client = client;
      const first = client.analyzeFrame({ screenshot_id: "a", app_name: "Mail" });
      first.catch(() => {}); // a failed assertion must not leave it unhandled
      await old.expect("frame_event");
      old.send({
        type: "server_error",
        code: "SHUTTING_DOWN",
        message: "Server is shutting down: reconnect to continue",
        retryable: false,
        frame_id: "a",
      });
      const error = await within(first, "the first frame's answer");
      assert.equal(error.type === "server_error" && error.code, "SHUTTING_DOWN");
      // The caller goes on at once, as a capture loop does: this frame must wait for the
      // next session instead of going out on one the server has ended.
      const next = client.analyzeFrame({ screenshot_id: "b", app_name: "Mail" });
      next.catch(() => {}); // a failed assertion must not leave it unhandled
      await old.waitClosed();
      assert.equal(old.unread, 0, "a frame went out after the session ended");
      const fresh = await server.connection(1);
      await fresh.handshake("1.1", "s-2");
      assert.equal((await fresh.expect("frame_event")).screenshot_id, "b");
      fresh.outcome("b");
      assert.equal((await within(next, "the next frame's answer")).frame_id, "b");
    },
  );
});

Deno.test("ProactiveClient clamps server-given delays to the timer range", async (t) => {
  await t.step("a deadline_ms past 2^31 ms does not abort the tool call at once", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server);
    await using _client = client;
    let abortedAtStart: boolean | undefined;
    const frame = client.analyzeFrame({ screenshot_id: "a" }, {
      onToolCall: async (_request, signal) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        frame.catch(() => {}); // a failed assertion must not leave it unhandled
        abortedAtStart = signal.aborted;
        return [];
      },
    });
    await connection.expect("frame_event");
    connection.send({
      type: "tool_call_request",
      request_id: "r1",
      tool_kind: "search_similar",
      query: "report",
      deadline_ms: 2 ** 32,
      frame_id: "a",
    });
    const result = await connection.expect("tool_result");
    assert.equal(result.request_id, "r1");
    assert.equal(result.error, undefined);
    assert.equal(abortedAtStart, false);
    connection.outcome("a");
    await within(frame, "the frame's answer");
  });

  await t.step("a go_away reconnect_after_ms past 2^31 ms is not a reconnect at once", async () => {
    await using server = new ScriptedServer();
    const events: string[] = [];
    const { client, connection } = await connect(server, {
      onEvent: (event) => events.push(event.kind),
    });
    connection.send({ type: "go_away", reason: "draining", reconnect_after_ms: 2 ** 32 });
    await connection.waitClosed();
    // An overflowing timer fires within a millisecond; give a reconnect ample time to show.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(server.connections.length, 1, "reconnected at once");
    await client.close();
    assert.deepEqual(events, ["connected", "go_away", "disconnected", "reconnecting", "closed"]);
  });
});

Deno.test("ProactiveClient never sends what the server would close the socket for", async (t) => {
  await t.step("a frame over max_message_bytes fails alone with INVALID_FRAME", async () => {
    await using server = startTestServer({
      model: new OfflineModel(),
      limits: { maxMessageBytes: 32_768 },
    });
    const events: string[] = [];
    await using client = await ProactiveClient.connect({
      url: server.wsUrl,
      reconnect: FAST_RECONNECT,
      onEvent: (event) => events.push(event.kind),
    });
    const big = client.analyzeFrame({ app_name: "Mail", ocr_text: "x".repeat(40_000) });
    const small = client.analyzeFrame({ app_name: "Mail", ocr_text: "A newsletter" });
    small.catch(() => {}); // a failed assertion must not leave it unhandled
    await assert.rejects(
      big,
      (err) =>
        err instanceof ClientError && err.code === "INVALID_FRAME" && /32768/.test(err.message),
    );
    assert.equal((await within(small, "the small frame's answer")).type, "analysis_outcome");
    assert.deepEqual(events, ["connected"], "the session must survive");
  });

  await t.step("search results over max_message_bytes go back as an error", async () => {
    await using server = new ScriptedServer();
    const connecting = ProactiveClient.connect({ url: server.url, reconnect: false });
    const connection = await server.connection(0);
    await connection.handshake("1.1", "s-1", { max_message_bytes: 8_192 });
    await using client = await connecting;
    const hits = Array.from({ length: 200 }, (_, i) => ({
      task_id: i,
      description: `A long task description, number ${i}`,
      status: "active" as const,
      similarity: 0.5,
      match_type: "vector" as const,
      relevance_score: i,
    }));
    const { frame } = await sent(client, connection, { screenshot_id: "a" }, {
      onToolCall: () => hits,
    });
    connection.send({
      type: "tool_call_request",
      request_id: "r1",
      tool_kind: "search_similar",
      query: "report",
      deadline_ms: 5_000,
      frame_id: "a",
    });
    const result = await connection.expect("tool_result");
    assert.deepEqual(result.results, []);
    assert.match(result.error ?? "", /larger than the server accepts/);
    assert.ok(connection.sizes.at(-1)! <= 8_192);
    connection.outcome("a");
    assert.equal((await within(frame, "the frame's answer")).frame_id, "a");
  });
});

Deno.test(
  "ProactiveClient replaces a stuck session at stuckAfterMs, even under a longer timeoutMs",
  async () => {
    await using server = new ScriptedServer();
    const connecting = ProactiveClient.connect({
      url: server.url,
      reconnect: FAST_RECONNECT,
      random: () => 0.5,
      stuckAfterMs: 200,
    });
    const stuck = await server.connection(0);
    await stuck.handshake();
    await using client = await connecting;
    // The caller would wait long; the server promises an answer within 45 s and this one
    // owes it past stuckAfterMs: the frames behind must not wait on it.
    const first = client.analyzeFrame({ screenshot_id: "a" }, { timeoutMs: HUNG_MS });
    first.catch(() => {}); // a failed assertion must not leave it unhandled
    await stuck.expect("frame_event");
    const next = client.analyzeFrame({ screenshot_id: "b" }, { timeoutMs: HUNG_MS });
    next.catch(() => {}); // a failed assertion must not leave it unhandled
    await stuck.waitClosed();
    await assert.rejects(
      within(first, "the stuck frame"),
      (err) => err instanceof ClientError && err.code === "DISCONNECTED",
    );
    const fresh = await server.connection(1);
    await fresh.handshake("1.1", "s-2");
    assert.equal((await fresh.expect("frame_event")).screenshot_id, "b");
    fresh.outcome("b");
    assert.equal((await within(next, "the next frame")).frame_id, "b");
  },
);

Deno.test("ProactiveClient backs off from a server that drops every session at once", async () => {
  await using server = new ScriptedServer();
  const delays: number[] = [];
  const connecting = ProactiveClient.connect({
    url: server.url,
    reconnect: { initialDelayMs: 10, maxDelayMs: 1_000, maxAttempts: 3 },
    random: () => 0.5,
    onEvent: (event) => event.kind === "reconnecting" && delays.push(event.delayMs),
  });
  const first = await server.connection(0);
  await first.handshake();
  await using client = await connecting;
  await first.close(1001);
  for (let n = 1; n <= 3; n++) {
    const flapping = await server.connection(n);
    await flapping.handshake("1.1", `s-${n + 1}`);
    await flapping.close(1001);
  }
  // A session that answers a frame has proved itself: the next drop starts over.
  const healthy = await server.connection(4);
  await healthy.handshake("1.1", "s-5");
  const frame = client.analyzeFrame({ screenshot_id: "a" });
  frame.catch(() => {}); // a failed assertion must not leave it unhandled
  await healthy.expect("frame_event");
  healthy.outcome("a");
  await within(frame, "the frame's answer");
  await healthy.close(1001);
  await server.connection(5);
  // Sessions that never answered a frame do not reset the backoff: 5, 10, 20, 40 ms.
  assert.deepEqual(delays, [5, 10, 20, 40, 5]);
});
