/**
 * Gemini (API key) and Vertex AI (Application Default Credentials) through the official
 * `@google/genai` SDK.
 *
 * One request per model call: our prompt and the JPEG as an inline part, the five function
 * declarations (from `analysis/tools.ts`), function calling forced (`ANY`) and a small
 * thinking budget. After a search, the model's content goes back exactly as the SDK returned
 * it (thought signatures included), followed by the function response.
 *
 * Failures: 429, 500, 503 and network errors are retried (at most `maxRetries` times, jittered
 * backoff that honours the server's retry hint, never past the call's deadline); other
 * statuses are not. What leaves this module is a {@link ModelError} whose message is built
 * from a status code only: no URL, no key, no response body.
 *
 * @module
 */
import {
  ApiError,
  type Content,
  FunctionCallingConfigMode,
  type FunctionDeclaration,
  type GenerateContentResponse,
  GoogleGenAI,
  type GoogleGenAIOptions,
  type Part,
} from "@google/genai";
import { z } from "zod";
import {
  type Conversation,
  type FunctionCall,
  type Model,
  ModelError,
  type ModelReply,
} from "../analysis/model.ts";
import { buildFramePrompt, SYSTEM_INSTRUCTION } from "../analysis/prompt.ts";
import { FUNCTIONS } from "../analysis/tools.ts";
import { costOf, type Price } from "./prices.ts";

/** Supplies OAuth access tokens for Vertex AI (tests inject one; production uses ADC). */
export interface AccessTokenSource {
  getAccessToken(): Promise<string>;
}

/** Options of {@link GeminiModel}. */
export interface GeminiModelOptions {
  /** Model name, e.g. `gemini-2.5-flash`. */
  model: string;
  /** Gemini API key; sent only in the `x-goog-api-key` header. */
  apiKey?: string;
  /** Vertex AI mode: project and location; credentials default to ADC. */
  vertex?: { project: string; location: string; credentials?: AccessTokenSource };
  /** API base URL override (proxies, tests). */
  baseUrl?: string;
  /** Thinking tokens allowed per call; 0 turns thinking off where the model allows it. */
  thinkingBudget: number;
  /** Token price of this model; `undefined` counts cost as 0. */
  price?: Price;
  /** Retries after the first attempt (default 2). */
  maxRetries?: number;
  /** First backoff in ms (default 500); doubles per retry, with full jitter. */
  retryBaseMs?: number;
  /** Longest wait between attempts in ms (default 5 000). */
  retryMaxMs?: number;
  /** Randomness for jitter; injectable for tests. */
  random?: () => number;
}

/** Statuses worth another attempt: rate limit and transient server trouble. */
const RETRYABLE_STATUS = new Set([429, 500, 503]);

/** The five function declarations, built once from the zod definitions. */
export const FUNCTION_DECLARATIONS: FunctionDeclaration[] = Object.entries(FUNCTIONS).map(
  ([name, fn]) => {
    const { $schema: _, ...schema } = z.toJSONSchema(fn.parameters) as Record<string, unknown>;
    return { name, description: fn.description, parametersJsonSchema: schema };
  },
);

/** A {@link Model} backed by Gemini or Vertex AI. */
export class GeminiModel implements Model {
  readonly name: string;
  #ai: GoogleGenAI;
  #options: GeminiModelOptions;
  #firstTurn = new WeakMap<object, Content>();

  constructor(options: GeminiModelOptions) {
    this.#options = options;
    this.name = `${options.vertex ? "vertex" : "gemini"}:${options.model}`;
    const sdk: GoogleGenAIOptions = {
      httpOptions: options.baseUrl ? { baseUrl: options.baseUrl } : {},
    };
    if (options.vertex) {
      sdk.vertexai = true;
      sdk.project = options.vertex.project;
      sdk.location = options.vertex.location;
      const credentials = options.vertex.credentials;
      if (credentials) {
        // google-auth-library accepts any client with getRequestHeaders().
        sdk.googleAuthOptions = {
          authClient: {
            getRequestHeaders: async () =>
              new Headers({ authorization: `Bearer ${await credentials.getAccessToken()}` }),
          } as never,
        };
      }
    } else {
      if (!options.apiKey) throw new Error("GeminiModel needs an API key or Vertex options");
      sdk.apiKey = options.apiKey;
      // Function declarations as JSON Schema (`parametersJsonSchema`) are a v1beta feature.
      sdk.apiVersion = "v1beta";
    }
    this.#ai = new GoogleGenAI(sdk);
  }

