/**
 * OpenAI-compatible Chat Completions servers (OpenAI, Azure OpenAI's v1 API, OpenRouter, vLLM,
 * Ollama, LM Studio, …) through the official `openai` SDK.
 *
 * One request per model call: the system instruction, the frame's first user message (the
 * context lists, then the date and the screen, then the screenshot as a `data:` URL unless
 * vision is off: stable to changing, for the servers' prefix caches), every earlier turn, the
 * five functions as tools (JSON Schema from the same zod definitions Gemini gets), a call
 * forced with `tool_choice: "required"`, no streaming.
 *
 * Servers differ; the loop must not see it:
 * - A server that refuses `"required"` with a 400 naming `tool_choice` gets `"auto"` from then
 *   on (per model instance, logged once).
 * - A reply without a usable call (text only, empty content that says `stop`, a call whose
 *   arguments are not a JSON object) gets one repair turn: the assistant's message, a `tool`
 *   answer for each call it made, then "Answer by calling exactly one function." Still no call:
 *   the reply is returned without one, and the loop ends the frame in `no_task_found`.
 * - A pseudo call in the text (`<tool_call>{"name": …, "arguments": {…}}</tool_call>`, or the
 *   whole answer being such an object naming one of our functions) counts as a call; its result
 *   goes back as a user message (`<tool_response>…</tool_response>`), since there is no call id
 *   to answer.
 * - Parallel calls: the first one is the reply's call; every call id of the assistant message is
 *   answered, the others with the text Gemini gets ("Not run: …").
 * - No `usage` in the reply: tokens are estimated (about 4 characters a token of what was sent
 *   and received, {@link IMAGE_TOKEN_ESTIMATE} per screenshot) and marked `estimated`.
 *
 * What a reply added to the conversation (the assistant message, and a repair exchange if there
 * was one) is its {@link ModelReply.content}, sent again on the next call as it was: the text and
 * the tool calls (ids, names, argument strings) exactly as the server returned them, so each
 * request of a frame repeats the previous one as its prefix. Fields that only answers carry
 * (`refusal`, `annotations`, `reasoning_content`) are not sent back: servers refuse them in a
 * request.
 *
 * Failures: 429, 500, 502, 503, 504 and network errors are retried (at most `maxRetries` times,
 * jittered backoff that honours `retry-after-ms` / `Retry-After`, never past the call's
 * deadline); other statuses are not. The SDK's own retries and logging are off. A reply that is
 * no chat completion (not JSON, no choices, no message) is `BAD_RESPONSE`, retried once. What
 * leaves this module is a {@link ModelError} whose message is built from a status code or a
 * fixed sentence: no URL, no key, no response body. The key travels only in the
 * `Authorization` header; without one (local servers) the SDK gets a placeholder it sends
 * instead, which authorises nothing.
 *
 * @module
 */
import OpenAI, { APIError } from "openai";
import { z } from "zod";
import {
  type Conversation,
  type FunctionCall,
  type Model,
  ModelError,
  type ModelReply,
  type ModelUsage,
} from "../analysis/model.ts";
import { buildFramePromptParts, SYSTEM_INSTRUCTION } from "../analysis/prompt.ts";
import { DEFAULT_OPENAI_BASE_URL } from "../config.ts";
import { FUNCTIONS } from "../analysis/tools.ts";
import { createLogger, type Logger } from "../log.ts";
import { costOf, type Price } from "./prices.ts";
import type { Probeable, ProbeDetails } from "./probe.ts";
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

type Message = OpenAI.ChatCompletionMessageParam;
type AssistantMessage = OpenAI.ChatCompletionAssistantMessageParam;
type ToolCall = OpenAI.ChatCompletionMessageFunctionToolCall;
type ToolChoice = "required" | "auto";

/** Sent as the key when none is configured: the SDK refuses to start without one. */
const NO_KEY = "no-key";

