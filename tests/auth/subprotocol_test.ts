/**
 * Browser authentication through `Sec-WebSocket-Protocol` (docs/protocol.md §1.1), through
 * the real server with the request-head guard on: the token offered as `bearer.<token>`
 * beside `proactive`, the server selecting `proactive`, never the token, and the token in no
 * log line, no error body and no metric.
 */
import assert from "node:assert/strict";
import { TraceCollector } from "../fakes/trace_collector.ts";
import { FirebaseAuthenticator } from "../../src/auth/firebase.ts";
import { createLogger } from "../../src/log.ts";
import { FakeClient, rawUpgrade, WAIT_MS } from "../fakes/fake_client.ts";
import { FakeGemini, functionCallAnswer } from "../fakes/fake_gemini.ts";
import { ScriptedModel } from "../fakes/fake_model.ts";
import { IdentityProvider } from "../fakes/identity_provider.ts";
import { MainProcess } from "../fakes/main_process.ts";
import { startTestServer } from "../fakes/test_server.ts";

/** The status line and headers of a 101 (or any) answer to an upgrade sent over raw TCP. */
interface RawAnswer {
  status: number;
  headers: Headers;
  /** The whole head as received, for asserting what is not in it. */
  head: string;
}

/**
 * Sends a WebSocket upgrade over a plain TCP connection and reads the answer's head, so that
 * a 101's headers can be read exactly; the connection is closed afterwards.
 */
