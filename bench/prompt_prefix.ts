/**
 * How much of each Gemini request the next request of the same session repeats, byte for
 * byte: the prefix Gemini's implicit cache can bill at the cached rate.
 *
 * One session runs through the real analysis loop and the real `GeminiModel` (the official
 * `@google/genai` SDK) against an in-process fake Gemini that speaks the REST wire format
 * and keeps every request body exactly as it arrived. The session's context is a typical
 * one (20 active tasks, a few completed and deleted ones, three goals) and stays the same;
 * its frames come from `samples/` (different apps and OCR text, each with a screenshot),
 * and every other frame searches before it extracts (search → tool result → extract).
 *
 * Reported, for consecutive requests across frames (the last request of a frame and the
 * first of the next) and within a frame's tool loop (first call and second call):
 * - the longest common byte prefix, in bytes and as a share of the later request;
 * - its estimated tokens: text at 4 bytes a token, a screenshot whose base64 lies wholly
 *   inside the prefix at the documented image cost (Gemini 2.5: 256 tokens at medium and the
 *   default, before pan & scan; 64 at low), a partial one at nothing;
 * - whether every such prefix passes the implicit-cache minimums (1,024, 2,048, 4,096 tokens:
 *   Google's caching page has listed 1,024 for 2.5 Flash and 4,096 for 2.5 Pro, later 2,048
 *   for both);
 * - the expected saving in % of the session's input cost when every prefix that passes the
 *   1,024-token minimum is billed at 25% of the input price: 0.75 × cached ÷ input tokens.
 *
 * `deno run --allow-net --allow-read --allow-env bench/prompt_prefix.ts [--frames N]
 * [--media-resolution low|medium|high] [--json]` prints the table (or the JSON report).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { analyzeFrame } from "../src/analysis/analyze_frame.ts";
import type { AnalysisRequest, FrameInput } from "../src/analysis/model.ts";
import { buildFramePromptParts } from "../src/analysis/prompt.ts";
import { silentLogger } from "../src/log.ts";
import { GeminiModel, type GeminiModelOptions } from "../src/models/gemini.ts";
import type { ToolResult } from "../src/protocol/messages.ts";
import { answer } from "./fake_gemini.ts";
import { typicalContext } from "./typical_context.ts";

/** The implicit-cache minimums the report checks, tokens. */
export const CACHE_MINIMUMS = [1_024, 2_048, 4_096] as const;

/** The share of the input price a cached token is billed at: a quarter. */
export const CACHED_PRICE_SHARE = 0.25;

/** Estimated tokens of one screenshot, by media resolution (Gemini 2.5, before pan & scan). */
export const IMAGE_TOKENS = { default: 256, low: 64, medium: 256, high: 256 } as const;

/** One pair of consecutive requests. */
export interface PrefixPair {
  /** Index of the later request in the session (0-based); the earlier one is `to - 1`. */
  to: number;
  kind: "across_frames" | "tool_loop";
  sharedBytes: number;
  /** Bytes of the later request. */
  requestBytes: number;
  sharedTokens: number;
  requestTokens: number;
}

/** The pairs of one kind, summarised. */
export interface PrefixFigure {
  pairs: number;
  /** The smallest shared prefix: what every such request can count on. */
  minBytes: number;
  meanBytes: number;
  /** Shared bytes over the later request's bytes. */
  minShare: number;
  meanShare: number;
  minTokens: number;
  meanTokens: number;
  /** Shared estimated tokens over the later request's (the image counts as tokens, not bytes). */
  minTokenShare: number;
  meanTokenShare: number;
  /** Whether every pair's prefix passes each minimum of {@link CACHE_MINIMUMS}. */
  passes: Record<string, boolean>;
}

/** What {@link measurePromptPrefix} found. */
export interface PrefixReport {
  model: string;
  mediaResolution: "default" | "low" | "medium" | "high";
  activeTasks: number;
  frames: number;
  requests: number;
  /** Mean request body, bytes and estimated tokens. */
  meanRequestBytes: number;
  meanRequestTokens: number;
  /** Whether every request's JSON body has `systemInstruction` and `tools` before `contents`. */
  stableFieldsFirst: boolean;
  /** Whether the context text of the first frame lies inside every across-frame prefix. */
  contextInPrefix: boolean;
  acrossFrames: PrefixFigure;
  toolLoop: PrefixFigure;
  /** Estimated input tokens of the whole session, and those a cache could serve (≥ 1,024). */
  inputTokens: number;
  cacheableTokens: number;
  /** Expected saving in % of the session's input cost (0–100). */
  savingPct: number;
  pairList: PrefixPair[];
}

