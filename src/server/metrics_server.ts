/**
 * The Prometheus listener: `GET /metrics` on its own port (`METRICS_PORT`, default 9464, the
 * Prometheus exporters' convention), never on the public one. Spend, traffic and refusal
 * counts are for the cluster's scraper only; the chart neither puts this port on the Service
 * nor routes it through the Ingress.
 *
 * Routes: `GET`/`HEAD /metrics` (text format 0.0.4); `/metrics` with another method gets
 * 405; anything else a JSON 404.
 *
 * @module
 */
import { abortable } from "../async/abortable.ts";
import { Deadline } from "../async/deadline.ts";
import type { Logger } from "../log.ts";
import { type Metrics, METRICS_CONTENT_TYPE } from "./metrics.ts";

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  hostname: string;
  /** 0 picks a free port (tests). */
  port: number;
  metrics: Metrics;
  /** Warns when stopping takes too long; absent = silent. */
  log?: Logger;
}

/** A running metrics listener; `await using` stops it. */
export interface MetricsServer extends AsyncDisposable {
  readonly addr: Deno.NetAddr;
  /** Stops listening; bounded, so a stuck scrape cannot hold a shutdown. */
  shutdown(): Promise<void>;
}

/** How long stopping may take before it is given up on. */
const SHUTDOWN_TIMEOUT_MS = 3_000;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** Builds the metrics listener's request handler (exported for tests without a socket). */
export function createMetricsHandler(metrics: Metrics): (request: Request) => Response {
  return (request) => {
    const { pathname } = new URL(request.url);
    if (pathname !== "/metrics") return json(404, { error: "Not found" });
    if (request.method !== "GET" && request.method !== "HEAD") {
      return json(405, { error: "Method not allowed: use GET" }, { allow: "GET, HEAD" });
    }
    return new Response(request.method === "HEAD" ? null : metrics.render(), {
      headers: { "content-type": METRICS_CONTENT_TYPE },
    });
  };
}

/**
 * Starts listening at once; throws what `Deno.serve` throws (`AddrInUse`, a bad host), so the
 * caller can name `METRICS_PORT` in its message.
 */
export function startMetricsServer(options: MetricsServerOptions): MetricsServer {
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    // Without it Deno prints its own "Listening on" line; main.ts logs the address itself.
    onListen: () => {},
  }, createMetricsHandler(options.metrics));
  let stopped: Promise<void> | undefined;
  const shutdown = () =>
    stopped ??= (async () => {
      using deadline = new Deadline(SHUTDOWN_TIMEOUT_MS);
      const done = await abortable(server.shutdown().then(() => true), deadline.signal)
        .catch(() => false);
      if (!done) options.log?.warn("metrics listener did not stop in time; exiting anyway");
    })();
  return {
    addr: server.addr as Deno.NetAddr,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
