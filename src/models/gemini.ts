/**
 * Gemini (API key) and Vertex AI (Application Default Credentials) through the official
 * `@google/genai` SDK.
 *
 * One request per model call: our prompt and the JPEG as an inline part, the five function
 * declarations (from `analysis/tools.ts`), function calling forced (`ANY`), a small
 * thinking budget and, when set, the media resolution. After a search, the model's content
 * goes back exactly as the SDK returned it (thought signatures included), followed by the
 * function response.
 *
 * Caching: Gemini 2.5+ bills a prefix repeated from a recent request at the cached rate once
 * it passes the model's minimum. So every request is ordered from what changes least to what
 * changes most: the system instruction, tools and generation config first (the SDK writes
 * `contents` first; {@link stableFieldsFirst} moves it last in the JSON body), then the first
 * user turn as three parts: the context lists (stable within a session), the date and the
 * screen, the image. A frame's first turn is built once, so each call of its tool loop
 * repeats the whole previous request as its prefix. `cachedContentTokenCount` of every reply
 * becomes `cachedInputTokens` and is priced at the model's cached rate.
 *
 * The screenshot skips the SDK: it gives the SDK a short placeholder in place of the base64
 * image, and the body the SDK serialised is put together as bytes, the image encoded straight
 * into them ({@link assembleBody}). A 200 KB screenshot would otherwise be copied into the
 * SDK's JSON string and encoded from it again on every call, which cost more server CPU per
 * frame than everything else we do.
 *
 * Failures: 429, 500, 503 and network errors are retried (at most `maxRetries` times, jittered
 * backoff that honours the server's retry hint, never past the call's deadline); other
 * statuses are not. A reply that cannot be read (a 200 whose body is not JSON, no candidates
 * and no block reason, an empty candidate, a malformed function call) is an upstream failure
 * (`BAD_RESPONSE`), retried once; a valid reply that calls no function (text only, blocked by
 * safety) is returned as such and becomes `no_task_found`. A credential lookup that Deno's
 * permissions stop is `PERMISSION`, never retried and logged with the permission it lacked.
 * What leaves this module is a {@link ModelError} whose message is built from a status code
 * or a fixed sentence only: no URL, no key, no path, no response body.
 *
 * @module
 */
import {
  ApiError,
  type Content,
  FunctionCallingConfigMode,
  type FunctionDeclaration,
  type GenerateContentConfig,
  type GenerateContentResponse,
  GoogleGenAI,
  type GoogleGenAIOptions,
  MediaResolution,
  type Part,
} from "@google/genai";
import { z } from "zod";
import {
  addModelUsage,
  type Conversation,
  type FunctionCall,
  type Model,
  ModelError,
  type ModelReply,
  type ModelUsage,
} from "../analysis/model.ts";
import { buildFramePromptParts, SYSTEM_INSTRUCTION } from "../analysis/prompt.ts";
import { FUNCTIONS } from "../analysis/tools.ts";
import { createLogger, type Logger } from "../log.ts";
import type { MediaResolutionLevel } from "./media_resolution.ts";
import { costOf, type Price } from "./prices.ts";
import {
  backoffMs,
  type BackoffOptions,
  parseRetryAfter,
  permissionError,
  sleepBeforeRetry,
} from "./retry.ts";
import {
  capResponse,
  isResponseTooLarge,
  MAX_RESPONSE_BYTES,
  NOT_RUN,
  spliceImage,
  tokenCount,
} from "./wire.ts";

/** Supplies OAuth access tokens for Vertex AI (tests inject one; production uses ADC). */
export interface AccessTokenSource {
  getAccessToken(): Promise<string>;
}

/** Options of {@link GeminiModel}. */
export interface GeminiModelOptions extends BackoffOptions {
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
  /**
   * Tokens per image (`generationConfig.mediaResolution`); unset sends nothing, so the
   * model's default applies.
   */
  mediaResolution?: MediaResolutionLevel;
  /** Token price of this model; `undefined` counts cost as 0. */
  price?: Price;
  /**
   * Largest response body read, in bytes (default {@link MAX_RESPONSE_BYTES}); a reply past it
   * is `BAD_RESPONSE`.
   */
  maxResponseBytes?: number;
  /**
   * Where failures an operator must act on are reported (a permission the credential lookup
   * lacks, an unreadable reply). Default: JSON lines on stderr, warnings and errors only.
   */
  log?: Logger;
}

