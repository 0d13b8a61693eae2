/**
 * `ProactiveClient` against a scripted server, for what our own server does not do on demand:
 * dropping the socket mid-frame, `go_away`, `tool_call_cancel`, off-schema messages, silence.
 */
import assert from "node:assert/strict";
import { ProactiveClient, type ProactiveClientOptions } from "../../src/client/client.ts";
import { ClientError, type ClientErrorCode } from "../../src/client/errors.ts";
import { PAD_TO_BYTES } from "../../src/client/nagle_padding.ts";
import { delay } from "../fakes/fake_model.ts";
import { ScriptedServer } from "./scripted_server.ts";

const FAST_RECONNECT = { initialDelayMs: 10, maxDelayMs: 40, maxAttempts: 3 };

function isClientError(code: ClientErrorCode) {
  return (err: unknown) => err instanceof ClientError && err.code === code;
}

/** Connects a client to `server`, playing the server's side of the handshake. */
async function connect(server: ScriptedServer, options: Partial<ProactiveClientOptions> = {}) {
  const connecting = ProactiveClient.connect({
    url: server.url,
    reconnect: FAST_RECONNECT,
    random: () => 0.5,
    ...options,
  });
  const connection = await server.connection(server.connections.length);
  const hello = await connection.handshake();
  const client = await connecting;
  return { client, connection, hello };
}

Deno.test("ProactiveClient reconnects", async (t) => {
  await t.step(
    "after a drop: the frame in flight rejects with DISCONNECTED, queued ones go to the new session",
    async () => {
      await using server = new ScriptedServer();
      const events: string[] = [];
      const { client, connection: first } = await connect(server, {
        context: { active_tasks: [{ task_id: 9, description: "Renew passport" }] },
        contextVersion: "ctx-1",
        onEvent: (event) => events.push(event.kind),
      });
      await using _client = client;
      const inFlight = client.analyzeFrame({ screenshot_id: "a", app_name: "Mail" });
      const lost = assert.rejects(inFlight, isClientError("DISCONNECTED"));
      assert.equal((await first.expect("frame_event")).screenshot_id, "a");
      const queued = client.analyzeFrame({ screenshot_id: "b", app_name: "Mail" });
      await first.close(1011, "boom");
      await lost;

      const second = await server.connection(1);
      const hello = await second.handshake("1.1", "s-2");
      assert.equal(hello.context_version, "ctx-1");
      assert.deepEqual(hello.session_context?.active_tasks?.map((x) => x.task_id), [9]);
      const frame = await second.expect("frame_event");
      assert.equal(frame.screenshot_id, "b");
      second.outcome("b");
      assert.equal((await queued).frame_id, "b");
      assert.equal(client.session?.session_id, "s-2");
      assert.deepEqual(events, ["connected", "disconnected", "reconnecting", "connected"]);
    },
  );

  await t.step(
    "gives up after maxAttempts: waiting frames reject with RECONNECT_FAILED",
    async () => {
      await using server = new ScriptedServer();
      const events: string[] = [];
      const { client, connection } = await connect(server, {
        reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 2 },
        onEvent: (event) => events.push(event.kind),
      });
      await using _client = client;
      const inFlight = assert.rejects(
        client.analyzeFrame({ screenshot_id: "a" }),
        isClientError("DISCONNECTED"),
      );
      await connection.expect("frame_event");
      const queued = assert.rejects(
        client.analyzeFrame({ screenshot_id: "b" }),
        isClientError("RECONNECT_FAILED"),
      );
      await connection.close(1011);
      await inFlight;
      // Each reconnect opens a socket that closes before session_ready.
      for (const n of [1, 2]) {
        const retry = await server.connection(n);
        await retry.expect("client_hello");
        await retry.close(1011);
      }
      await queued;
      assert.equal(client.closed, true);
      assert.deepEqual(events, [
        "connected",
        "disconnected",
        "reconnecting",
        "reconnect_failed",
        "reconnecting",
        "reconnect_failed",
        "closed",
      ]);
    },
  );

  await t.step("not at all with reconnect: false", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server, { reconnect: false });
    await using _client = client;
    const inFlight = assert.rejects(
      client.analyzeFrame({ screenshot_id: "a" }),
      isClientError("DISCONNECTED"),
    );
    await connection.expect("frame_event");
    await connection.close(1011);
    await inFlight;
    assert.equal(client.closed, true);
    await assert.rejects(client.analyzeFrame({ screenshot_id: "b" }), isClientError("CLOSED"));
    assert.equal(server.connections.length, 1);
  });
});

