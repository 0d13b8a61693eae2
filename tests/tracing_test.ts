/**
 * Tracing through Deno's built-in OpenTelemetry: with `OTEL_DENO=true` the real process
 * exports a span per frame and per model call to an OTLP collector (a fake one here, over
 * OTLP/HTTP JSON), and no span carries the frame's text.
 */
import assert from "node:assert/strict";
import { TraceCollector } from "./fakes/trace_collector.ts";
import { FakeClient } from "./fakes/fake_client.ts";
import { MainProcess } from "./fakes/main_process.ts";

const OCR = "Can you send me the PRIVATE-OCR quarterly report by Friday?";

Deno.test("OTEL_DENO=true exports frame and model-call spans without user content", async () => {
  await using collector = new TraceCollector();
  const traces = collector.traces;
  await using main = await MainProcess.start({
    ...collector.env,
    OTEL_SERVICE_NAME: "proactive-test",
  });
  {
    await using client = await FakeClient.connect(`ws://${main.host}/v1/proactive`);
    await client.hello({ session_context: {} });
    client.send({ type: "frame_event", frame_number: 1, app_name: "Slack", ocr_text: OCR });
    const request = await client.expect("tool_call_request");
    client.send({ type: "tool_result", request_id: request.request_id, results: [] });
    assert.equal((await client.expect("analysis_outcome")).outcome_kind, "extract_task");
  }
  // Spans are batched; the exit flushes them.
  assert.equal((await main.stop()).code, 0);
  const spans = traces.flatMap((body) => spansOf(JSON.parse(body)));
  const frame = spans.find((span) => span.name === "frame");
  assert.ok(frame, `a frame span among ${spans.map((s) => s.name).join(", ")}`);
  assert.ok(frame.attributes.includes("frame.outcome"), "the frame's outcome as an attribute");
  assert.ok(spans.some((span) => span.name === "model.generate"), "model-call spans");
  assert.ok(!traces.join("\n").includes("PRIVATE-OCR"), "no OCR text in any span");
});

interface ExportedSpan {
  name: string;
  attributes: string[];
}

/** The spans of an OTLP/JSON `ExportTraceServiceRequest`: names and attribute keys. */
function spansOf(request: {
  resourceSpans?: Array<{
    scopeSpans?: Array<{ spans?: Array<{ name: string; attributes?: Array<{ key: string }> }> }>;
  }>;
}): ExportedSpan[] {
  return (request.resourceSpans ?? []).flatMap((r) =>
    (r.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        name: span.name,
        attributes: (span.attributes ?? []).map((a) => a.key),
      }))
    )
  );
}