const MEDIA_RESOLUTION: Record<MediaResolutionLevel, MediaResolution> = {
  low: MediaResolution.MEDIA_RESOLUTION_LOW,
  medium: MediaResolution.MEDIA_RESOLUTION_MEDIUM,
  high: MediaResolution.MEDIA_RESOLUTION_HIGH,
};

/** Statuses worth another attempt: rate limit and transient server trouble. */
const RETRYABLE_STATUS = new Set([429, 500, 503]);

/** Unreadable replies retried within one call: they are usually transient. */
const BAD_RESPONSE_RETRIES = 1;

/** Finish reasons that mean the model's answer could not be produced or parsed. */
const BAD_FINISH_REASONS = new Set(["MALFORMED_FUNCTION_CALL", "MALFORMED_RESPONSE"]);

/** The client-safe messages of the failures this module names itself. */
const MESSAGES = {
  badResponse: "Model returned an unreadable response",
  permission: "Model credentials could not be obtained (permission denied)",
  requestDenied: "Model request failed (permission denied)",
  network: "Model request failed (network error)",
} as const;

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
  #log: Logger;
  #firstTurn = new WeakMap<object, FirstTurn>();
  /**
   * Stands in for the image in what the SDK serialises: random per model, with a `-` that
   * base64 never holds, in a string value that JSON writes as is.
   */
  #imageToken = `proactive-image-${crypto.randomUUID()}`;

  constructor(options: GeminiModelOptions) {
    this.#options = options;
    this.name = `${options.vertex ? "vertex" : "gemini"}:${options.model}`;
    this.#log = (options.log ?? createLogger({ level: "warn" })).child({ model: this.name });
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
      } else {
        // Application Default Credentials. The project is given, so google-auth-library never
        // looks for one (it would run `gcloud` and ask the metadata server).
        sdk.googleAuthOptions = { projectId: options.vertex.project };
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
    const { contents, image } = this.#contents(conversation);
    const maxRetries = this.#options.maxRetries ?? 2;
    let badRetries = 0;
    // Tokens of unreadable replies are billed too: they go on the reply that is returned.
    const wasted: ModelUsage = {
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      thinkingTokens: 0,
      costUsd: 0,
    };
    for (let attempt = 0;; attempt++) {
      let retryAfterMs: number | undefined;
      /** The HTTP status, once a response arrived. */
      let status: number | undefined;
      /** Whether the request got as far as being sent (credentials were found by then). */
      let sent = false;
      try {
        const config: GenerateContentConfig = {
          systemInstruction: SYSTEM_INSTRUCTION,
          tools: [{ functionDeclarations: FUNCTION_DECLARATIONS }],
          toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } },
          thinkingConfig: {
            thinkingBudget: thinkingBudgetFor(this.#options.model, this.#options.thinkingBudget),
          },
          abortSignal: signal,
          httpOptions: {
            // A fetch per call, to read the server's Retry-After hint, to know whether the
            // request went out and what status came back, and to put the stable fields first.
            fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
              sent = true;
              const body = init?.body;
              const request = typeof body === "string"
                ? {
                  ...init,
                  body: assembleBody(stableFieldsFirst(body), this.#imageToken, image),
                }
                : init;
              const response = await fetch(input, request);
              status = response.status;
              retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
              return capResponse(response, this.#options.maxResponseBytes ?? MAX_RESPONSE_BYTES);
            },
          },
        };
        const level = this.#options.mediaResolution;
        if (level) config.mediaResolution = MEDIA_RESOLUTION[level];
        const response = await this.#ai.models.generateContent({
          model: this.#options.model,
          contents,
          config,
        });
        const reply = this.#reply(response);
        if (reply instanceof BadReply) {
          addModelUsage(wasted, reply.usage);
          throw reply;
        }
        addModelUsage(reply.usage, wasted);
        return reply;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        const failure = classify(err, status, sent);
        let retryable = failure.retryable;
        if (failure.error.code === "BAD_RESPONSE") retryable = badRetries++ < BAD_RESPONSE_RETRIES;
        const last = !retryable || attempt >= maxRetries;
        this.#report(failure, attempt);
        // Replies that could not be read were billed all the same.
        if (last) throw failure.error.billed(wasted);
        const hint = retryAfterMs ?? retryDelayFromBody(err);
        await sleepBeforeRetry(
          hint ?? backoffMs(attempt, this.#options),
          signal,
          conversation.deadline,
          failure.error,
        );
      }
    }
  }

  /** Logs the failures an operator can do something about; the rest show in the outcome. */
  #report(failure: Failure, attempt: number): void {
    if (failure.error.code === "PERMISSION") {
      // The message is Deno's own ("Requires read access to …, run again with --allow-read"):
      // it names the permission and the file, never a token or user content.
      this.#log.error("model call failed: permission denied", {
        code: failure.error.code,
        stage: failure.stage,
        error: failure.detail?.name,
        detail: failure.detail?.message,
      });
    } else if (failure.error.code === "BAD_RESPONSE") {
      this.#log.warn("model reply unreadable", {
        code: failure.error.code,
        reason: failure.reason,
        attempt: attempt + 1,
      });
    }
  }

  /**
   * The request history: our first turn (built once per frame, so every call of the frame
   * sends it byte for byte alike), then every turn. The first turn's parts run from stable to
   * changing: the context, the date and screen, the image.
   */
  #contents(
    conversation: Conversation,
  ): { contents: Content[]; image: string | undefined } {
    const { request } = conversation;
    let first = this.#firstTurn.get(request);
    if (!first) {
      const prompt = buildFramePromptParts(request);
      const parts: Part[] = [{ text: prompt.context }, { text: prompt.frame }];
      const jpeg = request.frame.jpegBase64;
      if (jpeg) parts.push({ inlineData: { mimeType: "image/jpeg", data: this.#imageToken } });
      first = { content: { role: "user", parts }, image: jpeg || undefined };
      this.#firstTurn.set(request, first);
    }
    const contents: Content[] = [first.content];
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
    return { contents, image: first.image };
  }

  /**
   * The reply of a response, or a {@link BadReply} when the response is no answer at all:
   * no candidates without a block reason, an empty candidate that says it stopped normally, a
   * malformed function call. A valid answer without a call (text, a safety block) is a reply.
   */
  #reply(response: GenerateContentResponse): ModelReply | BadReply {
    // The counts as the server wrote them: the SDK does not check their types.
    const usage: unknown = response.usageMetadata;
    const field = (name: string) =>
      tokenCount(typeof usage === "object" && usage !== null ? Reflect.get(usage, name) : 0);
    const inputTokens = field("promptTokenCount");
    // Part of promptTokenCount, never more than it.
    const cachedInputTokens = Math.min(inputTokens, field("cachedContentTokenCount"));
    const outputTokens = field("candidatesTokenCount");
    const thinkingTokens = field("thoughtsTokenCount");
    const reply: ModelReply = {
      content: undefined,
      usage: {
        inputTokens,
        cachedInputTokens,
        outputTokens,
        thinkingTokens,
        costUsd: costOf(this.#options.price, {
          input: inputTokens,
          cachedInput: cachedInputTokens,
          output: outputTokens + thinkingTokens,
        }),
      },
    };
    const candidate = response.candidates?.[0];
    if (!candidate) {
      const blocked = response.promptFeedback?.blockReason;
      if (!blocked) return new BadReply("no candidates", reply.usage);
      reply.finishReason = `prompt blocked: ${blocked}`;
      return reply;
    }
    const finish = candidate.finishReason;
    if (finish && BAD_FINISH_REASONS.has(finish)) return new BadReply(finish, reply.usage);
    const parts = candidate.content?.parts ?? [];
    if (parts.length === 0 && (!finish || finish === "STOP")) {
      return new BadReply("empty candidate", reply.usage);
    }
    reply.content = candidate.content;
    if (finish && finish !== "STOP") reply.finishReason = finish;
    const call = parts.find((p) => p.functionCall !== undefined)?.functionCall;
    if (call) {
      const args = call.args ?? {};
      if (typeof call.name !== "string" || !call.name) {
        return new BadReply("function call without a name", reply.usage);
      }
      if (typeof args !== "object" || args === null || Array.isArray(args)) {
        return new BadReply("function call arguments are not an object", reply.usage);
      }
      const functionCall: FunctionCall = { name: call.name, args };
      if (call.id) functionCall.id = call.id;
      reply.functionCall = functionCall;
    } else {
      const text = parts.filter((p) => p.text && !p.thought).map((p) => p.text).join("");
      if (text) reply.text = text;
      reply.finishReason ??= "text only";
    }
    return reply;
  }
}

