/**
 * A fake OpenTelemetry collector (OTLP/HTTP JSON) on a free loopback port: keeps the body of
 * every `/v1/traces` export, and gives the environment that points Deno's built-in
 * OpenTelemetry (`OTEL_DENO=true`) at it, spans batched every 50 ms.
 */

/** A running collector; `await using` stops it. */
export class TraceCollector implements AsyncDisposable {
  /** Every exported `/v1/traces` body, as it arrived. */
  readonly traces: string[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        const body = await request.text();
        if (new URL(request.url).pathname === "/v1/traces") this.traces.push(body);
        return Response.json({});
      },
    );
  }

  /** `OTEL_*` variables exporting to this collector. */
  get env(): Record<string, string> {
    return {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${this.#server.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "50",
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}
