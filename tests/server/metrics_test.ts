import assert from "node:assert/strict";
import { Counter, Histogram } from "../../src/server/metrics.ts";
import { call, ScriptedModel } from "../fakes/fake_model.ts";
import { startTestServer } from "../fakes/test_server.ts";

/**
 * Checks `text` against the rules of the Prometheus text format (0.0.4) and returns its
 * samples by series (`name{labels}` → value).
 */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Map<string, string>();
  assert.ok(text.endsWith("\n"), "exposition ends with a newline");
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        assert.ok(!typed.has(meta[2]!), `one TYPE line for ${meta[2]}`);
        assert.match(meta[3]!, /^(counter|gauge|histogram|summary|untyped)$/);
        typed.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$/
        .exec(line);
    assert.ok(sample, `a valid sample line: ${line}`);
    const value = Number(sample[3] === "+Inf" ? Infinity : sample[3]);
    assert.ok(!Number.isNaN(value), `a number: ${line}`);
    const base = sample[1]!.replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(sample[1]!) || typed.has(base), `TYPE declared before ${sample[1]}`);
    const series = `${sample[1]}${sample[2] ?? ""}`;
    assert.ok(!samples.has(series), `one sample per series: ${series}`);
    samples.set(series, value);
  }
  return samples;
}

Deno.test("metrics: exposition format", async (t) => {
  await t.step("counters keep one series per label set and escape label values", () => {
    const counter = new Counter<"reason">("x_total", "Help with \\ and\nnewline.");
    counter.inc({ reason: 'a"b\\c\nd' });
    counter.inc({ reason: 'a"b\\c\nd' }, 2);
    counter.inc({ reason: "other" }, -5);
    const text = counter.render();
    assert.ok(text.includes(String.raw`x_total{reason="a\"b\\c\nd"} 3`), text);
    assert.ok(text.includes(String.raw`# HELP x_total Help with \\ and\nnewline.`), text);
    assert.equal(counter.get({ reason: "other" }), 0, "counters never go down");
    parseExposition(text);
  });
  await t.step("histograms are cumulative with +Inf, sum and count", () => {
    const h = new Histogram("d_seconds", "Durations.", [1, 0.1]);
    for (const v of [0.05, 0.5, 0.5, 7, NaN]) h.observe(v);
    const samples = parseExposition(h.render());
    assert.equal(samples.get('d_seconds_bucket{le="0.1"}'), 1);
    assert.equal(samples.get('d_seconds_bucket{le="1"}'), 3);
    assert.equal(samples.get('d_seconds_bucket{le="+Inf"}'), 4);
    assert.equal(samples.get("d_seconds_count"), 4);
    assert.equal(samples.get("d_seconds_sum"), 8.05);
  });
});

Deno.test("metrics: a model call that runs out of time is counted as a timeout", async () => {
  await using server = startTestServer({
    model: new ScriptedModel([{ hang: true }]),
    instrument: true,
    limits: { modelCallTimeoutMs: 50 },
  });
  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Mail" });
  assert.equal((await client.expect("server_error")).code, "GEMINI_ERROR");
  assert.equal(server.metrics.modelCallErrors.get({ reason: "timeout" }), 1);
});

Deno.test("metrics: served on the metrics listener only, never on the public port", async (t) => {
  await using server = startTestServer({ model: new ScriptedModel([]) });
  const metricsBase = new URL("/", server.metricsUrl).href.slice(0, -1);
  assert.notEqual(metricsBase, server.baseUrl, "two listeners, two ports");

  await t.step("the public port answers /metrics with a JSON 404", async () => {
    const response = await fetch(`${server.baseUrl}/metrics`);
    assert.equal(response.status, 404);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    const body = await response.text();
    assert.deepEqual(JSON.parse(body), { error: "Not found" });
    assert.doesNotMatch(body, /proactive_/);
  });
  await t.step("the metrics listener serves the exposition at GET /metrics", async () => {
    const response = await fetch(server.metricsUrl);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await response.text());
    assert.equal(samples.get("proactive_sessions_active"), 0);
  });
  await t.step("everything else on the metrics listener is a JSON 404 (or 405)", async () => {
    for (const path of ["/", "/v1/proactive", "/v1/health", "/readyz", "/metrics/x"]) {
      const response = await fetch(`${metricsBase}${path}`);
      assert.equal(response.status, 404, path);
      assert.deepEqual(await response.json(), { error: "Not found" });
    }
    const post = await fetch(server.metricsUrl, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  });
});

Deno.test("metrics: /metrics changes as frames flow", async () => {
  const model = new ScriptedModel([
    call("search_keywords", { query: "q3 report" }),
    {
      call: { name: "extract_task", args: { title: "Send Q3 report" } },
      usage: { inputTokens: 100, outputTokens: 20, costUsd: 0.001 },
    },
  ]);
  await using server = startTestServer({ model, instrument: true });
  const scrape = async () => {
    const response = await fetch(server.metricsUrl);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return parseExposition(await response.text());
  };

  const before = await scrape();
  assert.equal(before.get("proactive_sessions_active"), 0);
  assert.equal(before.get("proactive_frames_total") ?? 0, 0);

  await using client = await server.connect();
  await client.hello({ session_context: {} });
  client.send({ type: "frame_event", frame_number: 1, app_name: "Slack", ocr_text: "x" });
  const request = await client.expect("tool_call_request");
  client.send({ type: "tool_result", request_id: request.request_id, results: [] });
  await client.expect("analysis_outcome");
  client.send({ type: "frame_event", frame_number: 2 }); // no model step left: GEMINI_ERROR
  await client.expect("server_error");

  const after = await scrape();
  assert.equal(after.get("proactive_sessions_active"), 1);
  assert.equal(after.get("proactive_sessions_total"), 1);
  assert.equal(after.get('proactive_frames_total{outcome="extract_task"}'), 1);
  assert.equal(after.get('proactive_frames_total{outcome="GEMINI_ERROR"}'), 1);
  assert.equal(after.get('proactive_tool_calls_total{tool_kind="search_keywords"}'), 1);
  assert.equal(after.get("proactive_tool_wait_seconds_count"), 1);
  assert.equal(after.get("proactive_frame_duration_seconds_count"), 2);
  assert.equal(after.get("proactive_model_call_duration_seconds_count"), 3);
  assert.equal(after.get('proactive_model_call_errors_total{reason="unknown"}'), 1);
  assert.equal(after.get('proactive_model_tokens_total{kind="input"}'), 200);
  assert.equal(after.get('proactive_model_tokens_total{kind="output"}'), 30);
  assert.equal(after.get("proactive_model_cost_usd_total"), 0.0011);
});
