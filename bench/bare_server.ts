/**
 * The bare server: the least any server must do per frame, run as its own process so the
 * benchmark can compare ours against it on the same machine, in the same run.
 *
 * `/v1/proactive` only. `client_hello` → a minimal `session_ready` (the context is kept, it
 * goes into every prompt). `frame_event` → `JSON.parse`, one `fetch` POST to the model's
 * `generateContent` carrying the base64 image as `inlineData` (no re-encoding), read the
 * answer, reply with an `analysis_outcome` named after the function the model called. No
 * validation, no auth, no limits, no logs, no metrics, no deadlines, no queue (the load
 * generator is closed-loop: one frame per session at a time).
 *
 * Tool round trip: when the model calls `search_keywords`/`search_similar` the bare server
 * does what the protocol requires too — `tool_call_request`, wait for the `tool_result`,
 * a second `generateContent` with the model's turn and a `functionResponse` — otherwise the
 * search→extract comparison would not be like for like. The first user turn (prompt and
 * image) is serialised once per frame and spliced into the second request as text.
 *
 * `--sdk` makes the same model calls through `@google/genai` (`models.generateContent` with
 * the same contents, instruction, declarations and mode) instead of one `fetch`: the least a
 * server on the official SDK must do, so the benchmark can say what the SDK alone costs.
 *
 * Usage: `deno run --allow-net --allow-env bench/bare_server.ts --model-url <generateContent
 * URL> [--port 0] [--sdk]`. Prints `{"port":…}` as its first stdout line.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Content, GoogleGenAI } from "@google/genai";

/** The constant rest of every model request: instructions, five declarations, mode ANY. */
const REQUEST_TAIL = JSON.stringify({
  systemInstruction: {
    parts: [{
      text: "Decide for each screen: extract_task, reject_task or no_task_found. Search the " +
        "user's tasks first when a duplicate is plausible.",
    }],
  },
  tools: [{
    functionDeclarations: [
      { name: "search_similar", parametersJsonSchema: queryParams() },
      { name: "search_keywords", parametersJsonSchema: queryParams() },
      {
        name: "extract_task",
        parametersJsonSchema: {
          type: "object",
          properties: {
            title: { type: "string" },
            description: { type: "string" },
            priority: { type: "string", enum: ["high", "medium", "low"] },
            tags: { type: "array", items: { type: "string" } },
            confidence: { type: "number" },
            context_summary: { type: "string" },
            current_activity: { type: "string" },
          },
          required: ["title"],
        },
      },
      { name: "reject_task", parametersJsonSchema: summaryParams("reason") },
      { name: "no_task_found", parametersJsonSchema: summaryParams() },
    ],
  }],
  toolConfig: { functionCallingConfig: { mode: "ANY" } },
}).slice(1, -1);

function queryParams() {
  return { type: "object", properties: { query: { type: "string" } }, required: ["query"] };
}

function summaryParams(...extra: string[]) {
  const properties: Record<string, unknown> = {
    context_summary: { type: "string" },
    current_activity: { type: "string" },
  };
  for (const name of extra) properties[name] = { type: "string" };
  return { type: "object", properties };
}

interface Part {
  functionCall?: { name: string; args?: Record<string, unknown> };
}
interface ModelAnswer {
  candidates?: { content?: { parts?: Part[] } }[];
}