/** Options of {@link OpenAIModel}. */
export interface OpenAIModelOptions extends BackoffOptions {
  /** Model name (Azure: the deployment name), e.g. `gpt-4.1-mini`. */
  model: string;
  /** API key, sent only in the `Authorization` header; local servers need none. */
  apiKey?: string;
  /** Base URL of the API (default {@link DEFAULT_OPENAI_BASE_URL}). */
  baseUrl?: string;
  /** Whether the screenshot is sent (default true); false sends text only. */
  vision?: boolean;
  /** Token price of this model; `undefined` counts cost as 0. */
  price?: Price;
  /**
   * Largest response body read, in bytes (default {@link MAX_RESPONSE_BYTES}); a reply past it
   * is `BAD_RESPONSE`.
   */
  maxResponseBytes?: number;
  /**
   * Where what an operator should know is reported (a server that refuses `"required"`, one
   * that reports no usage, an unreadable reply, a missing permission). Default: JSON lines on
   * stderr, warnings and errors only. Never user content, never the key.
   */
  log?: Logger;
}

/** The five functions as Chat Completions tools, built once from the zod definitions. */
export const OPENAI_TOOLS: OpenAI.ChatCompletionFunctionTool[] = Object.entries(FUNCTIONS).map(
  ([name, fn]) => {
    const { $schema: _, ...parameters } = z.toJSONSchema(fn.parameters) as Record<string, unknown>;
    return { type: "function", function: { name, description: fn.description, parameters } };
  },
);

/** The user message of a repair turn. */
export const REPAIR_PROMPT = "Answer by calling exactly one function.";

/** The answer to a call whose arguments were not a JSON object, before the repair prompt. */
export const BAD_ARGUMENTS = "Not run: the arguments were not a JSON object.";

/** Estimated tokens of one screenshot when the server reports no usage. */
export const IMAGE_TOKEN_ESTIMATE = 1_105;

/** Characters per token when the server reports no usage. */
const CHARS_PER_TOKEN = 4;

/** Statuses worth another attempt: rate limit and transient server or proxy trouble. */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** Unreadable replies retried within one call: they are usually transient. */
const BAD_RESPONSE_RETRIES = 1;

/** The client-safe messages of the failures this module names itself. */
const MESSAGES = {
  badResponse: "Model returned an unreadable response",
  requestDenied: "Model request failed (permission denied)",
  network: "Model request failed (network error)",
} as const;

/** What a reply added to the conversation; the loop keeps it as {@link ModelReply.content}. */
interface OpenAIContent {
  /** The messages to send again, in order: the last one is the assistant's answer. */
  messages: Message[];
  /** How the result of the reply's call goes back. */
  answer: { kind: "tool"; ids: string[] } | { kind: "text" } | undefined;
}

/** One answer of the server, read. */
interface Completion {
  /** The assistant message as it is sent back. */
  message: AssistantMessage;
  /** Its function tool calls (ids filled in), in order. */
  toolCalls: ToolCall[];
  text: string;
  finishReason: string | undefined;
  usage: RawUsage | undefined;
}

/** Token counts as the server reported them. */
interface RawUsage {
  input: number;
  cached: number;
  /** Completion tokens, reasoning included. */
  completion: number;
  reasoning: number;
}

/** A {@link Model} backed by an OpenAI-compatible Chat Completions server. */
export class OpenAIModel implements Model, Probeable {
  readonly name: string;
  #client: OpenAI;
  #options: OpenAIModelOptions;
  #log: Logger;
  #toolChoice: ToolChoice = "required";
  #warnedUsage = false;
  #firstTurn = new WeakMap<object, FirstTurn>();
  /**
   * Stands in for a screenshot in what the SDK serialises, followed by a number per frame: random
   * per model, so no screen text can forge it.
   */
  #imageToken = `proactive-image-${crypto.randomUUID()}-`;
  #nextImage = 0;
  /** Screenshots of the calls in flight, by their token, with how many calls use each. */
  #images = new Map<string, { image: string; calls: number }>();