  async generate(conversation: Conversation, signal: AbortSignal): Promise<ModelReply> {
    const contents = this.#contents(conversation);
    const maxRetries = this.#options.maxRetries ?? 2;
    for (let attempt = 0;; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const response = await this.#ai.models.generateContent({
          model: this.#options.model,
          contents,
          config: {
            systemInstruction: SYSTEM_INSTRUCTION,
            tools: [{ functionDeclarations: FUNCTION_DECLARATIONS }],
            toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } },
            thinkingConfig: {
              thinkingBudget: thinkingBudgetFor(this.#options.model, this.#options.thinkingBudget),
            },
            abortSignal: signal,
            httpOptions: {
              // A fetch per call, only to read the server's Retry-After hint.
              fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
                const response = await fetch(input, init);
                retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
                return response;
              },
            },
          },
        });
        return this.#reply(response);
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        const failure = classify(err);
        if (failure.code === "BAD_RESPONSE") return badResponse();
        if (!failure.retryable || attempt >= maxRetries) throw failure.error;
        const hint = retryAfterMs ?? retryDelayFromBody(err);
        await sleep(hint ?? this.#backoff(attempt), signal, conversation.deadline, failure.error);
      }
    }
  }

  /** The request history: our first turn (built once per frame), then every turn. */
  #contents(conversation: Conversation): Content[] {
    const { request } = conversation;
    let first = this.#firstTurn.get(request);
    if (!first) {
      const parts: Part[] = [{ text: buildFramePrompt(request) }];
      if (request.frame.jpegBase64) {
        parts.push({ inlineData: { mimeType: "image/jpeg", data: request.frame.jpegBase64 } });
      }
      first = { role: "user", parts };
      this.#firstTurn.set(request, first);
    }
    const contents: Content[] = [first];
    let previous: Content | undefined;
    for (const turn of conversation.turns) {
      if (turn.role === "model") {
        previous = turn.reply.content as Content;
        contents.push(previous);
        continue;
      }
      // Gemini wants one functionResponse per functionCall of the model's turn. We run the
      // first call only; any parallel ones are answered as not run, so the model may repeat.
      const calls = (previous?.parts ?? []).filter((p) => p.functionCall?.name);
      const parts: Part[] = calls.length > 1
        ? calls.map((p, i) => ({
          functionResponse: {
            name: p.functionCall!.name!,
            ...(p.functionCall!.id ? { id: p.functionCall!.id } : {}),
            response: { output: i === 0 ? turn.output : NOT_RUN },
          },
        }))
        : [{
          functionResponse: {
            name: turn.call.name,
            ...(turn.call.id ? { id: turn.call.id } : {}),
            response: { output: turn.output },
          },
        }];
      contents.push({ role: "user", parts });
    }
    return contents;
  }

  #reply(response: GenerateContentResponse): ModelReply {
    const usage = response.usageMetadata;
    const inputTokens = usage?.promptTokenCount ?? 0;
    const outputTokens = usage?.candidatesTokenCount ?? 0;
    const thinkingTokens = usage?.thoughtsTokenCount ?? 0;
    const reply: ModelReply = {
      content: undefined,
      usage: {
        inputTokens,
        outputTokens,
        thinkingTokens,
        costUsd: costOf(this.#options.price, inputTokens, outputTokens + thinkingTokens),
      },
    };
    const candidate = response.candidates?.[0];
    if (!candidate) {
      reply.finishReason = response.promptFeedback?.blockReason
        ? `prompt blocked: ${response.promptFeedback.blockReason}`
        : "no candidates";
      return reply;
    }
    reply.content = candidate.content;
    if (candidate.finishReason && candidate.finishReason !== "STOP") {
      reply.finishReason = candidate.finishReason;
    }
    const parts = candidate.content?.parts ?? [];
    const call = parts.find((p) => p.functionCall?.name)?.functionCall;
    if (call?.name) {
      const functionCall: FunctionCall = { name: call.name, args: call.args ?? {} };
      if (call.id) functionCall.id = call.id;
      reply.functionCall = functionCall;
    } else {
      const text = parts.filter((p) => p.text && !p.thought).map((p) => p.text).join("");
      if (text) reply.text = text;
      reply.finishReason ??= "text only";
    }
    return reply;
  }

  #backoff(attempt: number): number {
    const base = this.#options.retryBaseMs ?? 500;
    const max = this.#options.retryMaxMs ?? 5_000;
    const random = this.#options.random ?? Math.random;
    // Full jitter: anywhere from half to all of the exponential step.
    const step = Math.min(max, base * 2 ** attempt);
    return Math.round(step / 2 + random() * step / 2);
  }
}

/** The answer to a parallel function call we did not run. */
const NOT_RUN = "Not run: only the first function call of a turn is executed. Call it again if " +
  "you still need it.";

/**
 * `budget` moved into the range the model accepts, so one setting works for every model:
 * 2.5 Pro cannot turn thinking off (128–32 768), 2.5 Flash-Lite thinks 512–24 576 or not at
 * all, 2.5 Flash takes 0–24 576.
 */
export function thinkingBudgetFor(model: string, budget: number): number {
  if (/pro/.test(model)) return Math.min(32_768, Math.max(128, budget));
  if (/flash-lite/.test(model)) return budget === 0 ? 0 : Math.min(24_576, Math.max(512, budget));
  if (/flash/.test(model)) return Math.min(24_576, budget);
  return budget;
}

function badResponse(): ModelReply {
  return {
    content: undefined,
    finishReason: "unreadable response",
    usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
  };
}

interface Failure {
  code: "HTTP" | "NETWORK" | "BAD_RESPONSE";
  retryable: boolean;
  error: ModelError;
}

/** Maps whatever the SDK threw to a failure with a client-safe message. */
function classify(err: unknown): Failure {
  if (err instanceof ApiError) {
    const status = err.status;
    return {
      code: "HTTP",
      retryable: RETRYABLE_STATUS.has(status),
      error: new ModelError("HTTP", `Model request failed (HTTP ${status})`, { status }),
    };
  }
  if (err instanceof SyntaxError) {
    return {
      code: "BAD_RESPONSE",
      retryable: false,
      error: new ModelError("BAD_RESPONSE", "Model returned an unreadable response"),
    };
  }
  return {
    code: "NETWORK",
    retryable: true,
    error: new ModelError("NETWORK", "Model request failed (network error)"),
  };
}

/** `Retry-After` in ms, from seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Google's `RetryInfo.retryDelay` ("12s", "0.5s") from an error body, in ms. */
function retryDelayFromBody(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const m = /"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"/.exec(err.message);
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

/**
 * Waits `ms` before the next attempt. Gives up at once (throwing `error`) when the wait
 * would end past `deadline`; stops with the signal's reason when it aborts.
 */
function sleep(
  ms: number,
  signal: AbortSignal,
  deadline: number | undefined,
  error: ModelError,
): Promise<void> {
  if (deadline !== undefined && performance.now() + ms >= deadline) return Promise.reject(error);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
