import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { FirebaseAuthenticator, type FirebaseAuthOptions } from "../../src/auth/firebase.ts";
import type { AuthResult } from "../../src/auth/authenticator.ts";
import { b64url, IdentityProvider, makeKey } from "../fakes/identity_provider.ts";

function authenticator(idp: IdentityProvider, options: Partial<FirebaseAuthOptions> = {}) {
  return new FirebaseAuthenticator({
    projectId: idp.projectId,
    jwksUrl: idp.jwksUrl,
    fetchTimeoutMs: 2_000,
    ...options,
  });
}

function check(auth: FirebaseAuthenticator, authorization?: string): Promise<AuthResult> {
  const headers = new Headers();
  if (authorization !== undefined) headers.set("authorization", authorization);
  return auth.authenticate(
    new Request("http://x/v1/proactive", { headers }),
    AbortSignal.timeout(10_000),
  );
}

function assertRefused(result: AuthResult, status: number, reason: string) {
  assert.equal(result.ok, false, `expected ${reason}`);
  if (result.ok) return;
  assert.deepEqual([result.status, result.reason], [status, reason]);
}

Deno.test("FirebaseAuthenticator accepts a valid token and returns its sub", async () => {
  await using idp = await IdentityProvider.start();
  const result = await check(authenticator(idp), `Bearer ${await idp.mint()}`);
  assert.deepEqual(result, { ok: true, userId: "user-1234567890" });
});

Deno.test("FirebaseAuthenticator refuses every kind of bad credential", async (t) => {
  await using idp = await IdentityProvider.start();
  const auth = authenticator(idp);
  const now = Math.floor(Date.now() / 1000);
  const other = await makeKey("key-1"); // same kid, another key
  const stranger = await makeKey("key-unknown");
  const cases: Array<[string, () => Promise<string | undefined>, number, string, string]> = [
    [
      "no header",
      () => Promise.resolve(undefined),
      401,
      "missing_token",
      'Bearer realm="proactive"',
    ],
    [
      "wrong scheme",
      async () => `Basic ${await idp.mint()}`,
      401,
      "invalid_request",
      'error="invalid_request"',
    ],
    [
      "not a JWT",
      () => Promise.resolve("Bearer not-a-jwt"),
      401,
      "malformed_token",
      'error="invalid_token"',
    ],
    [
      "three junk segments",
      () => Promise.resolve("Bearer aaa.bbb.ccc"),
      401,
      "malformed_token",
      'error="invalid_token"',
    ],
    [
      "expired",
      () =>
        idp.mint({ ...idp.claims(), iat: now - 7200, exp: now - 3600 }).then((t) => `Bearer ${t}`),
      401,
      "expired",
      'error="invalid_token"',
    ],
    [
      "iat an hour ahead",
      () =>
        idp.mint({ ...idp.claims(), iat: now + 3600, exp: now + 7200 }).then((t) => `Bearer ${t}`),
      401,
      "issued_in_future",
      'error="invalid_token"',
    ],
    [
      "auth_time ahead",
      () => idp.mint({ ...idp.claims(), auth_time: now + 3600 }).then((t) => `Bearer ${t}`),
      401,
      "auth_time_in_future",
      'error="invalid_token"',
    ],
    [
      "wrong audience",
      () => idp.mint({ ...idp.claims(), aud: "other-project" }).then((t) => `Bearer ${t}`),
      401,
      "wrong_audience",
      'error="invalid_token"',
    ],
    [
      "wrong issuer",
      () =>
        idp.mint({ ...idp.claims(), iss: "https://securetoken.google.com/other" }).then((t) =>
          `Bearer ${t}`
        ),
      401,
      "wrong_issuer",
      'error="invalid_token"',
    ],
    [
      "alg none",
      () =>
        Promise.resolve(`Bearer ${b64url({ alg: "none", typ: "JWT" })}.${b64url(idp.claims())}.`),
      401,
      "bad_algorithm",
      'error="invalid_token"',
    ],
    [
      "HS256 signed with the public key as secret",
      async () => {
        const secret = new TextEncoder().encode(await idp.publicKeyPem());
        return `Bearer ${await new SignJWT(idp.claims()).setProtectedHeader({
          alg: "HS256",
          kid: "key-1",
        }).sign(secret)}`;
      },
      401,
      "bad_algorithm",
      'error="invalid_token"',
    ],
    [
      "unknown kid",
      () => idp.mint(idp.claims(), stranger).then((t) => `Bearer ${t}`),
      401,
      "unknown_key",
      'error="invalid_token"',
    ],
    [
      "known kid signed by another key",
      () => idp.mint(idp.claims(), other).then((t) => `Bearer ${t}`),
      401,
      "bad_signature",
      'error="invalid_token"',
    ],
    [
      "empty sub",
      () => idp.mint({ ...idp.claims(), sub: "" }).then((t) => `Bearer ${t}`),
      401,
      "invalid_subject",
      'error="invalid_token"',
    ],
    [
      "129-character sub",
      () => idp.mint(idp.claims("u".repeat(129))).then((t) => `Bearer ${t}`),
      401,
      "invalid_subject",
      'error="invalid_token"',
    ],
  ];
  for (const [name, header, status, reason, challenge] of cases) {
    await t.step(name, async () => {
      const value = await header();
      const result = await check(auth, value);
      assertRefused(result, status, reason);
      if (!result.ok) {
        assert.ok(result.headers?.["www-authenticate"]?.includes(challenge), challenge);
      }
    });
  }
  await t.step("a 128-character sub is fine", async () => {
    const result = await check(auth, `Bearer ${await idp.mint(idp.claims("u".repeat(128)))}`);
    assert.ok(result.ok);
  });
  await t.step("a small clock skew is tolerated", async () => {
    const result = await check(auth, `Bearer ${await idp.mint({ ...idp.claims(), iat: now + 3 })}`);
    assert.ok(result.ok);
  });
});