async function upgradeHead(wsUrl: string, headers: Record<string, string>): Promise<RawAnswer> {
  const url = new URL(wsUrl);
  using conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  const lines = [
    `GET ${url.pathname} HTTP/1.1`,
    `Host: ${url.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(16 * 1024);
  let text = "";
  const signal = AbortSignal.timeout(WAIT_MS);
  while (!text.includes("\r\n\r\n")) {
    if (signal.aborted) throw new Error("no answer head in time");
    const n = await conn.read(buffer);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  const head = text.split("\r\n\r\n")[0] ?? "";
  const [statusLine = "", ...fields] = head.split("\r\n");
  const answer = new Headers();
  for (const field of fields) {
    const colon = field.indexOf(":");
    answer.append(field.slice(0, colon).trim(), field.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(" ")[1]), headers: answer, head };
}

/** Opens a WebSocket offering `protocols` and waits until it is open. */
async function openWithProtocols(url: string, protocols: string[]): Promise<WebSocket> {
  const socket = new WebSocket(url, protocols);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error("connect failed")), { once: true });
  });
  return socket;
}

/** Sends `client_hello` on `socket` and returns the first message's type. */
async function helloType(socket: WebSocket): Promise<string> {
  const first = new Promise<string>((resolve) =>
    socket.addEventListener("message", (e) => resolve(JSON.parse(String(e.data)).type), {
      once: true,
    })
  );
  socket.send(
    JSON.stringify({ type: "client_hello", protocol_version: "1.1", session_context: {} }),
  );
  return await first;
}

/** Closes `socket` and waits for its close event. */
async function closeSocket(socket: WebSocket): Promise<void> {
  const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
  socket.close();
  await closed;
}

/** Waits until `check` holds (the server notices a closed socket a little later). */
async function until(check: () => boolean): Promise<void> {
  const signal = AbortSignal.timeout(WAIT_MS);
  while (!check()) {
    if (signal.aborted) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("firebase auth through the bearer subprotocol", async (t) => {
  await using idp = await IdentityProvider.start("browser-test");
  const lines: string[] = [];
  await using server = startTestServer({
    model: new ScriptedModel([]),
    authenticator: new FirebaseAuthenticator({ projectId: idp.projectId, jwksUrl: idp.jwksUrl }),
    log: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
  });
  const token = await idp.mint(idp.claims("browser-uid-0123456789"));
  const now = Math.floor(Date.now() / 1000);
  const expired = await idp.mint({ ...idp.claims(), iat: now - 7200, exp: now - 3600 });
  const secrets = [token, expired];

  await t.step("a WebSocket offering proactive and bearer.<token> opens a session", async () => {
    const socket = await openWithProtocols(server.wsUrl, ["proactive", `bearer.${token}`]);
    assert.equal(socket.protocol, "proactive");
    assert.equal(await helloType(socket), "session_ready");
    await closeSocket(socket);
    await until(() => server.registry.size === 0);
  });

  await t.step("the 101 selects proactive and never echoes the token", async () => {
    const answer = await upgradeHead(server.wsUrl, {
      "Sec-WebSocket-Protocol": `proactive, bearer.${token}`,
    });
    assert.equal(answer.status, 101);
    assert.equal(answer.headers.get("sec-websocket-protocol"), "proactive");
    assert.ok(!answer.head.includes(token), "the token is not in the answer");
    await until(() => server.registry.size === 0);
  });

  await t.step("the order of the offer does not matter", async () => {
    const socket = await openWithProtocols(server.wsUrl, [`bearer.${token}`, "proactive"]);
    assert.equal(socket.protocol, "proactive");
    await closeSocket(socket);
    await until(() => server.registry.size === 0);
  });

  await t.step("an expired token → 401 with its reason, the token never echoed", async () => {
    const response = await rawUpgrade(server.wsUrl, {
      "sec-websocket-protocol": `proactive, bearer.${expired}`,
    });
    assert.equal(response.status, 401);
    assert.match(response.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    const body = await response.text();
    assert.deepEqual(JSON.parse(body), { error: "expired" });
    assert.equal(response.headers.get("sec-websocket-protocol"), null);
    assert.equal(server.registry.size, 0);
  });

  await t.step("proactive alone, no token → 401 missing_token", async () => {
    const response = await rawUpgrade(server.wsUrl, { "sec-websocket-protocol": "proactive" });
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), { error: "missing_token" });
  });

  await t.step("two bearer entries → 401 invalid_request", async () => {
    const response = await rawUpgrade(server.wsUrl, {
      "sec-websocket-protocol": `proactive, bearer.${token}, bearer.${token}`,
    });
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), { error: "invalid_request" });
  });

  await t.step("a bearer entry without proactive → 400, before authentication", async () => {
    const before = server.metrics.rejectedTotal.get({ reason: "bad_subprotocol" });
    const response = await rawUpgrade(server.wsUrl, {
      "sec-websocket-protocol": `bearer.${token}`,
    });
    assert.equal(response.status, 400);
    const body = await response.text();
    assert.match(JSON.parse(body).error, /"proactive" subprotocol/);
    assert.ok(!body.includes(token));
    assert.equal(server.metrics.rejectedTotal.get({ reason: "bad_subprotocol" }), before + 1);
    assert.equal(server.registry.size, 0);
  });

  await t.step("the Authorization header wins over a subprotocol token", async () => {
    // A good header and a bad subprotocol token: in.
    const answer = await upgradeHead(server.wsUrl, {
      Authorization: `Bearer ${token}`,
      "Sec-WebSocket-Protocol": `proactive, bearer.${expired}`,
    });
    assert.equal(answer.status, 101);
    assert.equal(answer.headers.get("sec-websocket-protocol"), "proactive");
    await until(() => server.registry.size === 0);
    // A bad header and a good subprotocol token: the header's verdict.
    const response = await rawUpgrade(server.wsUrl, {
      authorization: `Bearer ${expired}`,
      "sec-websocket-protocol": `proactive, bearer.${token}`,
    });
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), { error: "expired" });
  });

  await t.step(
    "Omi-style: the header, no subprotocol, no Sec-WebSocket-Protocol back",
    async () => {
      const answer = await upgradeHead(server.wsUrl, { Authorization: `Bearer ${token}` });
      assert.equal(answer.status, 101);
      assert.equal(answer.headers.get("sec-websocket-protocol"), null);
      await until(() => server.registry.size === 0);
      await using client = await FakeClient.connect(server.wsUrl, {
        authorization: `Bearer ${token}`,
      });
      assert.equal(client.socket.protocol, "");
      assert.equal((await client.hello()).type, "session_ready");
    },
  );

  await t.step("no log line and no metric carries a token", async () => {
    const metrics = await (await fetch(server.metricsUrl)).text();
    const log = lines.join("\n");
    assert.ok(log.includes("connection refused"), "the refusals were logged");
    assert.ok(metrics.includes('reason="bad_subprotocol"'));
    for (const secret of secrets) {
      assert.ok(!log.includes(secret), "a token is in the log");
      assert.ok(!metrics.includes(secret), "a token is in the metrics");
      // Nor any of its signature: a log that cut the token short would still leak it.
      assert.ok(!log.includes(secret.split(".")[2]!), "a token's signature is in the log");
    }
  });
});

Deno.test("subprotocols with authentication off", async (t) => {
  await using server = startTestServer({ model: new ScriptedModel([]) });

  await t.step("proactive alone is selected", async () => {
    const answer = await upgradeHead(server.wsUrl, { "Sec-WebSocket-Protocol": "proactive" });
    assert.equal(answer.status, 101);
    assert.equal(answer.headers.get("sec-websocket-protocol"), "proactive");
    await until(() => server.registry.size === 0);
    const socket = await openWithProtocols(server.wsUrl, ["proactive"]);
    assert.equal(socket.protocol, "proactive");
    assert.equal(await helloType(socket), "session_ready");
    await closeSocket(socket);
    await until(() => server.registry.size === 0);
  });

  await t.step("no subprotocol offered → none selected", async () => {
    const answer = await upgradeHead(server.wsUrl, {});
    assert.equal(answer.status, 101);
    assert.equal(answer.headers.get("sec-websocket-protocol"), null);
    await until(() => server.registry.size === 0);
  });

  await t.step("a bearer entry without proactive → 400", async () => {
    const response = await rawUpgrade(server.wsUrl, { "sec-websocket-protocol": "bearer.a.b.c" });
    assert.equal(response.status, 400);
    assert.match((await response.json()).error, /proactive/);
  });
});

Deno.test("a browser-style session through the real process: no token in logs, metrics, spans", async () => {
  await using collector = new TraceCollector();
  const traces = collector.traces;
  await using idp = await IdentityProvider.start("browser-privacy");
  await using gemini = new FakeGemini([
    functionCallAnswer("no_task_found", { context_summary: "Reading", current_activity: "x" }),
  ]);
  await using main = await MainProcess.start({
    LOG_LEVEL: "debug",
    FIREBASE_PROJECT_ID: idp.projectId,
    FIREBASE_JWKS_URL: idp.jwksUrl,
    GEMINI_API_KEY: "AIzaSy-test-key",
    GEMINI_BASE_URL: gemini.baseUrl,
    ...collector.env,
    OTEL_SERVICE_NAME: "proactive-test",
  });
  const token = await idp.mint(idp.claims("uid-browser-abcdefghijkl"));
  const url = `ws://${main.host}/v1/proactive`;
  {
    const socket = await openWithProtocols(url, ["proactive", `bearer.${token}`]);
    assert.equal(socket.protocol, "proactive");
    assert.equal(await helloType(socket), "session_ready");
    const outcome = new Promise<string>((resolve) =>
      socket.addEventListener("message", (e) => resolve(String(e.data)), { once: true })
    );
    socket.send(
      JSON.stringify({ type: "frame_event", frame_number: 1, app_name: "Mail", ocr_text: "hello" }),
    );
    const text = await outcome;
    const message = JSON.parse(text);
    assert.equal(message.type, "analysis_outcome", text);
    // The real process lists its one model call.
    assert.deepEqual(
      message.usage.calls.map((c: { model: string; function?: string }) => [c.model, c.function]),
      [["gemini:gemini-2.5-flash", "no_task_found"]],
    );
    await closeSocket(socket);
  }
  const refused = await rawUpgrade(url, { "sec-websocket-protocol": `bearer.${token}` });
  assert.equal(refused.status, 400);
  await refused.body?.cancel();
  const metrics = await (await fetch(`http://${main.metricsHost}/metrics`)).text();
  assert.equal((await main.stop()).code, 0);
  // Spans are batched; the exit flushed them.
  const output = main.output;
  const spans = traces.join("\n");
  assert.ok(output.includes("session opened"));
  assert.ok(spans.includes('"frame"'), "the frame was traced");
  for (const text of [output, metrics, spans]) {
    assert.ok(!text.includes(token), "the token leaked");
    assert.ok(!text.includes(token.split(".")[2]!), "the token's signature leaked");
  }
});
