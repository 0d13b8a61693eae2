/**
 * Every wait of `ProactiveClient` has a deadline: against real sockets that accept and never
 * answer, or answer the upgrade and never send `session_ready`, `connect()` rejects, the
 * reconnect loop gives up, and a frame that nobody answers settles.
 */
import assert from "node:assert/strict";
import {
  type ClientEvent,
  DEFAULT_FRAME_TIMEOUT_MS,
  ProactiveClient,
} from "../../src/client/client.ts";
import { ClientError, type ClientErrorCode } from "../../src/client/errors.ts";
import { RawListener } from "./raw_listener.ts";
import { ScriptedServer, within } from "./scripted_server.ts";

/** Small deadlines: the tests wait for them to pass, never for anything to be fast. */
const HANDSHAKE_MS = 100;

function isClientError(code: ClientErrorCode, message?: RegExp) {
  return (err: unknown) =>
    err instanceof ClientError && err.code === code && (!message || message.test(err.message));
}

/** Records events and lets a test wait (bounded) for one of a kind. */
function eventLog() {
  const events: ClientEvent[] = [];
  const waiters: Array<{ kind: ClientEvent["kind"]; wake: () => void }> = [];
  return {
    events,
    kinds: () => events.map((event) => event.kind),
    onEvent(event: ClientEvent) {
      events.push(event);
      for (const waiter of waiters.filter((w) => w.kind === event.kind)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.wake();
      }
    },
    next(kind: ClientEvent["kind"]): Promise<void> {
      return within(new Promise((wake) => waiters.push({ kind, wake })), `a "${kind}" event`);
    },
  };
}

Deno.test("ProactiveClient.connect() has a deadline for every phase", async (t) => {
  await t.step(
    "a listener that accepts and never answers: HANDSHAKE_TIMEOUT, the socket is closed",
    async () => {
      await using listener = new RawListener("silent");
      const connecting = ProactiveClient.connect({
        url: listener.url,
        handshakeTimeoutMs: HANDSHAKE_MS,
        reconnect: false,
      });
      await assert.rejects(
        within(connecting, "connect()"),
        isClientError("HANDSHAKE_TIMEOUT", /did not open within 100 ms/),
      );
      await (await listener.peer(0)).waitEnded();
    },
  );

  await t.step(
    "a server that upgrades and never sends session_ready: HANDSHAKE_TIMEOUT",
    async () => {
      await using listener = new RawListener("upgrade");
      const connecting = ProactiveClient.connect({
        url: listener.url,
        handshakeTimeoutMs: HANDSHAKE_MS,
        reconnect: false,
      });
      await assert.rejects(
        within(connecting, "connect()"),
        isClientError("HANDSHAKE_TIMEOUT", /No session_ready from .* within 100 ms/),
      );
      const peer = await listener.peer(0);
      await peer.waitEnded();
      assert.equal(JSON.parse(peer.messages[0] ?? "{}").type, "client_hello");
    },
  );

  await t.step(
    "a token function that never returns: HANDSHAKE_TIMEOUT, nothing dialled",
    async () => {
      await using listener = new RawListener("session");
      const connecting = ProactiveClient.connect({
        url: listener.url,
        token: () => new Promise<string>(() => {}),
        handshakeTimeoutMs: HANDSHAKE_MS,
      });
      await assert.rejects(
        within(connecting, "connect()"),
        isClientError("HANDSHAKE_TIMEOUT", /token .* within 100 ms/),
      );
      assert.equal(listener.peers.length, 0);
    },
  );
});

Deno.test("ProactiveClient's reconnect loop gives up on servers that never answer", async (t) => {
  for (const mode of ["silent", "upgrade"] as const) {
    await t.step(
      `${mode}: every attempt times out, reconnect_failed is emitted, a queued frame rejects`,
      async () => {
        await using listener = new RawListener("session");
        const log = eventLog();
        await using client = await within(
          ProactiveClient.connect({
            url: listener.url,
            handshakeTimeoutMs: HANDSHAKE_MS,
            reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 2 },
            random: () => 0.5,
            onEvent: log.onEvent,
          }),
          "connect()",
        );
        const first = await listener.peer(0);
        listener.mode = mode;
        const disconnected = log.next("disconnected");
        await first.drop();
        await disconnected;

        const queued = client.analyzeFrame({ screenshot_id: "a", app_name: "Mail" });
        await assert.rejects(
          within(queued, "the queued frame"),
          isClientError("RECONNECT_FAILED", /HANDSHAKE_TIMEOUT|within 100 ms/),
        );
        assert.equal(client.closed, true);
        assert.deepEqual(log.kinds(), [
          "connected",
          "disconnected",
          "reconnecting",
          "reconnect_failed",
          "reconnecting",
          "reconnect_failed",
          "closed",
        ]);
        for (const event of log.events) {
          if (event.kind === "reconnect_failed") {
            assert.equal(event.error.code, "HANDSHAKE_TIMEOUT");
          }
        }
        // Each attempt dialled, and the client closed what it dialled.
        assert.equal(listener.peers.length, 3);
        for (const peer of listener.peers.slice(1)) await peer.waitEnded();
      },
    );
  }
});