/** A frame's first user turn, as the SDK sees it, and its screenshot. */
interface FirstTurn {
  /** The turn, with the model's image token in place of the base64 image. */
  content: Content;
  /** The base64 image; none without a screenshot. */
  image: string | undefined;
}

/**
 * The request body as bytes: `body` (the JSON the SDK wrote) with `token`, which stands
 * inside a JSON string, replaced by `image` ({@link spliceImage}); without an image, `body`.
 *
 * @throws {Error} when the body does not hold the token once: the SDK no longer writes an
 *   inline part's data as given, and the request would go without its image.
 */
export function assembleBody(
  body: string,
  token: string,
  image: string | undefined,
): string | Uint8Array<ArrayBuffer> {
  if (image === undefined) return body;
  const at = body.indexOf(token);
  if (at < 0 || body.indexOf(token, at + token.length) >= 0) {
    throw new Error("The request body does not hold the screenshot's place exactly once");
  }
  return spliceImage(body, at, at + token.length, image);
}

const CONTENTS_FIRST = '{"contents":';
/** The last tail {@link stableFieldsFirst} found to be a whole object of its own. */
let checkedTail = "";
const SYSTEM_KEY = ',"systemInstruction":';

/**
 * A `generateContent` JSON body with `contents` moved last, so the fields that never change
 * (`systemInstruction`, `tools`, `toolConfig`, `generationConfig`) open it and consecutive
 * requests share them, then the first turn, as their byte prefix. The SDK writes `contents`
 * first; JSON key order means nothing to the API. The key is searched from the end: what
 * follows `contents` is ours (no `systemInstruction` key inside), while a function call's
 * arguments inside `contents` are the model's. A body of any other shape is returned as is.
 * Same bytes, same length: only the order changes.
 */
