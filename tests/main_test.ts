/**
 * The shipped process, end to end: `main.ts` with no configuration serves the offline model,
 * and a desktop that says "can you send me the Q3 report by Friday?" gets a search and then a
 * task. SIGTERM then stops it with exit code 0.
 */
import assert from "node:assert/strict";
import { FakeClient } from "./fakes/fake_client.ts";
import { IdentityProvider } from "./fakes/identity_provider.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Starts main.ts with an empty environment (but PORT=0) and returns its URL from the log. */
async function startMain(env: Record<string, string> = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", MAIN],
    clearEnv: true,
    env: { PORT: "0", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const deadline = AbortSignal.timeout(30_000);
  while (!deadline.aborted) {
    const { value, done } = await lines.read();
    if (done) break;
    buffer += value;
    const match = /"url":"http:\/\/([^"]+)"/.exec(buffer);
    if (match) return { child, lines, host: match[1]!, log: () => buffer };
  }
  child.kill();
  await child.status;
  throw new Error(`main.ts did not report its address: ${buffer}`);
}

Deno.test("main.ts with no configuration serves the offline model", async () => {
  const { child, lines, host } = await startMain();
  try {
    const client = await FakeClient.connect(`ws://${host}/v1/proactive`);
    try {
      const ready = await client.hello({ session_context: {} });
      assert.equal(ready.protocol_version, "1.0");
      client.send({
        type: "frame_event",
        frame_number: 1,
        screenshot_id: "s1",
        app_name: "Slack",
        window_title: "Slack | #team",
        ocr_text: "Hey, can you send me the Q3 report by Friday?",
      });
      const request = await client.expect("tool_call_request");
      assert.equal(request.tool_kind, "search_keywords");
      assert.match(request.query.toLowerCase(), /q3|report/);
      client.send({ type: "tool_result", request_id: request.request_id, results: [] });
      const outcome = await client.expect("analysis_outcome");
      assert.equal(outcome.outcome_kind, "extract_task");
      if (outcome.outcome_kind === "extract_task") {
        assert.match(outcome.task.title.toLowerCase(), /report/);
        assert.match(outcome.task.inferred_deadline, /^\d{4}-\d{2}-\d{2}$/);
      }
    } finally {
      await client.close();
    }
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0);
  } finally {
    await lines.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    try {
      child.kill();
    } catch {
      // already exited
    }
    await child.status;
  }
});

Deno.test("main.ts with AUTH_MODE=firebase runs a whole session on a verified token", async () => {
  await using idp = await IdentityProvider.start("omi-e2e");
  const { child, lines, host } = await startMain({
    FIREBASE_PROJECT_ID: idp.projectId,
    FIREBASE_JWKS_URL: idp.jwksUrl,
  });
  try {
    const refused = await fetch(`http://${host}/v1/proactive`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    assert.equal(refused.status, 401);
    await refused.body?.cancel();

    await using client = await FakeClient.connect(`ws://${host}/v1/proactive`, {
      authorization: `Bearer ${await idp.mint()}`,
    });
    await client.hello({ session_context: {} });
    client.send({
      type: "frame_event",
      frame_number: 1,
      app_name: "Mail",
      window_title: "Inbox",
      ocr_text: "Could you review the budget spreadsheet before tomorrow?",
    });
    const request = await client.expect("tool_call_request");
    client.send({ type: "tool_result", request_id: request.request_id, results: [] });
    const outcome = await client.expect("analysis_outcome");
    assert.equal(outcome.outcome_kind, "extract_task");
    assert.equal(idp.fetches, 1);
  } finally {
    await lines.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    child.kill("SIGTERM");
    await child.status;
  }
});

Deno.test("main.ts refuses bad configuration with one line per variable", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", MAIN],
    clearEnv: true,
    env: { PORT: "eighty", HOST: "0.0.0.0", NO_COLOR: "1" },
  }).output();
  assert.equal(output.code, 1);
  const stderr = new TextDecoder().decode(output.stderr).trim().split("\n");
  assert.deepEqual(stderr, [
    "proactive: configuration error: PORT must be an integer from 0 to 65535",
    "proactive: configuration error: AUTH_MODE=none is refused when HOST is not loopback " +
    "(HOST=0.0.0.0); set FIREBASE_PROJECT_ID",
  ]);
});