/** Options of {@link measurePromptPrefix}. */
export interface PrefixOptions {
  /** Frames in the session (default 6); every other one runs a search first. */
  frames?: number;
  /** `GEMINI_MEDIA_RESOLUTION` for the model; unset sends none (the model's default). */
  mediaResolution?: "low" | "medium" | "high";
}

const SAMPLES = new URL("../samples/", import.meta.url);

/** The screens of the session: sample stems and whether the frame searches first. */
const SCREENS = [
  { stem: "01_slack_q3_report", jpeg: "01_slack_q3_report" },
  { stem: "04_github_review_request", jpeg: "04_github_review_request" },
  { stem: "12_teams_slides_ask", jpeg: "08_idle_desktop" },
  { stem: "13_jira_assigned", jpeg: "01_slack_q3_report" },
  { stem: "17_mail_invoice_due", jpeg: "04_github_review_request" },
  { stem: "07_coding_vscode", jpeg: "08_idle_desktop" },
] as const;

async function readFrame(index: number): Promise<FrameInput> {
  const screen = SCREENS[index % SCREENS.length]!;
  const meta = JSON.parse(await Deno.readTextFile(new URL(`${screen.stem}.json`, SAMPLES))) as {
    app_name: string;
    window_title?: string;
  };
  const ocr = await Deno.readTextFile(new URL(`${screen.stem}.txt`, SAMPLES));
  const jpeg = await Deno.readFile(new URL(`${screen.jpeg}.jpg`, SAMPLES));
  let binary = "";
  for (let i = 0; i < jpeg.length; i += 0x8000) {
    binary += String.fromCharCode(...jpeg.subarray(i, i + 0x8000));
  }
  return {
    frameId: `prefix-${index + 1}`,
    appName: meta.app_name,
    windowTitle: meta.window_title ?? "",
    // Index on the text, so two frames of the same screen still differ.
    ocrText: `${ocr.trim()}\n(${index + 1})`,
    jpegBase64: btoa(binary),
  };
}

const SEARCH = answer("search_keywords", { query: "Q3 report" }, 2000);
const EXTRACT = answer("extract_task", {
  title: "Share the planning slides with Daniel",
  description: "Daniel asked for the planning slides before 5pm",
  priority: "high",
  confidence: 0.9,
  context_summary: "A colleague asks for slides",
  current_activity: "Reading chat",
}, 2000);
const NO_TASK = answer("no_task_found", {
  context_summary: "Nothing to do",
  current_activity: "Working",
}, 2000);

/** A fake `generateContent` endpoint that keeps every request body as it arrived. */
function startRecordingFake(
  bodies: string[],
  searchFirst: () => boolean,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method !== "POST" || !pathname.endsWith(":generateContent")) {
      return Response.json({ error: { code: 404, message: "Not found" } }, { status: 404 });
    }
    const body = await request.text();
    bodies.push(body);
    // `"functionResponse"` cannot occur in base64 and the frames do not contain it.
    const text = body.includes('"functionResponse"') ? EXTRACT : searchFirst() ? SEARCH : NO_TASK;
    return new Response(text, { headers: { "content-type": "application/json; charset=utf-8" } });
  });
}

/** Length of the longest common prefix of two strings, in UTF-8 bytes. */
export function commonPrefixBytes(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  const n = Math.min(x.length, y.length);
  let i = 0;
  while (i < n && x[i] === y[i]) i++;
  return i;
}

/** Byte ranges of the base64 payloads of inline images in a request body. */
function imageRanges(body: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  const encoder = new TextEncoder();
  const pattern = /"inlineData":\{[^}]*?"data":"([A-Za-z0-9+/=]*)"/g;
  for (const m of body.matchAll(pattern)) {
    const startChar = m.index! + m[0].length - 1 - m[1]!.length;
    // Everything before the payload is ASCII-safe enough to count in UTF-8 bytes exactly.
    const start = encoder.encode(body.slice(0, startChar)).length;
    ranges.push([start, start + m[1]!.length]);
  }
  return ranges;
}