export function stableFieldsFirst(body: string): string {
  if (!body.startsWith(CONTENTS_FIRST) || !body.endsWith("}")) return body;
  const cut = body.lastIndexOf(SYSTEM_KEY);
  if (cut < 0) return body;
  const rest = body.slice(cut + 1, -1);
  // What follows `contents` is the same for every call of a model: checked once.
  if (rest !== checkedTail) {
    try {
      // The split is right only if what follows is a whole object of its own.
      const tail: unknown = JSON.parse(`{${rest}}`);
      if (typeof tail !== "object" || tail === null || "contents" in tail) return body;
    } catch {
      return body;
    }
    checkedTail = rest;
  }
  return `{${rest},${body.slice(1, cut)}}`;
}

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

/** A response that is no answer; `reason` is ours, for the log only. */
class BadReply extends Error {
  constructor(readonly reason: string, readonly usage: ModelUsage) {
    super(reason);
    this.name = "BadReply";
  }
}

interface Failure {
  /** Worth another attempt (unreadable replies have their own, smaller budget). */
  retryable: boolean;
  error: ModelError;
  /** Why a reply was unreadable, for the log. */
  reason?: string;
  /** The Deno permission error behind a `PERMISSION` failure, for the log. */
  detail?: Error;
  /** Where a `PERMISSION` failure happened. */
  stage?: "credentials" | "request";
}

/**
 * Maps whatever the SDK threw to a failure with a client-safe message. `status` is the HTTP
 * status of the response, when one arrived: an error after a 2xx is a body we could not read.
 * `sent` says whether the request left: before that, the SDK was looking for credentials.
 */
function classify(err: unknown, status: number | undefined, sent: boolean): Failure {
  if (err instanceof ApiError) {
    const status = err.status;
    return {
      retryable: RETRYABLE_STATUS.has(status),
      error: new ModelError("HTTP", `Model request failed (HTTP ${status})`, { status }),
    };
  }
  const denied = permissionError(err);
  if (denied) {
    const message = sent ? MESSAGES.requestDenied : MESSAGES.permission;
    return {
      retryable: false,
      error: new ModelError("PERMISSION", message),
      detail: denied,
      stage: sent ? "request" : "credentials",
    };
  }
  if (err instanceof BadReply) {
    return {
      retryable: true,
      error: new ModelError("BAD_RESPONSE", MESSAGES.badResponse),
      reason: err.reason,
    };
  }
  if (isResponseTooLarge(err)) {
    return {
      retryable: true,
      error: new ModelError("BAD_RESPONSE", MESSAGES.badResponse),
      reason: "body over the size cap",
    };
  }
  if (err instanceof SyntaxError || (status !== undefined && status >= 200 && status < 300)) {
    return {
      retryable: true,
      error: new ModelError("BAD_RESPONSE", MESSAGES.badResponse),
      reason: err instanceof SyntaxError ? "body is not JSON" : "body could not be read",
    };
  }
  return { retryable: true, error: new ModelError("NETWORK", MESSAGES.network) };
}

/** Google's `RetryInfo.retryDelay` ("12s", "0.5s") from an error body, in ms. */
function retryDelayFromBody(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const m = /"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"/.exec(err.message);
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}