/** Starts the bare server. */
export function startBareServer(
  options: { port?: number; modelUrl: string; apiKey?: string; sdk?: boolean },
): Deno.HttpServer<Deno.NetAddr> {
  const modelHeaders = {
    "content-type": "application/json",
    "x-goog-api-key": options.apiKey ?? "bench-key",
  };

  async function callModel(contents: string, turns: Content[]): Promise<ModelAnswer> {
    if (sdk) return await sdk(turns);
    const response = await fetch(options.modelUrl, {
      method: "POST",
      headers: modelHeaders,
      body: `{"contents":[${contents}],${REQUEST_TAIL}}`,
    });
    return await response.json() as ModelAnswer;
  }
  const sdk = options.sdk ? sdkCaller(options.modelUrl, options.apiKey ?? "bench-key") : undefined;

  return Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen: () => {} },
    (request) => {
      if (new URL(request.url).pathname !== "/v1/proactive") {
        return new Response("Not found", { status: 404 });
      }
      const { socket, response } = Deno.upgradeWebSocket(request);
      let context: unknown = {};
      let toolWait: { id: string; resolve: () => void } | undefined;

      async function frame(message: Record<string, unknown>): Promise<void> {
        const frameId = String(message.screenshot_id || message.frame_number || "0");
        if (message.session_context) context = message.session_context;
        const parts: unknown[] = [{
          text:
            `App: ${message.app_name}\nWindow: ${message.window_title}\nScreen text: ${message.ocr_text}\nContext: ${
              JSON.stringify(context)
            }`,
        }];
        if (message.jpeg_base64) {
          parts.push({ inlineData: { mimeType: "image/jpeg", data: message.jpeg_base64 } });
        }
        const turns: Content[] = [{ role: "user", parts: parts as Content["parts"] }];
        // The first turn as text once per frame (not needed when the SDK serialises).
        let contents = sdk ? "" : JSON.stringify(turns[0]);
        let call: Part["functionCall"];
        for (let i = 0; i < 5; i++) {
          const answer = await callModel(contents, turns);
          const content = answer.candidates?.[0]?.content;
          call = content?.parts?.find((p) => p.functionCall)?.functionCall;
          if (!call || !call.name.startsWith("search_")) break;
          const id = crypto.randomUUID();
          const answered = new Promise<void>((resolve) => toolWait = { id, resolve });
          socket.send(JSON.stringify({
            type: "tool_call_request",
            request_id: id,
            tool_kind: call.name,
            query: call.args?.query ?? "",
            deadline_ms: 10_000,
            frame_id: frameId,
          }));
          await answered;
          const result: Content = {
            role: "user",
            parts: [{ functionResponse: { name: call.name, response: { output: "No tasks." } } }],
          };
          if (sdk) turns.push(content as Content, result);
          else contents += `,${JSON.stringify(content)},${JSON.stringify(result)}`;
        }
        const args = call?.args ?? {};
        socket.send(JSON.stringify({
          type: "analysis_outcome",
          outcome_kind: call?.name ?? "no_task_found",
          frame_id: frameId,
          context_summary: args.context_summary ?? "",
          current_activity: args.current_activity ?? "",
          ...(call?.name === "extract_task" ? { task: args } : {}),
        }));
      }

      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        switch (message.type) {
          case "client_hello":
            if (message.session_context) context = message.session_context;
            socket.send(JSON.stringify({
              type: "session_ready",
              session_id: crypto.randomUUID(),
              protocol_version: "1.0",
              context_version: message.context_version ?? "",
              max_model_iterations: 5,
              supported_tool_kinds: ["search_similar", "search_keywords"],
            }));
            return;
          case "frame_event":
            frame(message).catch(() => {
              try {
                socket.send(JSON.stringify({
                  type: "server_error",
                  code: "GEMINI_ERROR",
                  message: "Model request failed",
                  retryable: true,
                }));
              } catch {
                // socket gone
              }
            });
            return;
          case "tool_result":
            if (toolWait && toolWait.id === message.request_id) {
              const { resolve } = toolWait;
              toolWait = undefined;
              resolve();
            }
            return;
        }
      };
      socket.onerror = () => {};
      return response;
    },
  );
}

/**
 * The same call through `@google/genai`: `modelUrl` is `<base>/<version>/models/<model>:
 * generateContent`, so the SDK gets the base, the version and the model out of it.
 */
function sdkCaller(modelUrl: string, apiKey: string): (turns: Content[]) => Promise<ModelAnswer> {
  const match = /^(.*)\/(v[^/]+)\/models\/([^/:]+):generateContent$/.exec(modelUrl);
  if (!match) {
    throw new Error(
      "bare_server: --model-url must end in /<version>/models/<model>:generateContent",
    );
  }
  const [, baseUrl, apiVersion, model] = match as unknown as [string, string, string, string];
  const ai = new GoogleGenAI({ apiKey, apiVersion, httpOptions: { baseUrl } });
  const tail = JSON.parse(`{${REQUEST_TAIL}}`);
  const config = {
    systemInstruction: tail.systemInstruction.parts[0].text as string,
    tools: tail.tools,
    toolConfig: tail.toolConfig,
  };
  return async (turns) =>
    await ai.models.generateContent({ model, contents: turns, config }) as ModelAnswer;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "0" },
      "model-url": { type: "string" },
      sdk: { type: "boolean", default: false },
    },
  });
  if (!values["model-url"]) {
    console.error("bare_server: --model-url <generateContent URL> is required");
    Deno.exit(2);
  }
  const server = startBareServer({
    port: Number(values.port),
    modelUrl: values["model-url"],
    sdk: values.sdk,
  });
  // Exit (rather than die) on SIGTERM, so that `--cpu-prof` gets to write its profile.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  console.log(JSON.stringify({ port: server.addr.port }));
}