Deno.test("FirebaseAuthenticator and an unreachable key set", async (t) => {
  await t.step("warm cache: valid tokens are still accepted", async () => {
    await using idp = await IdentityProvider.start();
    // cacheMaxAge 0 forces a refetch on every token: the refetch fails, the cache serves.
    const auth = authenticator(idp, { cacheMaxAgeMs: 0 });
    assert.ok((await check(auth, `Bearer ${await idp.mint()}`)).ok);
    idp.down = true;
    assert.ok((await check(auth, `Bearer ${await idp.mint()}`)).ok);
    assert.ok(idp.fetches >= 2, "it did try to refetch");
  });
  await t.step("a key rotated in during the outage: 503, not 401", async () => {
    await using idp = await IdentityProvider.start();
    const auth = authenticator(idp, { cooldownMs: 0 });
    assert.ok((await check(auth, `Bearer ${await idp.mint()}`)).ok);
    idp.down = true;
    const rotated = await makeKey("key-2");
    const result = await check(auth, `Bearer ${await idp.mint(idp.claims(), rotated)}`);
    assertRefused(result, 503, "keys_unavailable");
  });
  await t.step("cold cache: 503 with Retry-After", async () => {
    await using idp = await IdentityProvider.start();
    idp.down = true;
    const result = await check(authenticator(idp), `Bearer ${await idp.mint()}`);
    assertRefused(result, 503, "keys_unavailable");
    if (!result.ok) assert.ok(Number(result.headers?.["retry-after"]) > 0);
  });
  await t.step("nothing listening at all: 503", async () => {
    const gone = await IdentityProvider.start();
    const token = await gone.mint();
    const auth = authenticator(gone);
    await gone[Symbol.asyncDispose]();
    assertRefused(await check(auth, `Bearer ${token}`), 503, "keys_unavailable");
  });
});

Deno.test("FirebaseAuthenticator fetches a rotated key", async () => {
  await using idp = await IdentityProvider.start();
  const auth = authenticator(idp, { cooldownMs: 0 });
  assert.ok((await check(auth, `Bearer ${await idp.mint()}`)).ok);
  assert.equal(idp.fetches, 1);
  const rotated = await makeKey("key-2");
  idp.published = [idp.key, rotated];
  assert.ok((await check(auth, `Bearer ${await idp.mint(idp.claims(), rotated)}`)).ok);
  assert.equal(idp.fetches, 2, "the new kid caused one refetch");
});

Deno.test("100 concurrent connects share one key fetch", async () => {
  await using idp = await IdentityProvider.start();
  const auth = authenticator(idp);
  const tokens = await Promise.all(
    Array.from({ length: 100 }, (_, i) => idp.mint(idp.claims(`user-${i}`))),
  );
  const results = await Promise.all(tokens.map((token) => check(auth, `Bearer ${token}`)));
  assert.ok(results.every((r) => r.ok));
  assert.equal(idp.fetches, 1);
});
