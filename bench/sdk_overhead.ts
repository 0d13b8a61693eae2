/**
 * What a model call costs the server's one JS thread before and after the network: the
 * `@google/genai` SDK's per-call overhead, measured in-process with `fetch` answered at once
 * (a canned `no_task_found` reply; no socket, no HTTP), so only the work of building the
 * request and reading the reply is left.
 *
 * Three ways of making the same call (20 active tasks in the context, 2 KB of OCR, a 200 KB
 * screenshot), each timed as the median of many calls after a warm-up. Every call is a new
 * frame with a screenshot string of its own, rotating through 32 (7 MB in all), as in the
 * server, where each frame's image is a fresh string out of its WebSocket message: the same
 * string over and over would sit in the CPU's cache and make every copy of it look free.
 * - **ours**: `GeminiModel.generate()`, as the server runs it: the SDK serialises a
 *   placeholder for the image, and the body is put together as bytes around the image's.
 * - **SDK as documented**: `ai.models.generateContent()` with the base64 image inline, as a
 *   plain use of the SDK would send it.
 * - **minimum**: what any client must do, and all the bare server does: `JSON.stringify` of
 *   the same body, image included, its UTF-8 bytes, and `JSON.parse` of the reply.
 *
 * `deno run --allow-read --allow-env --allow-net bench/sdk_overhead.ts [--calls N]
 * [--image-bytes N] [--json]` (`--image-bytes 0`: frames without a screenshot).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { GoogleGenAI } from "@google/genai";
import type { AnalysisRequest } from "../src/analysis/model.ts";
import { buildFramePromptParts, SYSTEM_INSTRUCTION } from "../src/analysis/prompt.ts";
import { silentLogger } from "../src/log.ts";
import { FUNCTION_DECLARATIONS, GeminiModel } from "../src/models/gemini.ts";
import { fakeJpegBase64, TYPICAL_OCR_TEXT } from "./load.ts";
import { percentile } from "./stats.ts";
import { typicalContext } from "./typical_context.ts";

/** Median CPU time of one call of each way, µs. */
export interface SdkOverhead {
  calls: number;
  imageBytes: number;
  oursUs: number;
  sdkUs: number;
  minimumUs: number;
}

const REPLY = JSON.stringify({
  candidates: [{
    content: {
      role: "model",
      parts: [{
        functionCall: {
          name: "no_task_found",
          args: { context_summary: "Reading chat", current_activity: "Slack" },
        },
      }],
    },
    finishReason: "STOP",
    index: 0,
  }],
  usageMetadata: { promptTokenCount: 2300, candidatesTokenCount: 30, totalTokenCount: 2330 },
  modelVersion: "gemini-2.5-flash",
});

const REPLY_LENGTH = new TextEncoder().encode(REPLY).length;

/** The reply as a server sends it, its length declared. */
function reply(): Response {
  return new Response(REPLY, {
    headers: { "content-type": "application/json", "content-length": String(REPLY_LENGTH) },
  });
}

/** Median of `calls` timings of `call`, µs, after a warm-up of a fifth as many. */
async function median(calls: number, call: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.max(50, calls / 5); i++) await call();
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await call();
    times.push((performance.now() - t0) * 1000);
  }
  return percentile(times.sort((a, b) => a - b), 50);
}