Deno.test("ProactiveClient honours go_away", async (t) => {
  await t.step(
    "finishes the frame in flight, sends nothing new, reconnects after reconnect_after_ms",
    async () => {
      await using server = new ScriptedServer();
      const { client, connection: old } = await connect(server, { random: () => 0 });
      await using _client = client;
      const running = client.analyzeFrame({ screenshot_id: "a", app_name: "Mail" });
      await old.expect("frame_event");
      old.send({ type: "go_away", reason: "draining", reconnect_after_ms: 150 });
      await delay(20);
      const later = client.analyzeFrame({ screenshot_id: "b", app_name: "Mail" });
      await delay(30);
      assert.equal(old.unread, 0, "no frame may be sent after go_away");
      old.outcome("a");
      const finishedAt = performance.now();
      assert.equal((await running).frame_id, "a");
      await old.waitClosed();

      const fresh = await server.connection(1);
      assert.ok(performance.now() - finishedAt >= 140, "reconnected before reconnect_after_ms");
      await fresh.handshake("1.1", "s-2");
      assert.equal((await fresh.expect("frame_event")).screenshot_id, "b");
      fresh.outcome("b");
      assert.equal((await later).frame_id, "b");
    },
  );

  await t.step("closes an idle socket at once and reconnects", async () => {
    await using server = new ScriptedServer();
    const events: string[] = [];
    const { client, connection: old } = await connect(server, {
      random: () => 0,
      onEvent: (event) => events.push(event.kind),
    });
    await using _client = client;
    old.send({ type: "go_away", reason: "draining", reconnect_after_ms: 10 });
    await old.waitClosed();
    const fresh = await server.connection(1);
    await fresh.handshake("1.1", "s-2");
    const frame = client.analyzeFrame({ screenshot_id: "c" });
    await fresh.expect("frame_event");
    fresh.outcome("c");
    assert.equal((await frame).frame_id, "c");
    assert.deepEqual(events, ["connected", "go_away", "disconnected", "reconnecting", "connected"]);
  });
});

Deno.test("ProactiveClient tool calls", async (t) => {
  await t.step("tool_call_cancel aborts onToolCall's signal and nothing is sent", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server);
    await using _client = client;
    let reason: unknown;
    const frame = client.analyzeFrame({ screenshot_id: "a" }, {
      onToolCall: (_request, signal) =>
        new Promise((_, reject) => {
          signal.addEventListener("abort", () => {
            reason = signal.reason;
            reject(signal.reason);
          });
        }),
    });
    await connection.expect("frame_event");
    connection.send({
      type: "tool_call_request",
      request_id: "r1",
      tool_kind: "search_keywords",
      query: "report",
      deadline_ms: 5_000,
      frame_id: "a",
    });
    await delay(20);
    connection.send({
      type: "tool_call_cancel",
      request_id: "r1",
      frame_id: "a",
      reason: "deadline",
    });
    await delay(30);
    assert.ok(reason instanceof DOMException && reason.name === "AbortError");
    assert.equal(connection.unread, 0, "a cancelled tool call gets no tool_result");
    connection.outcome("a");
    assert.equal((await frame).frame_id, "a");
  });

  await t.step("the signal aborts with TimeoutError at deadline_ms", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server);
    await using _client = client;
    let reason: unknown;
    const frame = client.analyzeFrame({ screenshot_id: "a" }, {
      onToolCall: (_request, signal) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(reason = signal.reason))
        ),
    });
    await connection.expect("frame_event");
    connection.send({
      type: "tool_call_request",
      request_id: "r1",
      tool_kind: "search_similar",
      query: "report",
      deadline_ms: 30,
      frame_id: "a",
    });
    await delay(80);
    assert.ok(reason instanceof DOMException && reason.name === "TimeoutError");
    connection.outcome("a");
    await frame;
  });
});

Deno.test("ProactiveClient ignores what it cannot read", async (t) => {
  await t.step("off-schema and non-JSON messages are reported and dropped", async () => {
    await using server = new ScriptedServer();
    const ignored: string[] = [];
    const { client, connection } = await connect(server, {
      onEvent: (event) => event.kind === "ignored" && ignored.push(event.reason),
    });
    await using _client = client;
    const frame = client.analyzeFrame({ screenshot_id: "a" });
    await connection.expect("frame_event");
    connection.sendRaw("not json");
    connection.send({ type: "surprise", hello: true });
    connection.send({
      type: "server_error",
      code: "INVALID_MESSAGE",
      message: "x",
      retryable: true,
    });
    connection.send({ type: "tool_call_cancel", request_id: 7 });
    connection.outcome("a");
    const outcome = await frame;
    assert.equal(outcome.type, "analysis_outcome");
    assert.deepEqual(ignored, [
      "message is not JSON",
      'off-schema "surprise" message',
      "server_error INVALID_MESSAGE without a frame",
      'off-schema "tool_call_cancel" message',
    ]);
  });

  await t.step("no session_ready in time: HANDSHAKE_TIMEOUT", async () => {
    await using server = new ScriptedServer();
    const connecting = ProactiveClient.connect({ url: server.url, handshakeTimeoutMs: 50 });
    const rejected = assert.rejects(connecting, isClientError("HANDSHAKE_TIMEOUT"));
    const connection = await server.connection(0);
    await connection.expect("client_hello");
    await rejected;
    await connection.waitClosed();
  });
});

