/**
 * A Gemini-compatible HTTP server (`generateContent` over REST) for provider tests: it
 * answers from a script and records every request, so the real `@google/genai` SDK can be
 * pointed at it through its base URL.
 */
import { type ScriptedStep, StepPlayer } from "./scripted_answers.ts";

/** A request as the fake saw it. */
export interface RecordedRequest {
  method: string;
  /** Path only, e.g. `/v1beta/models/gemini-2.5-flash:generateContent`. */
  path: string;
  /** The full URL, query string included. */
  url: string;
  headers: Headers;
  /** Parsed JSON body (or the raw text when it was not JSON). */
  body: unknown;
  /** The body exactly as it arrived, for byte-level checks (key order, shared prefixes). */
  raw: string;
  /** Settles when the client dropped the connection before the answer was sent. */
  aborted: boolean;
}

/** One scripted answer. */
export type GeminiStep = ScriptedStep;

/** A scripted Gemini endpoint on a free loopback port; `await using` stops it. */
export class FakeGemini implements AsyncDisposable {
  readonly requests: RecordedRequest[] = [];
  readonly baseUrl: string;
  #steps: GeminiStep[];
  #server: Deno.HttpServer<Deno.NetAddr>;
  #player = new StepPlayer();

  constructor(steps: GeminiStep[] = []) {
    this.#steps = [...steps];
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.baseUrl = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Adds answers to the script. */
  push(...steps: GeminiStep[]): void {
    this.#steps.push(...steps);
  }

  /** Resolves once a request was abandoned by the client mid-answer. */
  sawAbort(): Promise<void> {
    return this.#player.sawAbort(this.requests.some((r) => r.aborted));
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
    const step = this.#steps.shift() ?? {
      json: { error: { code: 500, message: "FakeGemini: script exhausted" } },
      status: 500,
    };
    return this.#player.respond(step, record);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#player.clear();
    await this.#server.shutdown();
  }
}

/** Usage metadata as Gemini reports it. */
export interface FakeUsage {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  /** Prompt tokens served from the implicit cache (part of `promptTokenCount`). */
  cachedContentTokenCount?: number;
}

/** A `generateContent` answer whose first candidate calls `name(args)`. */
export function functionCallAnswer(
  name: string,
  args: Record<string, unknown>,
  options: { thoughtSignature?: string; usage?: FakeUsage; id?: string } = {},
): GeminiStep {
  const part: Record<string, unknown> = {
    functionCall: { name, args, ...(options.id ? { id: options.id } : {}) },
  };
  if (options.thoughtSignature) part.thoughtSignature = options.thoughtSignature;
  return {
    json: {
      candidates: [{ content: { role: "model", parts: [part] }, finishReason: "STOP", index: 0 }],
      usageMetadata: {
        promptTokenCount: 1000,
        candidatesTokenCount: 50,
        totalTokenCount: 1050,
        ...options.usage,
      },
      modelVersion: "gemini-2.5-flash",
    },
  };
}

/** An HTTP error in Google's JSON error shape. */
export function errorAnswer(status: number, headers?: Record<string, string>): GeminiStep {
  return {
    status,
    json: { error: { code: status, message: `fake error ${status}`, status: "UNAVAILABLE" } },
    ...(headers ? { headers } : {}),
  };
}

/** A request the fake metadata server saw. */
export interface MetadataRequest {
  /** Path and query, e.g. `/computeMetadata/v1/instance/service-accounts/default/token?…`. */
  path: string;
  headers: Headers;
}

/**
 * The GCE/GKE metadata server as google-auth-library and gcp-metadata talk to it (point
 * `GCE_METADATA_HOST` at {@link FakeMetadataServer.host}): it refuses a request without
 * `Metadata-Flavor: Google`, marks every answer with that header, and hands out an access
 * token for the default service account, as GKE's Workload Identity metadata server does.
 */
export class FakeMetadataServer implements AsyncDisposable {
  readonly requests: MetadataRequest[] = [];
  /** `127.0.0.1:<port>`, the form `GCE_METADATA_HOST` takes. */
  readonly host: string;
  readonly accessToken: string;
  readonly projectId: string;
  #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(options: { accessToken: string; projectId: string }) {
    this.accessToken = options.accessToken;
    this.projectId = options.projectId;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.host = `127.0.0.1:${this.#server.addr.port}`;
  }

  /** Token requests seen so far. */
  get tokenRequests(): MetadataRequest[] {
    return this.requests.filter((r) => r.path.includes("/service-accounts/default/token"));
  }

  #handle(request: Request): Response {
    const url = new URL(request.url);
    this.requests.push({ path: url.pathname + url.search, headers: request.headers });
    const headers = { "metadata-flavor": "Google", "content-type": "application/text" };
    if (request.headers.get("metadata-flavor") !== "Google") {
      return new Response("Missing Metadata-Flavor:Google header.", { status: 403, headers });
    }
    switch (url.pathname.replace(/\/$/, "")) {
      case "/computeMetadata/v1/instance":
        return new Response("attributes/\nhostname\nservice-accounts/\n", { headers });
      case "/computeMetadata/v1/instance/service-accounts/default/token":
        return Response.json(
          { access_token: this.accessToken, expires_in: 3599, token_type: "Bearer" },
          { headers: { ...headers, "content-type": "application/json" } },
        );
      case "/computeMetadata/v1/project/project-id":
        return new Response(this.projectId, { headers });
      case "/computeMetadata/v1/universe/universe-domain":
        return new Response("googleapis.com", { headers });
      default:
        return new Response("Not Found", { status: 404, headers });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}
