/**
 * A Gemini-compatible HTTP server (`generateContent` over REST) for provider tests: it
 * answers from a script and records every request, so the real `@google/genai` SDK can be
 * pointed at it through its base URL.
 */

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
export type GeminiStep =
  | { json: unknown; status?: number; headers?: Record<string, string>; delayMs?: number }
  | { text: string; status?: number; headers?: Record<string, string> }
  | { hang: true };

/** A scripted Gemini endpoint on a free loopback port; `await using` stops it. */
export class FakeGemini implements AsyncDisposable {
  readonly requests: RecordedRequest[] = [];
  readonly baseUrl: string;
  #steps: GeminiStep[];
  #server: Deno.HttpServer<Deno.NetAddr>;
  #abortWaiters: Array<() => void> = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();

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
    if (this.requests.some((r) => r.aborted)) return Promise.resolve();
    return new Promise((resolve) => this.#abortWaiters.push(resolve));
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
    if ("hang" in step || ("delayMs" in step && step.delayMs)) {
      // Answer the headers at once and hold the body back: Deno.serve reports a client that
      // goes away reliably as a cancelled body stream (request.signal misses it for larger
      // request bodies).
      const ms = "hang" in step ? 60_000 : step.delayMs!;
      const body = "hang" in step ? "" : JSON.stringify(step.json);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stream = new ReadableStream<Uint8Array>({
        start: (controller) => {
          timer = setTimeout(() => {
            this.#timers.delete(timer!);
            controller.enqueue(new TextEncoder().encode(body));
            controller.close();
          }, ms);
          this.#timers.add(timer);
        },
        cancel: () => {
          clearTimeout(timer);
          this.#timers.delete(timer!);
          record.aborted = true;
          for (const wake of this.#abortWaiters.splice(0)) wake();
        },
      });
      const status = "hang" in step ? 200 : step.status ?? 200;
      return new Response(stream, { status, headers: { "content-type": "application/json" } });
    }
    if ("text" in step) {
      return new Response(step.text, { status: step.status ?? 200, headers: step.headers });
    }
    return Response.json(step.json, { status: step.status ?? 200, headers: step.headers });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
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
