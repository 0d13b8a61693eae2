/**
 * `tokenTransport` of `ProactiveClient`: the token as an `Authorization` header (Deno's and
 * Node's WebSocket) or as the `bearer.<token>` subprotocol beside `proactive` (browsers),
 * against the real server with Firebase authentication and the test identity provider.
 * What reached the server is read by an authenticator that records each upgrade's headers
 * and then lets the real Firebase authenticator decide.
 */
import assert from "node:assert/strict";
import type { Authenticator } from "../../src/auth/authenticator.ts";
import { FirebaseAuthenticator } from "../../src/auth/firebase.ts";
import { NoAuthenticator } from "../../src/auth/none.ts";
import { ProactiveClient } from "../../src/client/client.ts";
import { ClientError } from "../../src/client/errors.ts";
import { call, ScriptedModel } from "../fakes/fake_model.ts";
import { IdentityProvider } from "../fakes/identity_provider.ts";
import { startTestServer } from "../fakes/test_server.ts";

/** What one upgrade request carried. */
interface Seen {
  authorization: string | null;
  protocols: string | null;
}

/** The real Firebase authenticator, recording the credential headers it was shown. */
function recording(inner: Authenticator, seen: Seen[]): Authenticator {
  return {
    authenticate(request, signal) {
      seen.push({
        authorization: request.headers.get("authorization"),
        protocols: request.headers.get("sec-websocket-protocol"),
      });
      return inner.authenticate(request, signal);
    },
  };
}

Deno.test("ProactiveClient tokenTransport", async (t) => {
  await using idp = await IdentityProvider.start("transport-test");
  const seen: Seen[] = [];
  await using server = startTestServer({
    model: new ScriptedModel([
      call("no_task_found", { context_summary: "Reading", current_activity: "Mail" }),
    ]),
    authenticator: recording(
      new FirebaseAuthenticator({ projectId: idp.projectId, jwksUrl: idp.jwksUrl }),
      seen,
    ),
  });
  const token = await idp.mint(idp.claims("transport-uid-0123456789"));

  await t.step('"protocol": the token as a subprotocol; a session and a frame', async () => {
    seen.length = 0;
    await using client = await ProactiveClient.connect({
      url: server.wsUrl,
      token,
      tokenTransport: "protocol",
      reconnect: false,
    });
    assert.deepEqual(seen, [{ authorization: null, protocols: `proactive, bearer.${token}` }]);
    assert.equal(client.connected, true);
    const outcome = await client.analyzeFrame({ app_name: "Mail", ocr_text: "Newsletter" });
    assert.equal(outcome.type, "analysis_outcome");
  });

  await t.step('"protocol" with a token function: a fresh token per connect', async () => {
    seen.length = 0;
    await using client = await ProactiveClient.connect({
      url: server.wsUrl,
      token: () => Promise.resolve(token),
      tokenTransport: "protocol",
      reconnect: false,
    });
    assert.equal(seen[0]?.protocols, `proactive, bearer.${token}`);
    assert.equal(client.connected, true);
  });

  await t.step("the default in Deno is the header, as for Omi", async () => {
    seen.length = 0;
    await using client = await ProactiveClient.connect({ url: server.wsUrl, token });
    assert.deepEqual(seen, [{ authorization: `Bearer ${token}`, protocols: null }]);
    assert.equal(client.connected, true);
  });

  await t.step('"protocol" with a bad token: refused, the token not in the error', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await idp.mint({ ...idp.claims(), iat: now - 7200, exp: now - 3600 });
    const error = await ProactiveClient.connect({
      url: server.wsUrl,
      token: expired,
      tokenTransport: "protocol",
      reconnect: false,
    }).then(() => undefined, (err: unknown) => err);
    assert.ok(error instanceof ClientError, String(error));
    assert.equal(error.code, "CONNECT_FAILED");
    assert.ok(!error.message.includes(expired));
    assert.equal(server.registry.size, 0);
  });

  await t.step('"protocol" with a token no subprotocol can carry: a clear error', async () => {
    const error = await ProactiveClient.connect({
      url: server.wsUrl,
      token: "not a token, with spaces",
      tokenTransport: "protocol",
      reconnect: false,
    }).then(() => undefined, (err: unknown) => err);
    assert.ok(error instanceof ClientError, String(error));
    assert.equal(error.code, "CONNECT_FAILED");
    assert.match(error.message, /subprotocol/);
    assert.ok(!error.message.includes("spaces"));
  });

  await t.step('"protocol" without a token offers nothing', async () => {
    const offered: Seen[] = [];
    await using open = startTestServer({
      model: new ScriptedModel([]),
      authenticator: recording(new NoAuthenticator(), offered),
    });
    await using client = await ProactiveClient.connect({
      url: open.wsUrl,
      tokenTransport: "protocol",
      reconnect: false,
    });
    assert.equal(client.connected, true);
    assert.deepEqual(offered, [{ authorization: null, protocols: null }]);
  });
});
