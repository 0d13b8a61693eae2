/**
 * `ProactiveClient` against the real server (handler, session, analysis loop) on a free
 * loopback port, with a scripted model deciding each frame.
 */
import assert from "node:assert/strict";
import { ModelError } from "../../src/analysis/model.ts";
import type { Authenticator, AuthResult } from "../../src/auth/authenticator.ts";
import { ProactiveClient } from "../../src/client/client.ts";
import { ClientError } from "../../src/client/errors.ts";
import type { ToolResultItem } from "../../src/protocol/messages.ts";
import { OfflineModel } from "../../src/models/offline.ts";
import { call, delay, ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";

const summary = { context_summary: "Reading mail", current_activity: "Mail" };
const noTask = () => call("no_task_found", summary);

const HIT: ToolResultItem = {
  task_id: 7,
  description: "Send Q3 report to Sarah",
  status: "active",
  similarity: 0,
  match_type: "fts",
  relevance_score: 1,
};

Deno.test("ProactiveClient.connect()", async (t) => {
  await t.step("sends client_hello with the context and returns session_ready", async () => {
    const model = new ScriptedModel([
      (conversation) => {
        assert.deepEqual(conversation.request.context.active_tasks?.map((x) => x.task_id), [3]);
        return Promise.resolve({
          functionCall: { name: "no_task_found", args: summary },
          content: {},
          usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 },
        });
      },
    ]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({
      url: server.wsUrl,
      context: { active_tasks: [{ task_id: 3, description: "Water the plants", priority: "low" }] },
      contextVersion: "v7",
    });
    assert.equal(client.connected, true);
    assert.equal(client.session?.protocol_version, "1.1");
    assert.equal(client.session?.context_version, "v7");
    assert.match(client.session?.session_id ?? "", /^[0-9a-f-]{36}$/);
    const outcome = await client.analyzeFrame({ app_name: "Mail", ocr_text: "Newsletter" });
    assert.equal(outcome.type, "analysis_outcome");
  });

  await t.step("negotiates 1.0 when asked to", async () => {
    await using server = startTestServer({ model: new ScriptedModel([]) });
    await using client = await ProactiveClient.connect({
      url: server.wsUrl,
      protocolVersion: "1.0",
    });
    assert.equal(client.session?.protocol_version, "1.0");
  });

  await t.step("sends the token as an Authorization: Bearer header", async () => {
    const seen: Array<string | null> = [];
    const authenticator: Authenticator = {
      authenticate(request: Request): Promise<AuthResult> {
        seen.push(request.headers.get("authorization"));
        return Promise.resolve({ ok: true, userId: "u1" });
      },
    };
    await using server = startTestServer({ model: new ScriptedModel([]), authenticator });
    let refreshes = 0;
    await using client = await ProactiveClient.connect({
      url: server.wsUrl,
      token: () => `token-${++refreshes}`,
    });
    assert.equal(client.connected, true);
    assert.deepEqual(seen, ["Bearer token-1"]);
  });

  await t.step("rejects with CONNECT_FAILED when the server refuses the upgrade", async () => {
    const authenticator: Authenticator = {
      authenticate: () =>
        Promise.resolve({
          ok: false,
          status: 401,
          reason: "missing_token",
          headers: { "www-authenticate": 'Bearer realm="proactive"' },
        } as AuthResult),
    };
    await using server = startTestServer({ model: new ScriptedModel([]), authenticator });
    await assert.rejects(
      ProactiveClient.connect({ url: server.wsUrl, reconnect: false }),
      (err: unknown) =>
        err instanceof ClientError && err.code === "CONNECT_FAILED" && /HTTP 401/.test(err.message),
    );
  });

  await t.step("rejects with CONNECT_FAILED when nothing listens", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    await assert.rejects(
      ProactiveClient.connect({ url: `ws://127.0.0.1:${port}/v1/proactive` }),
      (err: unknown) =>
        err instanceof ClientError && err.code === "CONNECT_FAILED" &&
        /no server answered/.test(err.message),
    );
  });
});

