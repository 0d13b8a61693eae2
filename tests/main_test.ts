/**
 * The shipped process, end to end: `main.ts` with no configuration serves the offline model,
 * and a desktop that says "can you send me the Q3 report by Friday?" gets a search and then a
 * task; Firebase authentication in front of it; SIGTERM drains it and it exits 0.
 */
import assert from "node:assert/strict";
import { FakeClient, rawUpgrade } from "./fakes/fake_client.ts";
import { FakeGemini, functionCallAnswer, type GeminiStep } from "./fakes/fake_gemini.ts";
import { IdentityProvider } from "./fakes/identity_provider.ts";
import { MainProcess } from "./fakes/main_process.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test("main.ts with no configuration serves the offline model", async () => {
  await using main = await MainProcess.start();
  {
    await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
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
  }
  assert.equal((await main.stop("SIGTERM")).code, 0);
});

Deno.test("main.ts with AUTH_MODE=firebase runs a whole session on a verified token", async () => {
  await using idp = await IdentityProvider.start("omi-e2e");
  await using main = await MainProcess.start({
    FIREBASE_PROJECT_ID: idp.projectId,
    FIREBASE_JWKS_URL: idp.jwksUrl,
  });
  const refused = await rawUpgrade(`http://${main.host}/v1/proactive`);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();

  await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`, {
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
});

Deno.test("main.ts drains on SIGTERM: the running frame's outcome arrives, then 1001, exit 0", async () => {
  const MODEL_MS = 1_500;
  const slow: GeminiStep = {
    ...functionCallAnswer("no_task_found", { context_summary: "s", current_activity: "a" }),
    delayMs: MODEL_MS,
  } as GeminiStep;
  await using gemini = new FakeGemini([slow]);
  await using main = await MainProcess.start({
    GEMINI_API_KEY: "test-key",
    GEMINI_BASE_URL: gemini.baseUrl,
    DRAIN_TIMEOUT_MS: "10000",
  });
  await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
  await client.hello({ protocol_version: "1.1", session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Mail", ocr_text: "hi" });
  while (gemini.requests.length === 0) await new Promise((r) => setTimeout(r, 10));

  const stopping = main.stop("SIGTERM");
  assert.equal((await client.expect("go_away")).type, "go_away");
  const outcome = await client.expect("analysis_outcome");
  assert.equal(outcome.frame_id, "1");
  assert.equal(await client.closed, 1001);
  const { code, ms } = await stopping;
  assert.equal(code, 0);
  assert.ok(ms < 10_000, `exited within the drain budget (${Math.round(ms)} ms)`);
  assert.match(main.output, /"msg":"stopped"/);
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