  constructor(options: OpenAIModelOptions) {
    this.#options = options;
    this.name = `openai:${options.model}`;
    this.#log = (options.log ?? createLogger({ level: "warn" })).child({ model: this.name });
    this.#client = new OpenAI({
      apiKey: options.apiKey || NO_KEY,
      baseURL: options.baseUrl ?? DEFAULT_OPENAI_BASE_URL,
      // Ours: retries that know the call's deadline, and no SDK log line that could carry a
      // header or a body (OPENAI_LOG=debug would otherwise turn them on).
      maxRetries: 0,
      logLevel: "off",
      // Nothing from the environment but what loadConfig read (the SDK would read
      // OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_ADMIN_KEY by itself).
      organization: null,
      adminAPIKey: null,
      project: null,
      fetch: (input, init) => this.#fetch(input, init),
    });
  }

  /** The `tool_choice` form this server takes, as far as is known (for the start-up probe). */
  probeDetails(): ProbeDetails {
    return { toolChoice: this.#toolChoice };
  }

  async generate(conversation: Conversation, signal: AbortSignal): Promise<ModelReply> {
    const { messages, first } = this.#messages(conversation);
    const added: Message[] = [];
    const usage: ModelUsage = {
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      thinkingTokens: 0,
      costUsd: 0,
    };
    if (first.image !== undefined) {
      const held = this.#images.get(first.token);
      if (held) held.calls++;
      else this.#images.set(first.token, { image: first.image, calls: 1 });
    }
    try {
      for (let repair = 0;; repair++) {
        const sent = [...messages, ...added];
        const completion = await this.#complete(sent, signal, conversation.deadline, usage);
        this.#account(usage, completion, sent, first.image !== undefined);
        added.push(completion.message);
        const found = findCall(completion);
        if (found.call) {
          const reply: ModelReply = {
            functionCall: found.call,
            content: { messages: added, answer: found.answer } satisfies OpenAIContent,
            usage,
          };
          if (completion.text) reply.text = completion.text;
          return reply;
        }
        if (repair >= 1 || completion.finishReason === "content_filter") {
          const reply: ModelReply = {
            content: { messages: added, answer: undefined } satisfies OpenAIContent,
            finishReason: noCallReason(completion, found.badArguments),
            usage,
          };
          if (completion.text) reply.text = completion.text;
          return reply;
        }
        // Every call of an assistant message must be answered before the next user message.
        for (const call of completion.toolCalls) {
          added.push({ role: "tool", tool_call_id: call.id, content: BAD_ARGUMENTS });
        }
        added.push({ role: "user", content: REPAIR_PROMPT });
      }
    } catch (err) {
      // What was billed before the failure (unreadable replies, the answer before a repair
      // turn) is spend all the same.
      throw err instanceof ModelError ? err.billed(usage) : err;
    } finally {
      const held = this.#images.get(first.token);
      if (held && --held.calls === 0) this.#images.delete(first.token);
    }
  }

  /** One chat completion, retried as worth it; `usage` collects what failed attempts billed. */
  async #complete(
    messages: Message[],
    signal: AbortSignal,
    deadline: number | undefined,
    usage: ModelUsage,
  ): Promise<Completion> {
    const maxRetries = this.#options.maxRetries ?? 2;
    let badRetries = 0;
    for (let attempt = 0;;) {
      const toolChoice = this.#toolChoice;
      try {
        const raw: unknown = await this.#client.chat.completions.create({
          model: this.#options.model,
          messages,
          tools: OPENAI_TOOLS,
          tool_choice: toolChoice,
          stream: false,
        }, { signal });
        const completion = readCompletion(raw);
        if (completion instanceof BadReply) {
          // Tokens of unreadable replies are billed too, when the server says how many.
          if (completion.usage) addUsage(usage, completion.usage, this.#options.price);
          throw completion;
        }
        return completion;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        if (toolChoice === "required" && refusesToolChoice(err)) {
          // Not a failure of the call: the server wants another request. Once per model.
          if (this.#toolChoice === "required") {
            this.#toolChoice = "auto";
            this.#log.warn('server refused tool_choice "required": sending "auto" from now on', {
              status: err instanceof APIError ? err.status : undefined,
            });
          }
          continue;
        }
        const failure = classify(err);
        let retryable = failure.retryable;
        if (failure.error.code === "BAD_RESPONSE") retryable = badRetries++ < BAD_RESPONSE_RETRIES;
        this.#report(failure, attempt);
        if (!retryable || attempt >= maxRetries) throw failure.error;
        const hint = err instanceof APIError ? retryAfter(err.headers) : undefined;
        await sleepBeforeRetry(
          hint ?? backoffMs(attempt, this.#options),
          signal,
          deadline,
          failure.error,
        );
        attempt++;
      }
    }
  }

  /** Adds a completion's tokens and cost to `usage`, estimated when the server gave none. */
  #account(
    usage: ModelUsage,
    completion: Pick<Completion, "usage" | "message">,
    sent: Message[],
    withImage: boolean,
  ): void {
    let raw = completion.usage;
    if (!raw) {
      if (!this.#warnedUsage) {
        this.#warnedUsage = true;
        this.#log.warn("server reported no token usage: tokens are estimated");
      }
      raw = {
        input: estimateTokens(JSON.stringify(sent).length + TOOLS_CHARS) +
          (withImage ? IMAGE_TOKEN_ESTIMATE : 0),
        cached: 0,
        completion: estimateTokens(JSON.stringify(completion.message).length),
        reasoning: 0,
      };
      usage.estimated = true;
    }
    addUsage(usage, raw, this.#options.price);
  }

  /** Logs the failures an operator can do something about; the rest show in the outcome. */
  #report(failure: Failure, attempt: number): void {
    if (failure.error.code === "PERMISSION") {
      // Deno's own message ("Requires net access to …"): a permission and a host, no key.
      this.#log.error("model call failed: permission denied", {
        code: failure.error.code,
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
   * The request's messages: the system instruction, our first user message (built once per
   * frame, so every call of the frame sends it alike), then every turn.
   */
  #messages(conversation: Conversation): { messages: Message[]; first: FirstTurn } {
    const { request } = conversation;
    let first = this.#firstTurn.get(request);
    if (!first) {
      const vision = this.#options.vision ?? true;
      const jpeg = vision ? request.frame.jpegBase64 || undefined : undefined;
      // Without vision the prompt must not say that a screenshot is attached.
      const { jpegBase64: _, ...textFrame } = request.frame;
      const prompt = buildFramePromptParts(jpeg ? request : { ...request, frame: textFrame });
      const token = `${this.#imageToken}${this.#nextImage++}`;
      const parts: OpenAI.ChatCompletionContentPart[] = [
        { type: "text", text: prompt.context },
        { type: "text", text: prompt.frame },
      ];
      if (jpeg) {
        parts.push({ type: "image_url", image_url: { url: `data:image/jpeg;base64,${token}` } });
      }
      first = { message: { role: "user", content: parts }, token, image: jpeg };
      this.#firstTurn.set(request, first);
    }
    const messages: Message[] = [{ role: "system", content: SYSTEM_INSTRUCTION }, first.message];
    let previous: OpenAIContent | undefined;
    for (const turn of conversation.turns) {
      if (turn.role === "model") {
        previous = turn.reply.content as OpenAIContent;
        messages.push(...previous.messages);
        continue;
      }
      const answer = previous?.answer;
      if (answer?.kind === "tool" && answer.ids.length > 0) {
        // One tool message per call id; we ran the reply's call only.
        const ran = answer.ids.includes(turn.call.id ?? "") ? turn.call.id : answer.ids[0];
        for (const id of answer.ids) {
          messages.push({
            role: "tool",
            tool_call_id: id,
            content: id === ran ? turn.output : NOT_RUN,
          });
        }
      } else {
        messages.push({
          role: "user",
          content: `<tool_response>\n${turn.output}\n</tool_response>`,
        });
      }
    }
    return { messages, first };
  }

  /**
   * The SDK's fetch, with the screenshot put in place of its token as the body is encoded: the
   * base64 image never goes through the SDK's `JSON.stringify` nor a second UTF-8 encoding.
   */
  async #fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    return capResponse(
      await fetch(input, this.#request(init)),
      this.#options.maxResponseBytes ?? MAX_RESPONSE_BYTES,
    );
  }

  /** `init` with the screenshot spliced into its body in place of its token. */
  #request(init: RequestInit | undefined): RequestInit | undefined {
    const body = init?.body;
    if (typeof body !== "string") return init;
    const at = body.indexOf(this.#imageToken);
    if (at < 0) return init;
    let end = at + this.#imageToken.length;
    while (end < body.length && body.charCodeAt(end) >= 48 && body.charCodeAt(end) <= 57) end++;
    const image = this.#images.get(body.slice(at, end))?.image;
    if (image === undefined || body.indexOf(this.#imageToken, end) >= 0) {
      throw new Error("The request body does not hold one known screenshot");
    }
    return { ...init, body: spliceImage(body, at, end, image) };
  }
}