/** Estimated tokens of the first `bytes` bytes of `body`. */
export function estimateTokens(body: string, bytes: number, imageTokens: number): number {
  let imageBytes = 0;
  let images = 0;
  for (const [start, end] of imageRanges(body)) {
    if (start >= bytes) continue;
    imageBytes += Math.min(end, bytes) - start;
    if (end <= bytes) images++;
  }
  return Math.round((bytes - imageBytes) / 4) + images * imageTokens;
}

function summarise(pairs: PrefixPair[]): PrefixFigure {
  const n = pairs.length;
  const mean = (f: (p: PrefixPair) => number) =>
    n === 0 ? 0 : pairs.reduce((sum, p) => sum + f(p), 0) / n;
  const min = (f: (p: PrefixPair) => number) => n === 0 ? 0 : Math.min(...pairs.map(f));
  const minTokens = min((p) => p.sharedTokens);
  return {
    pairs: n,
    minBytes: min((p) => p.sharedBytes),
    meanBytes: mean((p) => p.sharedBytes),
    minShare: min((p) => p.sharedBytes / p.requestBytes),
    meanShare: mean((p) => p.sharedBytes / p.requestBytes),
    minTokens,
    meanTokens: mean((p) => p.sharedTokens),
    minTokenShare: min((p) => p.sharedTokens / p.requestTokens),
    meanTokenShare: mean((p) => p.sharedTokens / p.requestTokens),
    passes: Object.fromEntries(CACHE_MINIMUMS.map((m) => [String(m), n > 0 && minTokens >= m])),
  };
}

