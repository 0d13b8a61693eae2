/**
 * An OpenAI-compatible HTTP server (`POST /v1/chat/completions`, non-streaming) for provider
 * tests: it answers from a script and records every request, so the real `openai` SDK and the
 * real `fetch` can be pointed at it through the base URL.
 *
 * Like OpenAI's API it refuses (HTTP 400, OpenAI's error shape, no script step used) a request
 * whose messages break the rules of tool calling: an assistant message with `tool_calls` must be
 * followed by one `tool` message per call id, a `tool` message must answer such a call, and an
 * assistant message needs content or tool calls. Options make it behave like servers that differ:
 * `refuseRequired` answers 400 to `tool_choice: "required"` (older vLLM and LM Studio builds),
 * `apiKey` answers 401 to any other bearer token, echoing the token it got.
 */
import { type ScriptedStep, StepPlayer } from "./scripted_answers.ts";

/** A request as the fake saw it. */
export interface RecordedRequest {
  method: string;
  /** Path only, e.g. `/v1/chat/completions`. */
  path: string;
  /** The full URL, query string included. */
  url: string;
  headers: Headers;
  /** Parsed JSON body (or the raw text when it was not JSON). */
  body: unknown;
  /** The body exactly as it arrived. */
  raw: string;
  /** Whether the client dropped the connection before the answer was sent. */
  aborted: boolean;
  /** Why the fake refused the request itself (not from the script), if it did. */
  refused?: string;
}

/** One scripted answer. */
export type OpenAIStep = ScriptedStep;

/** Options of {@link FakeOpenAI}. */
export interface FakeOpenAIOptions {
  /** Answer `tool_choice: "required"` with a 400 naming `tool_choice`. */
  refuseRequired?: boolean;
  /** The only key accepted (`Authorization: Bearer <key>`); others get a 401 that echoes them. */
  apiKey?: string;
}

/** A chat message as the fake checks it. */
interface WireMessage {
  role?: unknown;
  content?: unknown;
  tool_calls?: Array<{ id?: unknown }>;
  tool_call_id?: unknown;
}

/** A scripted Chat Completions endpoint on a free loopback port; `await using` stops it. */
export class FakeOpenAI implements AsyncDisposable {
  readonly requests: RecordedRequest[] = [];
  /** The base URL the SDK takes (`…/v1`). */
  readonly baseUrl: string;
  #steps: OpenAIStep[];
  #options: FakeOpenAIOptions;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #player = new StepPlayer();

  constructor(steps: OpenAIStep[] = [], options: FakeOpenAIOptions = {}) {
    this.#steps = [...steps];
    this.#options = options;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.baseUrl = `http://127.0.0.1:${this.#server.addr.port}/v1`;
  }

  /** Adds answers to the script. */
  push(...steps: OpenAIStep[]): void {
    this.#steps.push(...steps);
  }

  /** Resolves once a request was abandoned by the client mid-answer. */
  sawAbort(): Promise<void> {
    return this.#player.sawAbort(this.requests.some((r) => r.aborted));
  }

  /** The parsed bodies of the requests, in order. */
  get bodies(): ChatBody[] {
    return this.requests.map((r) => r.body as ChatBody);
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const text = await request.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // keep the text
    }
    const record: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      url: request.url,
      headers: request.headers,
      body,
      raw: text,
      aborted: false,
    };
    this.requests.push(record);
    const refuse = (status: number, message: string, param: string | null, type: string) => {
      record.refused = message;
      return Response.json({ error: { message, type, param, code: null } }, { status });
    };
    if (request.method !== "POST" || url.pathname !== "/v1/chat/completions") {
      return refuse(404, `Unknown route ${request.method} ${url.pathname}`, null, "not_found");
    }
    const auth = request.headers.get("authorization") ?? "";
    if (this.#options.apiKey !== undefined && auth !== `Bearer ${this.#options.apiKey}`) {
      // OpenAI's own answer names the key it got (masked there; whole here, the worst case).
      const got = auth.replace(/^Bearer /, "");
      return refuse(401, `Incorrect API key provided: ${got}.`, null, "invalid_request_error");
    }
    if (typeof body !== "object" || body === null) {
      return refuse(400, "We could not parse the JSON body of your request.", null, "invalid");
    }
    const chat = body as ChatBody;
    if (this.#options.refuseRequired && chat.tool_choice === "required") {
      return refuse(
        400,
        '"required" is not a supported value for tool_choice',
        "tool_choice",
        "invalid_request_error",
      );
    }
    const broken = checkMessages(chat.messages);
    if (broken) return refuse(400, broken, "messages", "invalid_request_error");

    const step = this.#steps.shift() ?? {
      json: { error: { message: "FakeOpenAI: script exhausted", type: "server_error" } },
      status: 500,
    };
    return this.#player.respond(step, record);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#player.clear();
    await this.#server.shutdown();
  }
}