/** A frame's first user message, as the SDK sees it, and its screenshot. */
interface FirstTurn {
  /** The message, with the token in place of the base64 image. */
  message: Message;
  token: string;
  /** The base64 image; none without a screenshot or with vision off. */
  image: string | undefined;
}

const TOOLS_CHARS = JSON.stringify(OPENAI_TOOLS).length;

/** Adds `raw` to `usage`, priced at `price` (reasoning is billed as output). */
function addUsage(usage: ModelUsage, raw: RawUsage, price: Price | undefined): void {
  usage.inputTokens += raw.input;
  usage.cachedInputTokens = (usage.cachedInputTokens ?? 0) + raw.cached;
  usage.outputTokens += raw.completion - raw.reasoning;
  usage.thinkingTokens = (usage.thinkingTokens ?? 0) + raw.reasoning;
  usage.costUsd += costOf(price, {
    input: raw.input,
    cachedInput: raw.cached,
    output: raw.completion,
  });
}

function estimateTokens(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The usage of a reply, or `undefined` when it has none that can be read. */
function readUsage(value: unknown): RawUsage | undefined {
  if (!isObject(value) || typeof value.prompt_tokens !== "number") return undefined;
  const input = tokenCount(value.prompt_tokens);
  const completion = tokenCount(value.completion_tokens);
  const prompt = isObject(value.prompt_tokens_details) ? value.prompt_tokens_details : {};
  const details = isObject(value.completion_tokens_details) ? value.completion_tokens_details : {};
  return {
    input,
    cached: Math.min(input, tokenCount(prompt.cached_tokens)),
    completion,
    reasoning: Math.min(completion, tokenCount(details.reasoning_tokens)),
  };
}

/** The text of a message's content: a string, or the text parts of a list. */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => (isObject(p) && typeof p.text === "string" ? p.text : "")).join("");
}