/** Runs the session and measures what consecutive requests share. */
export async function measurePromptPrefix(options: PrefixOptions = {}): Promise<PrefixReport> {
  const frames = Math.max(2, options.frames ?? 6);
  const context = typicalContext();
  const bodies: string[] = [];
  /** Index of each frame's first request in `bodies`. */
  const firstRequest: number[] = [];
  let frameIndex = 0;
  const fake = startRecordingFake(bodies, () => frameIndex % 2 === 0);
  try {
    const modelOptions: GeminiModelOptions = {
      model: "gemini-2.5-flash",
      apiKey: "bench-key",
      baseUrl: `http://127.0.0.1:${fake.addr.port}`,
      thinkingBudget: 128,
      log: silentLogger,
    };
    if (options.mediaResolution) modelOptions.mediaResolution = options.mediaResolution;
    const model = new GeminiModel(modelOptions);
    for (frameIndex = 0; frameIndex < frames; frameIndex++) {
      const request: AnalysisRequest = {
        frame: await readFrame(frameIndex),
        context,
        today: "2026-12-07",
      };
      firstRequest.push(bodies.length);
      const run = analyzeFrame(request, {
        model,
        signal: new AbortController().signal,
        analysisTimeoutMs: 30_000,
        modelCallTimeoutMs: 20_000,
        toolResultTimeoutMs: 10_000,
      });
      let input: ToolResult | undefined;
      for (;;) {
        const step = await run.next(input);
        if (step.done) break;
        const event = step.value;
        input = event.kind === "tool_call"
          ? {
            type: "tool_result",
            request_id: event.message.request_id,
            results: [
              { task_id: 100, description: "Send the Q3 report to Sarah", status: "active" },
              { task_id: 92, description: "Send the October invoice", status: "completed" },
            ],
          }
          : undefined;
      }
    }
  } finally {
    await fake.shutdown();
  }

  const imageTokens = IMAGE_TOKENS[options.mediaResolution ?? "default"];
  const encoder = new TextEncoder();
  const sizes = bodies.map((b) => encoder.encode(b).length);
  const tokens = bodies.map((b, i) => estimateTokens(b, sizes[i]!, imageTokens));
  const firsts = new Set(firstRequest);
  const pairs: PrefixPair[] = [];
  for (let i = 1; i < bodies.length; i++) {
    const sharedBytes = commonPrefixBytes(bodies[i - 1]!, bodies[i]!);
    pairs.push({
      to: i,
      kind: firsts.has(i) ? "across_frames" : "tool_loop",
      sharedBytes,
      requestBytes: sizes[i]!,
      sharedTokens: estimateTokens(bodies[i]!, sharedBytes, imageTokens),
      requestTokens: tokens[i]!,
    });
  }
  // The context's prompt text as it appears in a JSON body, from its first byte to its last.
  const contextJson = JSON.stringify(
    buildFramePromptParts({ frame: await readFrame(0), context, today: "2026-12-07" }).context,
  ).slice(1, -1);
  const contextInPrefix = pairs.filter((p) => p.kind === "across_frames").every((p) => {
    const prefix = encoder.encode(bodies[p.to]!).subarray(0, p.sharedBytes);
    return new TextDecoder().decode(prefix).includes(contextJson);
  });
  const stableFieldsFirst = bodies.every((b) => {
    const contents = b.indexOf('"contents":');
    const system = b.indexOf('"systemInstruction":');
    const tools = b.indexOf('"tools":');
    return system >= 0 && tools >= 0 && contents > system && contents > tools;
  });
  const inputTokens = tokens.reduce((a, b) => a + b, 0);
  const cacheableTokens = pairs.reduce(
    (sum, p) => sum + (p.sharedTokens >= CACHE_MINIMUMS[0] ? p.sharedTokens : 0),
    0,
  );
  return {
    model: "gemini-2.5-flash",
    mediaResolution: options.mediaResolution ?? "default",
    activeTasks: context.active_tasks!.length,
    frames,
    requests: bodies.length,
    meanRequestBytes: sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length),
    meanRequestTokens: inputTokens / Math.max(1, tokens.length),
    stableFieldsFirst,
    contextInPrefix,
    acrossFrames: summarise(pairs.filter((p) => p.kind === "across_frames")),
    toolLoop: summarise(pairs.filter((p) => p.kind === "tool_loop")),
    inputTokens,
    cacheableTokens,
    savingPct: inputTokens === 0
      ? 0
      : (1 - CACHED_PRICE_SHARE) * cacheableTokens / inputTokens * 100,
    pairList: pairs,
  };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function int(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

/** The report as a markdown table (and two lines of context). */
export function prefixTable(report: PrefixReport): string {
  const row = (label: string, f: (fig: PrefixFigure) => string) =>
    `| ${label} | ${f(report.acrossFrames)} | ${f(report.toolLoop)} |`;
  const passes = (fig: PrefixFigure) =>
    CACHE_MINIMUMS.map((m) => `${fig.passes[String(m)] ? "yes" : "no"}`).join(" / ");
  return [
    `Session: ${report.frames} frames, ${report.requests} requests to ${report.model} ` +
    `(media resolution ${report.mediaResolution}), ${report.activeTasks} active tasks; ` +
    `mean request ${int(report.meanRequestBytes)} bytes ≈ ${int(report.meanRequestTokens)} ` +
    `tokens. systemInstruction and tools before contents: ` +
    `${report.stableFieldsFirst ? "yes" : "no"}; whole context inside the shared prefix: ` +
    `${report.contextInPrefix ? "yes" : "no"}.`,
    "",
    "| consecutive requests | across frames | within a tool loop |",
    "| --- | --: | --: |",
    row("pairs", (f) => String(f.pairs)),
    row("shared prefix, min (mean) bytes", (f) => `${int(f.minBytes)} (${int(f.meanBytes)})`),
    row(
      "share of the request's bytes, min (mean)",
      (f) => `${pct(f.minShare)} (${pct(f.meanShare)})`,
    ),
    row("estimated tokens, min (mean)", (f) => `${int(f.minTokens)} (${int(f.meanTokens)})`),
    row(
      "share of the request's tokens, min (mean)",
      (f) => `${pct(f.minTokenShare)} (${pct(f.meanTokenShare)})`,
    ),
    row("passes 1,024 / 2,048 / 4,096 tokens", passes),
    "",
    `Expected saving: ${report.savingPct.toFixed(1)}% of the session's input cost ` +
    `(${int(report.cacheableTokens)} of ${int(report.inputTokens)} estimated input tokens in ` +
    `prefixes of at least ${int(CACHE_MINIMUMS[0])} tokens, billed at ` +
    `${CACHED_PRICE_SHARE * 100}% of the input price).`,
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      frames: { type: "string", default: "6" },
      "media-resolution": { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const level = values["media-resolution"];
  if (level !== undefined && level !== "low" && level !== "medium" && level !== "high") {
    console.error("prompt_prefix: --media-resolution must be low, medium or high");
    Deno.exit(2);
  }
  const frames = Number(values.frames);
  if (!Number.isSafeInteger(frames) || frames < 2 || frames > 100) {
    console.error("prompt_prefix: --frames must be an integer from 2 to 100");
    Deno.exit(2);
  }
  const report = await measurePromptPrefix({
    frames,
    ...(level ? { mediaResolution: level } : {}),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : prefixTable(report));
}