Deno.test("ProactiveClient.analyzeFrame()", async (t) => {
  await t.step("answers a tool call with onToolCall's results, then resolves", async () => {
    const model = new ScriptedModel([
      call("search_keywords", { query: "Q3 report" }),
      call("reject_task", { reason: "Duplicates #7", ...summary }),
    ]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    const requests: string[] = [];
    const outcome = await client.analyzeFrame(
      { screenshot_id: "shot-1", app_name: "Slack", ocr_text: "Can you send the Q3 report?" },
      {
        onToolCall: (request, signal) => {
          assert.equal(signal.aborted, false);
          requests.push(`${request.tool_kind}:${request.query}:${request.frame_id}`);
          return [HIT];
        },
      },
    );
    assert.deepEqual(requests, ["search_keywords:Q3 report:shot-1"]);
    assert.equal(outcome.type, "analysis_outcome");
    assert.equal(outcome.frame_id, "shot-1");
    if (outcome.type !== "analysis_outcome" || outcome.outcome_kind !== "reject_task") {
      throw new Error(`expected reject_task, got ${JSON.stringify(outcome)}`);
    }
    assert.equal(outcome.reason, "Duplicates #7");
    assert.equal(outcome.usage.tool_calls, 1);
    const toolTurn = model.calls[1]?.turns.find((turn) => turn.role === "tool");
    assert.deepEqual(toolTurn?.role === "tool" ? toolTurn.results : undefined, [HIT]);
  });

  await t.step("sends the error of a throwing onToolCall as the tool_result error", async () => {
    const model = new ScriptedModel([call("search_similar", { query: "report" }), noTask()]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    const outcome = await client.analyzeFrame({ app_name: "Mail" }, {
      onToolCall: () => {
        throw new Error("index unavailable");
      },
    });
    assert.equal(outcome.type, "analysis_outcome");
    const toolTurn = model.calls[1]?.turns.find((turn) => turn.role === "tool");
    assert.equal(toolTurn?.role === "tool" ? toolTurn.error : undefined, "index unavailable");
  });

  await t.step("reports an error to the server when there is no onToolCall", async () => {
    const model = new ScriptedModel([call("search_keywords", { query: "x" }), noTask()]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    await client.analyzeFrame({ app_name: "Mail" });
    const toolTurn = model.calls[1]?.turns.find((turn) => turn.role === "tool");
    assert.match(toolTurn?.role === "tool" ? toolTurn.error ?? "" : "", /does not run searches/);
  });

  await t.step("passes a server_error through as the frame's terminal", async () => {
    const model = new ScriptedModel([
      { throws: new ModelError("HTTP", "Model request failed (HTTP 503)", { status: 503 }) },
      noTask(),
    ]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    const failed = await client.analyzeFrame({ frame_number: 41, app_name: "Mail" });
    assert.equal(failed.type, "server_error");
    if (failed.type === "server_error") {
      assert.equal(failed.code, "GEMINI_ERROR");
      assert.equal(failed.retryable, true);
      assert.equal(failed.frame_id, "41");
    }
    // The session goes on.
    const next = await client.analyzeFrame({ app_name: "Mail" });
    assert.equal(next.type, "analysis_outcome");
  });

  await t.step("resolves overlapping calls in call order, each with its own terminal", async () => {
    const model = new ScriptedModel([
      { call: { name: "no_task_found", args: summary }, delayMs: 60 },
      call("search_keywords", { query: "b" }),
      noTask(),
      noTask(),
    ]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    const settled: string[] = [];
    const frames = ["a", "b", "c"].map((id) =>
      client.analyzeFrame({ screenshot_id: id, app_name: "Notes" }, {
        onToolCall: () => delay(30).then(() => []),
      }).then((terminal) => {
        settled.push(terminal.frame_id ?? "?");
        return terminal.frame_id;
      })
    );
    assert.deepEqual(await Promise.all(frames), ["a", "b", "c"]);
    assert.deepEqual(settled, ["a", "b", "c"]);
  });

  await t.step("sends an updated context with the next frame", async () => {
    const seen: Array<number[] | undefined> = [];
    const record = () => (conversation: { request: { context: { active_tasks?: unknown } } }) => {
      const tasks = conversation.request.context.active_tasks as Array<{ task_id: number }>;
      seen.push(tasks?.map((t) => t.task_id));
      return Promise.resolve({
        functionCall: { name: "no_task_found", args: summary },
        content: {},
        usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 },
      });
    };
    const model = new ScriptedModel([record(), record(), record()]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    await client.analyzeFrame({ app_name: "Mail" });
    client.updateContext({ active_tasks: [{ task_id: 1, description: "Pay rent" }] });
    await client.analyzeFrame({ app_name: "Mail" });
    await client.analyzeFrame({ app_name: "Mail" });
    assert.deepEqual(seen, [undefined, [1], [1]]);
  });

  await t.step("carries a 4 KB frame (padded in Deno) intact", async () => {
    const ocr = "Line of text that the desktop read off the screen. ".repeat(80);
    const model = new ScriptedModel([
      (conversation) => {
        assert.equal(conversation.request.frame.ocrText, ocr);
        return Promise.resolve({
          functionCall: { name: "no_task_found", args: summary },
          content: {},
          usage: { inputTokens: 1, outputTokens: 1, costUsd: 0 },
        });
      },
    ]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    const outcome = await client.analyzeFrame({ app_name: "Reader", ocr_text: ocr });
    assert.equal(outcome.type, "analysis_outcome");
  });

  await t.step("rejects an invalid frame with INVALID_FRAME without sending it", async () => {
    const model = new ScriptedModel([]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    await assert.rejects(
      client.analyzeFrame({ app_name: 42 as unknown as string }),
      (err: unknown) => err instanceof ClientError && err.code === "INVALID_FRAME",
    );
    assert.equal(model.calls.length, 0);
  });
});

Deno.test("ProactiveClient and a server with MAX_MESSAGE_BYTES=32768", async (t) => {
  const line = "Please review the attached budget before Friday and reply to this thread. ";
  await t.step(
    "ordinary 2–30 KB frames get outcomes, not a 1009 close, from the announced limit",
    async () => {
      await using server = startTestServer({
        model: new OfflineModel(),
        limits: { maxMessageBytes: 32_768 },
      });
      const events: string[] = [];
      await using client = await ProactiveClient.connect({
        url: server.wsUrl,
        // A context over 1 KB: the hello itself must not be padded past the server's limit.
        context: {
          active_tasks: Array.from({ length: 40 }, (_, i) => ({
            task_id: i,
            description: `Task number ${i} of a long list`,
          })),
        },
        reconnect: false,
        onEvent: (event) => events.push(event.kind),
      });
      for (const size of [2_000, 8_000, 16_000, 30_000]) {
        const ocr = line.repeat(Math.ceil(size / line.length)).slice(0, size);
        const outcome = await client.analyzeFrame({ app_name: "Mail", ocr_text: ocr });
        assert.equal(outcome.type, "analysis_outcome", `${size}: ${JSON.stringify(outcome)}`);
      }
      assert.equal(client.connected, true);
      assert.deepEqual(events, ["connected"]);
    },
  );
});

Deno.test("ProactiveClient.analyzeFrame() with a signal", async (t) => {
  await t.step(
    "rejects an in-flight frame with ABORTED; the next frame gets its own answer",
    async () => {
      const model = new ScriptedModel([
        call("search_keywords", { query: "slow" }),
        call("no_task_found", { context_summary: "first", current_activity: "first" }),
        call("no_task_found", { context_summary: "second", current_activity: "second" }),
      ]);
      await using server = startTestServer({ model });
      await using client = await ProactiveClient.connect({ url: server.wsUrl });
      const controller = new AbortController();
      let toolSignal: AbortSignal | undefined;
      const first = client.analyzeFrame({ screenshot_id: "first", app_name: "Mail" }, {
        signal: controller.signal,
        onToolCall: (_request, signal) => {
          toolSignal = signal;
          controller.abort();
          return new Promise<never>(() => {});
        },
      });
      await assert.rejects(
        first,
        (err: unknown) => err instanceof ClientError && err.code === "ABORTED",
      );
      const second = await client.analyzeFrame({ screenshot_id: "second", app_name: "Mail" });
      assert.equal(second.frame_id, "second");
      assert.equal(second.type === "analysis_outcome" && second.current_activity, "second");
      assert.equal(toolSignal?.aborted, true);
      // The server heard that the client gave up on the search.
      const toolTurn = model.calls[1]?.turns.find((turn) => turn.role === "tool");
      assert.match(toolTurn?.role === "tool" ? toolTurn.error ?? "" : "", /cancelled/);
    },
  );

  await t.step("never sends a queued frame whose signal aborts", async () => {
    const model = new ScriptedModel([
      { call: { name: "no_task_found", args: summary }, delayMs: 80 },
      noTask(),
    ]);
    await using server = startTestServer({ model });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    const running = client.analyzeFrame({ screenshot_id: "a", app_name: "Mail" });
    const queued = client.analyzeFrame({ screenshot_id: "b", app_name: "Mail" }, {
      signal: AbortSignal.timeout(10),
    });
    await assert.rejects(
      queued,
      (err: unknown) => err instanceof ClientError && err.code === "TIMEOUT",
    );
    assert.equal((await running).frame_id, "a");
    const last = await client.analyzeFrame({ screenshot_id: "c", app_name: "Mail" });
    assert.equal(last.frame_id, "c");
    assert.equal(model.calls.length, 2);
  });

  await t.step("rejects at once when the signal is already aborted", async () => {
    await using server = startTestServer({ model: new ScriptedModel([]) });
    await using client = await ProactiveClient.connect({ url: server.wsUrl });
    await assert.rejects(
      client.analyzeFrame({ app_name: "Mail" }, { signal: AbortSignal.abort() }),
      (err: unknown) => err instanceof ClientError && err.code === "ABORTED",
    );
  });
});

Deno.test("ProactiveClient.close()", async (t) => {
  await t.step("rejects frames in flight and later calls with CLOSED", async () => {
    const model = new ScriptedModel([{ hang: true }]);
    await using server = startTestServer({ model });
    const client = await ProactiveClient.connect({ url: server.wsUrl });
    const pending = client.analyzeFrame({ app_name: "Mail" });
    const rejected = assert.rejects(
      pending,
      (err: unknown) => err instanceof ClientError && err.code === "CLOSED",
    );
    await delay(50);
    await client.close();
    await rejected;
    await assert.rejects(
      client.analyzeFrame({ app_name: "Mail" }),
      (err: unknown) => err instanceof ClientError && err.code === "CLOSED",
    );
    assert.equal(client.closed, true);
    await model.sawAbort();
  });

  await t.step("is what aborting the connect signal does", async () => {
    await using server = startTestServer({ model: new ScriptedModel([]) });
    const controller = new AbortController();
    const events: string[] = [];
    const client = await ProactiveClient.connect({
      url: server.wsUrl,
      signal: controller.signal,
      onEvent: (event) => events.push(event.kind),
    });
    controller.abort();
    await client.close();
    assert.equal(client.closed, true);
    assert.deepEqual(events, ["connected", "closed"]);
  });
});

Deno.test("ProactiveClient and the server's drain", async (t) => {
  await t.step(
    "go_away: the running frame finishes, then the client tries to reconnect",
    async () => {
      const model = new ScriptedModel([
        { call: { name: "no_task_found", args: summary }, delayMs: 100 },
      ]);
      await using server = startTestServer({ model });
      const events: string[] = [];
      await using client = await ProactiveClient.connect({
        url: server.wsUrl,
        reconnect: { initialDelayMs: 10, maxDelayMs: 10, maxAttempts: 1 },
        random: () => 0,
        onEvent: (event) => events.push(event.kind),
      });
      const running = client.analyzeFrame({ screenshot_id: "last", app_name: "Mail" });
      await delay(30);
      const drained = server.server.drain(5_000, 20);
      const outcome = await running;
      assert.equal(outcome.type, "analysis_outcome");
      assert.equal(outcome.frame_id, "last");
      assert.equal(await drained, 0, "no session had to be cut off");
      // The server is gone, so the one reconnect attempt fails and the client gives up.
      for (let waited = 0; !client.closed && waited < 5_000; waited += 10) await delay(10);
      assert.equal(client.closed, true);
      assert.deepEqual(events, [
        "connected",
        "go_away",
        "disconnected",
        "reconnecting",
        "reconnect_failed",
        "closed",
      ]);
    },
  );
});

Deno.test("ProactiveClient.connect() honours its signal while a token refresh hangs", async () => {
  const controller = new AbortController();
  const connecting = ProactiveClient.connect({
    url: "ws://127.0.0.1:9/v1/proactive",
    token: () => new Promise<string>(() => {}),
    signal: controller.signal,
  });
  controller.abort(new DOMException("caller gave up", "AbortError"));
  await assert.rejects(connecting, (err: unknown) => (err as { code?: string }).code === "ABORTED");
});