Deno.test("ProactiveClient.analyzeFrame() has a deadline", async (t) => {
  await t.step("the default is 60 000 ms, the Omi desktop app's", () => {
    assert.equal(DEFAULT_FRAME_TIMEOUT_MS, 60_000);
  });

  await t.step(
    "a frame queued while reconnects keep failing rejects with TIMEOUT at frameTimeoutMs",
    async () => {
      await using listener = new RawListener("session");
      const log = eventLog();
      await using client = await within(
        ProactiveClient.connect({
          url: listener.url,
          handshakeTimeoutMs: HANDSHAKE_MS,
          frameTimeoutMs: 150,
          reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 1_000 },
          random: () => 0.5,
          onEvent: log.onEvent,
        }),
        "connect()",
      );
      listener.mode = "upgrade";
      const disconnected = log.next("disconnected");
      await (await listener.peer(0)).drop();
      await disconnected;
      await assert.rejects(
        within(client.analyzeFrame({ screenshot_id: "a" }), "the queued frame"),
        isClientError("TIMEOUT", /150 ms/),
      );
      assert.equal(client.closed, false, "the client goes on reconnecting");
    },
  );

  await t.step(
    "a frame in flight past timeoutMs rejects with TIMEOUT; the client reconnects for the next",
    async () => {
      await using server = new ScriptedServer();
      const log = eventLog();
      const connecting = ProactiveClient.connect({
        url: server.url,
        reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 },
        random: () => 0.5,
        onEvent: log.onEvent,
        stuckAfterMs: 300,
      });
      const stuck = await server.connection(0);
      await stuck.handshake();
      await using client = await connecting;
      const frame = client.analyzeFrame({ screenshot_id: "a" }, { timeoutMs: 100 });
      await stuck.expect("frame_event");
      await assert.rejects(within(frame, "the frame"), isClientError("TIMEOUT", /100 ms/));
      // The server never answered: the session is presumed stuck and replaced.
      await stuck.waitClosed();
      const fresh = await server.connection(1);
      await fresh.handshake("1.1", "s-2");
      const next = client.analyzeFrame({ screenshot_id: "b" });
      next.catch(() => {}); // a failed assertion must not leave it unhandled
      assert.equal((await fresh.expect("frame_event")).screenshot_id, "b");
      fresh.outcome("b");
      assert.equal((await within(next, "the next frame")).frame_id, "b");
      assert.deepEqual(log.kinds(), ["connected", "disconnected", "reconnecting", "connected"]);
    },
  );

  await t.step(
    "an aborted frame the server never answers holds the session only until its deadline",
    async () => {
      await using server = new ScriptedServer();
      const connecting = ProactiveClient.connect({
        url: server.url,
        reconnect: { initialDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 },
        random: () => 0.5,
        stuckAfterMs: 300,
      });
      const stuck = await server.connection(0);
      await stuck.handshake();
      await using client = await connecting;
      const controller = new AbortController();
      const aborted = client.analyzeFrame({ screenshot_id: "a" }, {
        signal: controller.signal,
        timeoutMs: 150,
      });
      await stuck.expect("frame_event");
      controller.abort();
      await assert.rejects(aborted, isClientError("ABORTED"));
      // Queued behind the aborted frame, whose terminal never comes.
      const next = client.analyzeFrame({ screenshot_id: "b" });
      next.catch(() => {}); // a failed assertion must not leave it unhandled
      await stuck.waitClosed();
      const fresh = await server.connection(1);
      await fresh.handshake("1.1", "s-2");
      assert.equal((await fresh.expect("frame_event")).screenshot_id, "b");
      fresh.outcome("b");
      assert.equal((await within(next, "the next frame")).frame_id, "b");
      assert.equal(stuck.unread, 0);
    },
  );

  await t.step(
    "a sent frame past its caller's deadline does not cost a healthy session",
    async () => {
      await using server = new ScriptedServer();
      const log = eventLog();
      const connecting = ProactiveClient.connect({ url: server.url, onEvent: log.onEvent });
      const connection = await server.connection(0);
      await connection.handshake();
      await using client = await connecting;
      const first = client.analyzeFrame({ screenshot_id: "a" });
      // Its deadline runs from the call, so time in the client's queue counts against it.
      const second = client.analyzeFrame({ screenshot_id: "b" }, { timeoutMs: 1_000 });
      second.catch(() => {});
      await connection.expect("frame_event");
      connection.outcome("a");
      assert.equal((await within(first, "the first frame")).frame_id, "a");
      assert.equal((await connection.expect("frame_event")).screenshot_id, "b");
      await assert.rejects(within(second, "the second frame"), isClientError("TIMEOUT"));
      // The server has had "b" for about a second, far inside its own 45 s: the session is
      // not declared stuck, and the late terminal is consumed in order.
      connection.outcome("b");
      const third = client.analyzeFrame({ screenshot_id: "c" });
      assert.equal((await connection.expect("frame_event")).screenshot_id, "c");
      connection.outcome("c");
      assert.equal((await within(third, "the third frame")).frame_id, "c");
      assert.deepEqual(log.kinds(), ["connected"]);
    },
  );

  await t.step("timeoutMs of a call overrides the client's frameTimeoutMs", async () => {
    await using server = new ScriptedServer();
    const connecting = ProactiveClient.connect({
      url: server.url,
      frameTimeoutMs: 50,
      reconnect: false,
    });
    const connection = await server.connection(0);
    await connection.handshake();
    await using client = await connecting;
    const frame = client.analyzeFrame({ screenshot_id: "a" }, { timeoutMs: 60_000 });
    frame.catch(() => {}); // a failed assertion must not leave it unhandled
    await connection.expect("frame_event");
    // Well past the client's 50 ms: only the call's own 60 s applies.
    await new Promise((resolve) => setTimeout(resolve, 200));
    connection.outcome("a");
    assert.equal((await within(frame, "the frame")).frame_id, "a");
    assert.equal(client.connected, true);
  });
});
