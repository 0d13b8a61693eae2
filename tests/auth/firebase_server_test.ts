/**
 * Firebase authentication in front of the real server: tokens from the test identity
 * provider, upgrades over real HTTP and WebSocket.
 */
import assert from "node:assert/strict";
import { FirebaseAuthenticator } from "../../src/auth/firebase.ts";
import { createLogger } from "../../src/log.ts";
import { FakeClient, rawUpgrade } from "../fakes/fake_client.ts";
import { IdentityProvider } from "../fakes/identity_provider.ts";
import { ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";

Deno.test("firebase auth in front of /v1/proactive", async (t) => {
  await using idp = await IdentityProvider.start("omi-test");
  const lines: string[] = [];
  await using server = startTestServer({
    model: new ScriptedModel([]),
    authenticator: new FirebaseAuthenticator({ projectId: idp.projectId, jwksUrl: idp.jwksUrl }),
    log: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
  });

  await t.step("a valid token opens a session", async () => {
    const uid = "firebase-uid-0123456789abcdef";
    const token = await idp.mint(idp.claims(uid));
    await using client = await FakeClient.connect(server.wsUrl, {
      authorization: `Bearer ${token}`,
    });
    const ready = await client.hello();
    assert.equal(ready.type, "session_ready");
    const log = lines.join("\n");
    assert.ok(log.includes(uid.slice(0, 8)), "the truncated user id is logged");
    assert.ok(!log.includes(uid), "the full user id is not");
    assert.ok(!log.includes(token), "the token is not");
  });

  await t.step("no header → 401 with a Bearer challenge, no upgrade", async () => {
    const response = await rawUpgrade(server.wsUrl);
    assert.equal(response.status, 401);
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.deepEqual(await response.json(), { error: "missing_token" });
    assert.equal(server.registry.size, 0);
  });

  await t.step("a bad token → 401 invalid_token, the token never echoed", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await idp.mint({ ...idp.claims(), iat: now - 7200, exp: now - 3600 });
    const response = await rawUpgrade(server.wsUrl, { authorization: `Bearer ${token}` });
    assert.equal(response.status, 401);
    assert.match(response.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    const body = await response.text();
    assert.deepEqual(JSON.parse(body), { error: "expired" });
    assert.ok(!lines.join("\n").includes(token));
  });

  await t.step("a refused WebSocket client sees the connect fail", async () => {
    await assert.rejects(
      FakeClient.connect(server.wsUrl, { authorization: "Bearer not-a-jwt" }),
      /connect failed/,
    );
    assert.equal(server.registry.size, 0);
  });
});

Deno.test("firebase auth with the key set unreachable and no cache → 503 Retry-After", async () => {
  await using idp = await IdentityProvider.start();
  idp.down = true;
  await using server = startTestServer({
    model: new ScriptedModel([]),
    authenticator: new FirebaseAuthenticator({ projectId: idp.projectId, jwksUrl: idp.jwksUrl }),
  });
  const response = await rawUpgrade(server.wsUrl, { authorization: `Bearer ${await idp.mint()}` });
  assert.equal(response.status, 503);
  assert.ok(Number(response.headers.get("retry-after")) > 0);
  assert.deepEqual(await response.json(), { error: "keys_unavailable" });
});