/** Longest assistant text sent back in later turns: the model needs a reminder, not an essay. */
const MAX_REPLAYED_CHARS = 16 * 1024;

/**
 * The assistant content as it goes back to the server: as the server wrote it, unless it is
 * longer than {@link MAX_REPLAYED_CHARS} (then its text, cut there); an answer with neither
 * text nor calls needs a string.
 */
function replayedContent(
  content: unknown,
  text: string,
  hasCalls: boolean,
): AssistantMessage["content"] {
  if (typeof content === "string" || Array.isArray(content)) {
    const size = typeof content === "string" ? content.length : JSON.stringify(content).length;
    if (size <= MAX_REPLAYED_CHARS) return content as AssistantMessage["content"];
    return text.slice(0, MAX_REPLAYED_CHARS);
  }
  return hasCalls ? null : "";
}

/** The server's answer read, or a {@link BadReply} when it is no chat completion. */
function readCompletion(raw: unknown): Completion | BadReply {
  if (!isObject(raw)) return new BadReply("body is not a chat completion", undefined);
  const usage = readUsage(raw.usage);
  const choice = Array.isArray(raw.choices) ? raw.choices[0] : undefined;
  if (!isObject(choice)) return new BadReply("no choices", usage);
  const message = choice.message;
  if (!isObject(message)) return new BadReply("choice without a message", usage);
  const toolCalls: ToolCall[] = [];
  if (Array.isArray(message.tool_calls)) {
    for (const [i, call] of message.tool_calls.entries()) {
      if (!isObject(call) || !isObject(call.function)) continue;
      if (call.type !== undefined && call.type !== "function") continue;
      const { name, arguments: args } = call.function;
      if (typeof name !== "string") continue;
      toolCalls.push({
        // A server that gives no id gets one, so that its answer can name the call.
        id: typeof call.id === "string" && call.id ? call.id : `call_${i}`,
        type: "function",
        function: {
          name,
          arguments: typeof args === "string"
            ? args
            : args === undefined
            ? ""
            : JSON.stringify(args),
        },
      });
    }
  }
  const text = contentText(message.content);
  const replay: AssistantMessage = {
    role: "assistant",
    content: replayedContent(message.content, text, toolCalls.length > 0),
  };
  if (toolCalls.length) replay.tool_calls = toolCalls;
  const finish = typeof choice.finish_reason === "string" ? choice.finish_reason : undefined;
  return { message: replay, toolCalls, text, finishReason: finish, usage };
}

