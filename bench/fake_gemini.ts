/**
 * A standalone fake Gemini for the benchmark: every `POST …:generateContent` gets a valid
 * `GenerateContentResponse` with one function call, so the real `@google/genai` provider
 * runs end to end against it.
 *
 * Scenarios:
 * - `no_task`: always `no_task_found`;
 * - `search_extract`: `search_keywords` on a first turn, `extract_task` (with a title) once
 *   the request carries a `functionResponse`.
 * It reads every request body completely (so the image bytes really travel) but does no
 * more than a substring search on it: `"functionResponse"` cannot occur in base64, and the
 * benchmark's prompts do not contain it. Answers are serialised once, at start.
 *
 * `--latency-ms` holds each answer back for a fixed time after the body was read.
 * `GET /stats` reports counters; `POST /config` with `{"scenario", "latencyMs"}` switches
 * scenario and latency at run time, so one process serves a whole benchmark run.
 *
 * Usage: `deno run --allow-net --allow-env bench/fake_gemini.ts [--port 0]
 * [--scenario no_task] [--latency-ms 0]`. Prints `{"port":…}` as its first stdout line.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** What the fake answers. */
export type FakeScenario = "no_task" | "search_extract";

/** Counters of `GET /stats`; totals since start. */
export interface FakeStats {
  requests: number;
  /** Request body bytes read. */
  bodyBytes: number;
  /** Answers by function name. */
  calls: Record<string, number>;
  /** Sum over requests of the time from the handler's start to the answer, ms. */
  serviceMs: number;
  scenario: FakeScenario;
  latencyMs: number;
}

/** A `generateContent` reply calling `name(args)`, as JSON text; `promptTokens` billed. */
export function answer(
  name: string,
  args: Record<string, unknown>,
  promptTokens = 1200,
): string {
  return JSON.stringify({
    candidates: [{
      content: { role: "model", parts: [{ functionCall: { name, args } }] },
      finishReason: "STOP",
      index: 0,
    }],
    usageMetadata: {
      promptTokenCount: promptTokens,
      candidatesTokenCount: 40,
      totalTokenCount: promptTokens + 40,
    },
    modelVersion: "gemini-2.5-flash",
  });
}

const NO_TASK = answer("no_task_found", {
  context_summary: "The user is reading a design review thread",
  current_activity: "Reading Slack",
});
const SEARCH = answer("search_keywords", { query: "Q3 report" });
const EXTRACT = answer("extract_task", {
  title: "Send the Q3 report to Dana",
  description: "Dana asked for the Q3 report before Friday's review",
  priority: "high",
  tags: ["work", "report"],
  source_app: "Slack",
  inferred_deadline: "2026-01-16",
  confidence: 0.9,
  source_category: "direct_request",
  source_subcategory: "message",
  relevance_score: 1,
  context_summary: "Dana asks for the Q3 report",
  current_activity: "Reading Slack",
});

/** Starts the fake; resolves with its server. */
export function startFakeGemini(
  options: { port?: number; scenario?: FakeScenario; latencyMs?: number } = {},
): Deno.HttpServer<Deno.NetAddr> {
  const stats: FakeStats = {
    requests: 0,
    bodyBytes: 0,
    calls: {},
    serviceMs: 0,
    scenario: options.scenario ?? "no_task",
    latencyMs: options.latencyMs ?? 0,
  };
  const headers = { "content-type": "application/json; charset=utf-8" };

  return Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen: () => {} },
    async (request) => {
      const started = performance.now();
      const { pathname } = new URL(request.url);
      if (request.method === "POST" && pathname.endsWith(":generateContent")) {
        const body = await request.text();
        stats.requests++;
        stats.bodyBytes += body.length;
        let name = "no_task_found";
        let text = NO_TASK;
        if (stats.scenario === "search_extract") {
          const followUp = body.includes('"functionResponse"');
          name = followUp ? "extract_task" : "search_keywords";
          text = followUp ? EXTRACT : SEARCH;
        }
        stats.calls[name] = (stats.calls[name] ?? 0) + 1;
        if (stats.latencyMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, stats.latencyMs));
        }
        stats.serviceMs += performance.now() - started;
        return new Response(text, { headers });
      }
      if (pathname === "/stats") return Response.json(stats);
      if (pathname === "/config" && request.method === "POST") {
        const config = await request.json() as { scenario?: FakeScenario; latencyMs?: number };
        if (config.scenario) stats.scenario = config.scenario;
        if (typeof config.latencyMs === "number") stats.latencyMs = config.latencyMs;
        return Response.json(stats);
      }
      return Response.json({ error: { code: 404, message: "Not found" } }, { status: 404 });
    },
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: Deno.env.get("FAKE_GEMINI_PORT") ?? "0" },
      scenario: { type: "string", default: "no_task" },
      "latency-ms": { type: "string", default: "0" },
    },
  });
  if (values.scenario !== "no_task" && values.scenario !== "search_extract") {
    console.error("fake_gemini: --scenario must be no_task or search_extract");
    Deno.exit(2);
  }
  const server = startFakeGemini({
    port: Number(values.port),
    scenario: values.scenario,
    latencyMs: Number(values["latency-ms"]),
  });
  console.log(JSON.stringify({ port: server.addr.port }));
}