Deno.test("ProactiveClient queues frames", async (t) => {
  await t.step("beyond maxPendingFrames the oldest waiting frame gets FRAME_DROPPED", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server, { maxPendingFrames: 1 });
    await using _client = client;
    const a = client.analyzeFrame({ screenshot_id: "a" });
    await connection.expect("frame_event");
    const b = assert.rejects(
      client.analyzeFrame({ screenshot_id: "b" }),
      isClientError("FRAME_DROPPED"),
    );
    const c = client.analyzeFrame({ screenshot_id: "c" });
    await b;
    connection.outcome("a");
    assert.equal((await a).frame_id, "a");
    assert.equal((await connection.expect("frame_event")).screenshot_id, "c");
    connection.outcome("c");
    assert.equal((await c).frame_id, "c");
  });

  await t.step("numbers frames without a frame_number", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server);
    await using _client = client;
    for (const expected of [1, 2]) {
      const frame = client.analyzeFrame({ app_name: "Mail" });
      const sent = await connection.expect("frame_event");
      assert.equal(sent.frame_number, expected);
      connection.outcome(String(expected));
      await frame;
    }
  });
});

Deno.test("ProactiveClient pads 1–64 KB messages only to loopback, under the limit", async (t) => {
  const ocr = "x".repeat(4_000);
  const context = {
    active_tasks: Array.from({ length: 40 }, (_, i) => ({
      task_id: i,
      description: `Task number ${i} with a description long enough to matter`,
    })),
  };
  const table: Array<{
    name: string;
    options: Partial<ProactiveClientOptions>;
    announced?: number;
    padded: boolean;
  }> = [
    { name: "127.0.0.1 in Deno: padded to 64 KB", options: {}, padded: true },
    { name: "padMessages: false", options: { padMessages: false }, padded: false },
    { name: "maxMessageBytes: 32768", options: { maxMessageBytes: 32_768 }, padded: false },
    { name: "maxMessageBytes: 65536", options: { maxMessageBytes: 65_536 }, padded: true },
    { name: "session_ready announces 32768", options: {}, announced: 32_768, padded: false },
    {
      name: "the smaller of the option and the announced limit",
      options: { maxMessageBytes: 32_768 },
      announced: 1_000_000,
      padded: false,
    },
  ];
  for (const { name, options, announced, padded } of table) {
    await t.step(name, async () => {
      await using server = new ScriptedServer();
      const connecting = ProactiveClient.connect({
        url: server.url,
        reconnect: false,
        context,
        ...options,
      });
      const connection = await server.connection(0);
      await connection.handshake(
        "1.1",
        "s-1",
        announced === undefined ? {} : { max_message_bytes: announced },
      );
      await using client = await connecting;
      const frame = client.analyzeFrame({ screenshot_id: "a", ocr_text: ocr });
      frame.catch(() => {}); // a failed assertion must not leave it unhandled
      const sent = await connection.expect("frame_event");
      assert.equal(sent.ocr_text, ocr);
      const [hello = 0, size = 0] = connection.sizes;
      if (padded) assert.equal(size, PAD_TO_BYTES);
      else assert.ok(size > 4_000 && size < 4_200, `frame of ${size} bytes`);
      // The hello goes out before the server has announced its limit: never padded.
      assert.ok(hello > 1_024 && hello < PAD_TO_BYTES, `hello of ${hello} bytes`);
      connection.outcome("a");
      await frame;
    });
  }

  const address = nonLoopbackAddress();
  await t.step({
    name: `a non-loopback address (${address ?? "none on this machine"}) is not padded`,
    ignore: address === undefined,
    fn: async () => {
      await using server = new ScriptedServer(address);
      const connecting = ProactiveClient.connect({ url: server.url, reconnect: false, context });
      const connection = await server.connection(0);
      await connection.handshake();
      await using client = await connecting;
      const frame = client.analyzeFrame({ screenshot_id: "a", ocr_text: ocr });
      frame.catch(() => {}); // a failed assertion must not leave it unhandled
      await connection.expect("frame_event");
      const [hello = 0, size = 0] = connection.sizes;
      assert.ok(hello > 1_024 && hello < PAD_TO_BYTES, `hello of ${hello} bytes`);
      assert.ok(size > 4_000 && size < 4_200, `frame of ${size} bytes`);
      connection.outcome("a");
      await frame;
    },
  });
});

/** An IPv4 address of this machine outside 127.0.0.0/8, if it has one. */
function nonLoopbackAddress(): string | undefined {
  return Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."))
    ?.address;
}