/** The call a completion makes, if any, and how its result goes back. */
function findCall(
  completion: Completion,
): { call?: FunctionCall; answer?: OpenAIContent["answer"]; badArguments?: boolean } {
  const first = completion.toolCalls[0];
  if (first) {
    const args = parseArguments(first.function.arguments);
    if (!args) return { badArguments: true };
    return {
      call: { name: first.function.name, args, id: first.id },
      answer: { kind: "tool", ids: completion.toolCalls.map((c) => c.id) },
    };
  }
  const call = pseudoCall(completion.text);
  return call ? { call, answer: { kind: "text" } } : {};
}

/** Tool arguments (a JSON string; an empty one means none) as an object, else `undefined`. */
function parseArguments(text: string): Record<string, unknown> | undefined {
  if (text.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

const OPEN_TAG = "<tool_call>";
const CLOSE_TAG = "</tool_call>";
const FENCE = "```";
/** Longest call written as text that is looked at: a real one is a few hundred characters. */
const MAX_PSEUDO_CALL_CHARS = 16 * 1024;

/**
 * What a fenced answer holds (```` ```json {…} ``` ````), or the answer as it is. String
 * operations only: a regular expression over a fence and a long run of whitespace (a model
 * printing blank lines) backtracks for minutes on the one JS thread.
 */
function unfenced(text: string): string {
  if (text.length < 2 * FENCE.length || !text.startsWith(FENCE) || !text.endsWith(FENCE)) {
    return text;
  }
  let inner = text.slice(FENCE.length, -FENCE.length);
  if (inner.startsWith("json")) inner = inner.slice("json".length);
  return inner.trim();
}

/**
 * A call written as text: `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (Hermes and
 * Qwen templates that a server did not parse), or an answer that is nothing but such an object
 * (fenced or not) naming one of our functions. `arguments` may be an object or a JSON string;
 * some models write `parameters`. Linear in the text's length, whatever it holds.
 */
export function pseudoCall(text: string): FunctionCall | undefined {
  const open = text.indexOf(OPEN_TAG);
  const tagged = open >= 0;
  let candidate: string;
  if (tagged) {
    const from = open + OPEN_TAG.length;
    const close = text.indexOf(CLOSE_TAG, from);
    candidate = text.slice(from, close < 0 ? text.length : close).trim();
  } else candidate = unfenced(text.trim());
  if (candidate.length > MAX_PSEUDO_CALL_CHARS) return undefined;
  if (!candidate.startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(candidate);
  } catch {
    return undefined;
  }
  if (!isObject(value) || typeof value.name !== "string" || !value.name) return undefined;
  if (!tagged && !Object.hasOwn(FUNCTIONS, value.name)) return undefined;
  const raw = value.arguments ?? value.parameters ?? {};
  const args = typeof raw === "string" ? parseArguments(raw) : isObject(raw) ? raw : undefined;
  return args ? { name: value.name, args } : undefined;
}

/** Why a reply ends without a call, for `context_summary`: ours, or the server's short code. */
function noCallReason(completion: Completion, badArguments: boolean | undefined): string {
  if (badArguments) return "function arguments are not a JSON object";
  const finish = completion.finishReason;
  if (finish && finish !== "stop" && finish !== "tool_calls") {
    return /^[A-Za-z0-9_-]{1,40}$/.test(finish) ? finish : "other";
  }
  return completion.text.trim() ? "text only" : "empty answer";
}

/** Whether `err` is a server's refusal of `tool_choice: "required"`. */
function refusesToolChoice(err: unknown): boolean {
  if (!(err instanceof APIError) || (err.status !== 400 && err.status !== 422)) return false;
  return err.param === "tool_choice" || /tool[_ ]?choice/i.test(err.message);
}

/** A response that is no answer; `reason` is ours, for the log only. */
class BadReply extends Error {
  constructor(readonly reason: string, readonly usage: RawUsage | undefined) {
    super(reason);
    this.name = "BadReply";
  }
}

interface Failure {
  retryable: boolean;
  error: ModelError;
  /** Why a reply was unreadable, for the log. */
  reason?: string;
  /** The Deno permission error behind a `PERMISSION` failure, for the log. */
  detail?: Error;
}

/** Maps whatever the SDK threw to a failure with a client-safe message. */
function classify(err: unknown): Failure {
  const denied = permissionError(err);
  if (denied) {
    return {
      retryable: false,
      error: new ModelError("PERMISSION", MESSAGES.requestDenied),
      detail: denied,
    };
  }
  if (err instanceof APIError && typeof err.status === "number") {
    const status = err.status;
    return {
      retryable: RETRYABLE_STATUS.has(status),
      error: new ModelError("HTTP", `Model request failed (HTTP ${status})`, { status }),
    };
  }
  if (err instanceof BadReply) {
    return {
      retryable: true,
      error: new ModelError("BAD_RESPONSE", MESSAGES.badResponse),
      reason: err.reason,
    };
  }
  if (err instanceof SyntaxError) {
    return {
      retryable: true,
      error: new ModelError("BAD_RESPONSE", MESSAGES.badResponse),
      reason: "body is not JSON",
    };
  }
  if (isResponseTooLarge(err)) {
    return {
      retryable: true,
      error: new ModelError("BAD_RESPONSE", MESSAGES.badResponse),
      reason: "body over the size cap",
    };
  }
  return { retryable: true, error: new ModelError("NETWORK", MESSAGES.network) };
}

/** The server's retry hint in ms: `retry-after-ms`, else `Retry-After` (seconds or a date). */
export function retryAfter(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = Number(headers?.get("retry-after-ms") ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return Math.round(ms);
  return parseRetryAfter(headers?.get("retry-after") ?? null, now);
}
