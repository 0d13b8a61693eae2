/**
 * Logs never carry user content or secrets: a whole session through the real process, with
 * debug logging on, Firebase auth, Gemini with a key, OCR text, a screenshot, task text in
 * the context, in tool results and in the extracted task, and a model error that echoes the
 * key. None of it may appear in anything the process writes.
 */
import assert from "node:assert/strict";
import { FakeClient } from "./fakes/fake_client.ts";
import { FakeGemini, functionCallAnswer } from "./fakes/fake_gemini.ts";
import { IdentityProvider } from "./fakes/identity_provider.ts";
import { MainProcess } from "./fakes/main_process.ts";

const KEY = "AIzaSy-SECRET-KEY-0123456789";
const UID = "uid-PRIVATE-abcdefghijklmnop";
const OCR = "Please wire 4,200 EUR to account PRIVATE-OCR-DE89370400440532013000";
const WINDOW = "PRIVATE-WINDOW Banking - Transfer";
const TASK = "PRIVATE-TASK renew the passport of Alice";
const RESULT = "PRIVATE-RESULT dentist appointment";
const TITLE = "PRIVATE-TITLE Wire money to landlord";
const JPEG = "/9j/PRIVATEJPEGBASE64AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

Deno.test("no log line carries OCR text, task text, screenshots, tokens, keys or full user ids", async () => {
  await using idp = await IdentityProvider.start("privacy");
  await using gemini = new FakeGemini([
    functionCallAnswer("search_keywords", { query: "PRIVATE-QUERY wire money" }),
    functionCallAnswer("extract_task", { title: TITLE, description: `${OCR} ${TASK}` }),
    {
      status: 400,
      json: { error: { code: 400, message: `API key ${KEY} not valid: ${OCR}`, status: "X" } },
    },
  ]);
  await using main = await MainProcess.start({
    LOG_LEVEL: "debug",
    FIREBASE_PROJECT_ID: idp.projectId,
    FIREBASE_JWKS_URL: idp.jwksUrl,
    GEMINI_API_KEY: KEY,
    GEMINI_BASE_URL: gemini.baseUrl,
    // The same frame is sent twice to reach the model's error path: no unchanged-screen skip.
    SKIP_UNCHANGED_SEC: "0",
  });
  const token = await idp.mint(idp.claims(UID));
  {
    await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`, {
      authorization: `Bearer ${token}`,
    });
    await client.hello({
      app_version: "1.0",
      session_context: {
        active_tasks: [{ task_id: 1, description: TASK, priority: "high", relevance_score: 1 }],
        completed_tasks: [{ task_id: 2, description: TASK }],
        deleted_tasks: [],
        goals: [{ goal_id: "g", title: TASK, description: TASK }],
      },
    });
    const frame = {
      type: "frame_event",
      app_name: "Bank",
      window_title: WINDOW,
      ocr_text: OCR,
      jpeg_base64: JPEG,
    };
    client.send({ ...frame, frame_number: 1 });
    const request = await client.expect("tool_call_request");
    client.send({
      type: "tool_result",
      request_id: request.request_id,
      results: [{
        task_id: 3,
        description: RESULT,
        status: "active",
        similarity: 0.9,
        match_type: "vector",
        relevance_score: 1,
      }],
    });
    const outcome = await client.expect("analysis_outcome");
    assert.equal(outcome.outcome_kind, "extract_task");
    client.send({ ...frame, frame_number: 2 });
    const error = await client.expect("server_error");
    assert.equal(error.code, "GEMINI_ERROR");
    assert.ok(!error.message.includes(KEY) && !error.message.includes("PRIVATE"));
    // Junk that quotes private text is refused without echoing it into the logs.
    client.sendRaw(`{"type":"frame_event","ocr_text":${JSON.stringify(OCR)},"frame_number":"x"}`);
    await client.expect("server_error");
  }
  assert.equal((await main.stop()).code, 0);

  const output = main.output;
  // Deno's own note when it fetches npm metadata at start is not a log line of ours.
  const lines = output.trim().split("\n")
    .filter((line) => !/^Download https:\/\/registry\.npmjs\.org\//.test(line));
  assert.ok(lines.length >= 5, "the session was logged");
  for (const line of lines) {
    const entry = JSON.parse(line);
    assert.ok(typeof entry.level === "string" && typeof entry.msg === "string", line);
  }
  assert.ok(output.includes(UID.slice(0, 8)), "the truncated user id is there");
  for (const secret of [KEY, token, UID, OCR, WINDOW, TASK, RESULT, TITLE, JPEG, "PRIVATE"]) {
    assert.ok(!output.includes(secret), `leaked: ${secret.slice(0, 20)}`);
  }
});