/** Why OpenAI would refuse these messages, or `undefined` when it would take them. */
function checkMessages(messages: unknown): string | undefined {
  if (!Array.isArray(messages) || messages.length === 0) return "'messages' must be a list";
  let open: string[] = [];
  for (const [i, m] of (messages as WireMessage[]).entries()) {
    if (m.role === "tool") {
      if (typeof m.tool_call_id !== "string" || !open.includes(m.tool_call_id)) {
        return `Invalid parameter: messages[${i}] with role 'tool' must be a response to a ` +
          "preceeding message with 'tool_calls'.";
      }
      open = open.filter((id) => id !== m.tool_call_id);
      continue;
    }
    if (open.length) {
      return "An assistant message with 'tool_calls' must be followed by tool messages " +
        `responding to each 'tool_call_id'. The following tool_call_ids did not have response ` +
        `messages: ${open.join(", ")}`;
    }
    if (m.role === "assistant") {
      const calls = Array.isArray(m.tool_calls) ? m.tool_calls : [];
      if (calls.length === 0 && (m.content === null || m.content === undefined)) {
        return `Invalid value for 'content': expected a string, got null (messages[${i}]).`;
      }
      open = calls.map((c) => String(c.id));
    } else if (!["system", "developer", "user"].includes(String(m.role))) {
      return `Invalid value: '${String(m.role)}' (messages[${i}].role).`;
    }
  }
  if (open.length) {
    return `The following tool_call_ids did not have response messages: ${open.join(", ")}`;
  }
  return undefined;
}

/** A content part of a user message. */
export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string; detail?: string } };

/** A chat message as it arrives. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | ContentPart[] | null;
  tool_calls?: Array<
    { id: string; type: "function"; function: { name: string; arguments: string } }
  >;
  tool_call_id?: string;
}

/** The request body of `POST /v1/chat/completions`. */
export interface ChatBody {
  model: string;
  messages: ChatMessage[];
  tools: Array<{
    type: "function";
    function: { name: string; description: string; parameters: Record<string, unknown> };
  }>;
  tool_choice?: unknown;
  stream?: boolean;
  [key: string]: unknown;
}

/** Usage as OpenAI reports it; `null` leaves it out of the answer. */
export type FakeUsage = {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
} | null;

const DEFAULT_USAGE = { prompt_tokens: 1000, completion_tokens: 50 };

let nextId = 1;

/** A `chat.completion` answer with `message` as its only choice. */
export function completion(
  message: Record<string, unknown>,
  options: { finishReason?: string | null; usage?: FakeUsage; model?: string } = {},
): OpenAIStep {
  const json: Record<string, unknown> = {
    id: `chatcmpl-fake${nextId++}`,
    object: "chat.completion",
    created: 1_780_000_000,
    model: options.model ?? "gpt-4.1-mini-2025-04-14",
    choices: [{
      index: 0,
      message: { role: "assistant", refusal: null, annotations: [], ...message },
      logprobs: null,
      finish_reason: options.finishReason === undefined ? "stop" : options.finishReason,
    }],
    service_tier: "default",
    system_fingerprint: "fp_fake",
  };
  if (options.usage !== null) {
    const usage = { ...DEFAULT_USAGE, ...options.usage };
    json.usage = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
  }
  return { json };
}

/** One tool call as the answer carries it; `argumentsText` overrides the JSON of `args`. */
export interface FakeToolCall {
  name: string;
  args?: Record<string, unknown>;
  argumentsText?: string;
  id?: string;
}

/** An answer that calls every function of `calls` (more than one: parallel calls). */
export function toolCallsAnswer(
  calls: FakeToolCall[],
  options: { usage?: FakeUsage; content?: string | null } = {},
): OpenAIStep {
  return completion({
    content: options.content ?? null,
    tool_calls: calls.map((c, i) => ({
      id: c.id ?? `call_${nextId}_${i}`,
      type: "function",
      function: { name: c.name, arguments: c.argumentsText ?? JSON.stringify(c.args ?? {}) },
    })),
  }, { finishReason: "tool_calls", usage: options.usage });
}

/** An answer that calls `name(args)`. */
export function toolCallAnswer(
  name: string,
  args: Record<string, unknown>,
  options: { usage?: FakeUsage; id?: string; argumentsText?: string } = {},
): OpenAIStep {
  const call: FakeToolCall = { name, args };
  if (options.id) call.id = options.id;
  if (options.argumentsText !== undefined) call.argumentsText = options.argumentsText;
  return toolCallsAnswer([call], { usage: options.usage });
}

/** An answer with text and no tool call. */
export function textAnswer(
  text: string | null,
  options: { finishReason?: string | null; usage?: FakeUsage } = {},
): OpenAIStep {
  return completion({ content: text }, options);
}

/** An HTTP error in OpenAI's error shape. */
export function errorAnswer(
  status: number,
  options: { message?: string; param?: string; headers?: Record<string, string> } = {},
): OpenAIStep {
  return {
    status,
    json: {
      error: {
        message: options.message ?? `fake error ${status}`,
        type: status === 429 ? "rate_limit_exceeded" : "server_error",
        param: options.param ?? null,
        code: null,
      },
    },
    ...(options.headers ? { headers: options.headers } : {}),
  };
}
