/**
 * The developer console's routes (docs/protocol.md §8): the page and its script with their
 * security headers when `CONSOLE` is on, 404 like any unknown path when it is off; through
 * the real server with the request-head guard on, and through main.ts for the default.
 */
import assert from "node:assert/strict";
import { NoAuthenticator } from "../../src/auth/none.ts";
import { CONSOLE_SCRIPT, type ConsoleAuth, consolePage } from "../../src/console/assets.ts";
import { silentLogger } from "../../src/log.ts";
import { Metrics } from "../../src/server/metrics.ts";
import { SessionRegistry } from "../../src/server/registry.ts";
import { type ProactiveServer, startServer } from "../../src/server/server.ts";
import { ScriptedModel } from "../fakes/fake_model.ts";
import { IdentityProvider } from "../fakes/identity_provider.ts";
import { MainProcess } from "../fakes/main_process.ts";
import { TEST_LIMITS } from "../fakes/test_server.ts";

const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; " +
  "frame-ancestors 'none'";

/** The real server with the guard on, the console on (for `auth`) or off (`undefined`). */
function serve(auth: ConsoleAuth | undefined): ProactiveServer & AsyncDisposable {
  const registry = new SessionRegistry();
  const server = startServer({
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: 10_000,
    model: new ScriptedModel([]),
    authenticator: new NoAuthenticator(),
    registry,
    log: silentLogger,
    metrics: new Metrics(() => registry.size),
    maxSessions: 10,
    maxSessionsPerUser: 10,
    idleTimeoutSeconds: 30,
    limits: TEST_LIMITS,
    ...(auth ? { console: { auth } } : {}),
  });
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.shutdown() });
}

function base(server: ProactiveServer): string {
  return `http://127.0.0.1:${server.addr.port}`;
}

Deno.test("console on: the page and its script", async (t) => {
  await using server = serve("none");
  const get = (path: string, init?: RequestInit) => fetch(`${base(server)}${path}`, init);

  await t.step("GET /console → the page, with a strict CSP, nosniff, no-store", async () => {
    const response = await get("/console");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(response.headers.get("content-security-policy"), CSP);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(await response.text(), consolePage({ auth: "none" }));
  });
  await t.step("GET /console/app.js → the script, nosniff", async () => {
    const response = await get("/console/app.js");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.equal(await response.text(), CONSOLE_SCRIPT);
  });
  await t.step("HEAD answers as GET does, without a body", async () => {
    for (const path of ["/console", "/console/app.js"]) {
      const response = await get(path, { method: "HEAD" });
      assert.equal(response.status, 200, `HEAD ${path}`);
      assert.equal(await response.text(), "");
    }
    const page = await get("/console", { method: "HEAD" });
    assert.equal(page.headers.get("content-security-policy"), CSP);
    await page.body?.cancel();
  });
  await t.step("any other method → 405 Allow: GET, HEAD", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      for (const path of ["/console", "/console/app.js"]) {
        const response = await get(path, { method, body: "x" });
        assert.equal(response.status, 405, `${method} ${path}`);
        assert.equal(response.headers.get("allow"), "GET, HEAD");
        assert.match((await response.json()).error, /GET/);
      }
    }
  });
  await t.step("other paths under /console are unknown", async () => {
    for (const path of ["/console/", "/console/other.js", "/consoles"]) {
      const response = await get(path);
      assert.equal(response.status, 404, path);
      assert.deepEqual(await response.json(), { error: "Not found" });
    }
  });
});

Deno.test("console on with Firebase: the page is told to ask for a token", async () => {
  await using server = serve("firebase");
  const response = await fetch(`${base(server)}/console`);
  assert.equal(await response.text(), consolePage({ auth: "firebase" }));
});

Deno.test("console off: both paths are 404, exactly like an unknown path", async () => {
  await using server = serve(undefined);
  const unknown = await fetch(`${base(server)}/nope`);
  const expected = { headers: [...unknown.headers].filter(([k]) => k !== "date"), body: "" };
  expected.body = await unknown.text();
  for (const path of ["/console", "/console/app.js"]) {
    for (const method of ["GET", "POST"]) {
      const response = await fetch(`${base(server)}${path}`, {
        method,
        ...(method === "POST" ? { body: "x" } : {}),
      });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.deepEqual([...response.headers].filter(([k]) => k !== "date"), expected.headers);
      assert.equal(await response.text(), expected.body);
    }
  }
});

Deno.test("main.ts serves the console by default without auth, not with Firebase", async (t) => {
  await t.step("AUTH_MODE=none: on", async () => {
    await using main = await MainProcess.start({});
    const response = await fetch(`http://${main.host}/console`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), consolePage({ auth: "none" }));
    assert.match(main.output, /"console":"http:\/\/[^"]+\/console"/);
    assert.equal((await main.stop()).code, 0);
  });
  await t.step("AUTH_MODE=firebase: off, unless CONSOLE=on", async () => {
    await using idp = await IdentityProvider.start("console");
    const env = { FIREBASE_PROJECT_ID: idp.projectId, FIREBASE_JWKS_URL: idp.jwksUrl };
    {
      await using main = await MainProcess.start(env);
      const response = await fetch(`http://${main.host}/console`);
      assert.equal(response.status, 404);
      await response.body?.cancel();
      assert.equal((await main.stop()).code, 0);
    }
    await using main = await MainProcess.start({ ...env, CONSOLE: "on" });
    const response = await fetch(`http://${main.host}/console`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), consolePage({ auth: "firebase" }));
    assert.equal((await main.stop()).code, 0);
  });
});