/** Measures the three ways (see the module doc). */
export async function measureSdkOverhead(
  calls = 2_000,
  imageBytes = 200 * 1024,
): Promise<SdkOverhead> {
  const base = imageBytes > 0 ? fakeJpegBase64(imageBytes) : "";
  // Flat strings of their own, as JSON.parse makes them out of each message.
  const images = base === "" ? [] : Array.from(
    { length: 32 },
    (_, i) =>
      JSON.parse(JSON.stringify(`${"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[i]}${base.slice(1)}`)),
  ) as string[];
  const context = typicalContext();
  let n = 0;
  const nextRequest = (): AnalysisRequest => ({
    frame: {
      frameId: `f${n++}`,
      appName: "Slack",
      windowTitle: "#design-review | Acme",
      ocrText: TYPICAL_OCR_TEXT,
      ...(images.length > 0 ? { jpegBase64: images[n % images.length]! } : {}),
    },
    context,
    today: "2026-12-03",
  });
  const answered = (_input: RequestInfo | URL, _init?: RequestInit) => Promise.resolve(reply());

  // Ours: the model reaches the network through the global fetch.
  const realFetch = globalThis.fetch;
  let oursUs: number;
  globalThis.fetch = answered as typeof fetch;
  try {
    const model = new GeminiModel({
      model: "gemini-2.5-flash",
      apiKey: "bench-key",
      baseUrl: "http://127.0.0.1:9",
      thinkingBudget: 128,
      log: silentLogger,
    });
    // A signal per call, as the server's: the SDK leaves a listener on it for every call.
    oursUs = await median(
      calls,
      () => model.generate({ request: nextRequest(), turns: [] }, new AbortController().signal),
    );
  } finally {
    globalThis.fetch = realFetch;
  }

  // The same request as ours, built the same way (prompt text included), image inline.
  const partsOf = () => {
    const request = nextRequest();
    const prompt = buildFramePromptParts(request);
    const image = request.frame.jpegBase64;
    return [
      { text: prompt.context },
      { text: prompt.frame },
      ...(image === undefined ? [] : [{ inlineData: { mimeType: "image/jpeg", data: image } }]),
    ];
  };
  const ai = new GoogleGenAI({ apiKey: "bench-key", apiVersion: "v1beta" });
  const sdkUs = await median(calls, () =>
    ai.models.generateContent({
      model: "gemini-2.5-flash",
      contents: [{ role: "user", parts: partsOf() }],
      config: {
        systemInstruction: SYSTEM_INSTRUCTION,
        tools: [{ functionDeclarations: FUNCTION_DECLARATIONS }],
        thinkingConfig: { thinkingBudget: 128 },
        httpOptions: { fetch: answered } as never,
      },
    }));

  const utf8 = new TextEncoder();
  const minimumUs = await median(calls, async () => {
    const body = JSON.stringify({
      contents: [{ role: "user", parts: partsOf() }],
      systemInstruction: { parts: [{ text: SYSTEM_INSTRUCTION }] },
      tools: [{ functionDeclarations: FUNCTION_DECLARATIONS }],
      generationConfig: { thinkingConfig: { thinkingBudget: 128 } },
    });
    utf8.encode(body);
    return await reply().json();
  });
  return { calls, imageBytes, oursUs, sdkUs, minimumUs };
}

/** The figures as a short markdown table. */
export function sdkOverheadTable(r: SdkOverhead): string {
  const f = (us: number) => `${us.toFixed(0)} µs`;
  return [
    "| a model call, fetch answered at once | CPU per call (median) | over the minimum |",
    "| --- | --: | --: |",
    `| ours: \`GeminiModel.generate()\` (SDK, image outside it) | ${f(r.oursUs)} | ${
      f(r.oursUs - r.minimumUs)
    } |`,
    `| the SDK as documented, image inline | ${f(r.sdkUs)} | ${f(r.sdkUs - r.minimumUs)} |`,
    `| minimum: stringify, encode, parse the reply | ${f(r.minimumUs)} | – |`,
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      calls: { type: "string", default: "2000" },
      "image-bytes": { type: "string", default: String(200 * 1024) },
      json: { type: "boolean" },
    },
  });
  const calls = Number(values.calls);
  const imageBytes = Number(values["image-bytes"]);
  if (!Number.isSafeInteger(calls) || calls < 10) {
    console.error("sdk_overhead: --calls must be an integer of at least 10");
    Deno.exit(2);
  }
  if (!Number.isSafeInteger(imageBytes) || imageBytes < 0) {
    console.error("sdk_overhead: --image-bytes must be a whole number of bytes");
    Deno.exit(2);
  }
  const result = await measureSdkOverhead(calls, imageBytes);
  console.log(values.json ? JSON.stringify(result, null, 2) : sdkOverheadTable(result));
}
