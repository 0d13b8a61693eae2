/**
 * The privacy guard in the real process (offline model, debug logs, OTLP tracing on): a frame
 * full of secrets is analysed with them redacted and counted, a password manager's frame is
 * never analysed, and no log line, span or metric label holds a finding.
 */
import assert from "node:assert/strict";
import { TraceCollector } from "./fakes/trace_collector.ts";
import { FakeClient } from "./fakes/fake_client.ts";
import { MainProcess } from "./fakes/main_process.ts";

const SECRETS = [
  "4111 1111 1111 1111",
  "AKIAQWERTYUIOPASDF12",
  "hunter2!Secret",
  "DE89 3704 0044 0532 0130 00",
  "219-09-9999",
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
];
const OCR = `Checkout: card ${SECRETS[0]}\nexport KEY=${SECRETS[1]}\nPassword: ${SECRETS[2]}\n` +
  `IBAN ${SECRETS[3]}\nSSN ${SECRETS[4]}\nBearer ${SECRETS[5]}\nPlease pay the invoice by Friday`;

Deno.test("the real process redacts, skips and never logs or traces a finding", async () => {
  await using collector = new TraceCollector();
  const traces = collector.traces;
  await using main = await MainProcess.start({
    LOG_LEVEL: "debug",
    SKIP_UNCHANGED_SEC: "0",
    ...collector.env,
  });
  {
    await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
    await client.hello({ session_context: {} });
    client.send({
      type: "frame_event",
      frame_number: 1,
      app_name: "Safari",
      window_title: "Checkout",
      ocr_text: OCR,
      jpeg_base64: "/9j/4AAQSkZJRgABAQ==",
    });
    let outcome;
    for (;;) {
      const message = await client.next();
      if (message.type === "tool_call_request") {
        client.send({ type: "tool_result", request_id: message.request_id, results: [] });
      } else if (message.type === "analysis_outcome") {
        outcome = message;
        break;
      } else assert.fail(`unexpected ${message.type}`);
    }
    assert.deepEqual(outcome.usage.redactions, {
      card: 1,
      api_key: 1,
      password: 1,
      iban: 1,
      ssn: 1,
      jwt: 1,
    });
    assert.match(outcome.context_summary, /screenshot withheld/);
    for (const secret of SECRETS) assert.ok(!JSON.stringify(outcome).includes(secret), secret);
    client.send({
      type: "frame_event",
      frame_number: 2,
      app_name: "Bitwarden",
      ocr_text: OCR,
    });
    const skipped = await client.expect("analysis_outcome");
    assert.equal(skipped.usage.skipped, "privacy");
    assert.equal(skipped.usage.model_calls, 0);
  }
  const metrics = await (await fetch(`http://${main.metricsHost}/metrics`)).text();
  assert.match(metrics, /proactive_redactions_total\{kind="card"\} 1/);
  assert.match(metrics, /proactive_frames_skipped_total\{reason="privacy"\} 1/);
  assert.equal((await main.stop()).code, 0);
  const written = main.output + "\n" + traces.join("\n");
  assert.ok(traces.length > 0, "spans were exported");
  for (const secret of SECRETS) {
    for (const part of secret.split(" ")) {
      if (part.length >= 6) assert.ok(!written.includes(part), `written: ${part.slice(0, 6)}`);
    }
  }
  assert.ok(!written.includes("Please pay the invoice"), "no OCR text around a finding");
});
