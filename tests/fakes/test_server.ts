/**
 * Starts the real server (handler, sessions, registry) on a free loopback port for a test,
 * and its metrics listener on another, as main.ts does.
 */
import type { Model } from "../../src/analysis/model.ts";
import type { Authenticator } from "../../src/auth/authenticator.ts";
import { NoAuthenticator } from "../../src/auth/none.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { InstrumentedModel } from "../../src/models/instrumented.ts";
import { Metrics } from "../../src/server/metrics.ts";
import { type MetricsServer, startMetricsServer } from "../../src/server/metrics_server.ts";
import type { UserLimits } from "../../src/server/user_limits.ts";
import { FrameRateLimiter } from "../../src/server/rate_limiter.ts";
import { SessionRegistry } from "../../src/server/registry.ts";
import { type ProactiveServer, startServer } from "../../src/server/server.ts";
import type { SessionLimits } from "../../src/server/session.ts";
import { FakeClient } from "./fake_client.ts";

/** Defaults small enough for fast tests, large enough for a slow machine. */
export const TEST_LIMITS: SessionLimits = {
  analysisTimeoutMs: 20_000,
  modelCallTimeoutMs: 10_000,
  toolResultTimeoutMs: 5_000,
  maxMessageBytes: 1024 * 1024,
  maxPendingFrames: 4,
  maxPendingBytes: 8 * 1024 * 1024,
  helloTimeoutMs: 15_000,
};

/** Options of {@link startTestServer}. */
export interface TestServerOptions {
  model: Model;
  limits?: Partial<SessionLimits>;
  authenticator?: Authenticator;
  maxSessions?: number;
  maxSessionsPerUser?: number;
  /** Frames per user per minute; default unlimited. */
  rateLimitPerMinute?: number;
  /** The per-user limits (replaces `rateLimitPerMinute` and the local session count). */
  userLimits?: UserLimits;
  idleTimeoutSeconds?: number;
  /** Wrap the model in `InstrumentedModel`, as main.ts does, so model metrics are kept. */
  instrument?: boolean;
  /** Defaults to a silent logger. */
  log?: Logger;
  /** The slowloris guard's head deadline; on (10 s) by default, as in production; 0 = off. */
  headerTimeoutMs?: number;
  /** How long the guard waits for the server's answer to a head (default 15 s). */
  responseTimeoutMs?: number;
}

/** A running test server; `await using` shuts it down. */
export interface TestServer extends AsyncDisposable {
  server: ProactiveServer;
  registry: SessionRegistry;
  metrics: Metrics;
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** `ws://127.0.0.1:<port>/v1/proactive` */
  wsUrl: string;
  /** The metrics listener (its own port, as `METRICS_PORT` in main.ts). */
  metricsServer: MetricsServer;
  /** `http://127.0.0.1:<metrics port>/metrics` */
  metricsUrl: string;
  connect(): Promise<FakeClient>;
}

/** Starts the server on port 0. */
export function startTestServer(options: TestServerOptions): TestServer {
  const registry = new SessionRegistry();
  const metrics = new Metrics(() => registry.size);
  const server = startServer({
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: options.headerTimeoutMs ?? 10_000,
    ...(options.responseTimeoutMs ? { responseTimeoutMs: options.responseTimeoutMs } : {}),
    model: options.instrument ? new InstrumentedModel(options.model, metrics) : options.model,
    authenticator: options.authenticator ?? new NoAuthenticator(),
    registry,
    log: options.log ?? silentLogger,
    metrics,
    maxSessions: options.maxSessions ?? 100,
    maxSessionsPerUser: options.maxSessionsPerUser ?? 100,
    idleTimeoutSeconds: options.idleTimeoutSeconds ?? 30,
    ...(options.rateLimitPerMinute
      ? { rateLimiter: new FrameRateLimiter({ perMinute: options.rateLimitPerMinute }) }
      : {}),
    ...(options.userLimits ? { userLimits: options.userLimits } : {}),
    limits: { ...TEST_LIMITS, ...options.limits },
    today: () => "2026-11-25",
  });
  const metricsServer = startMetricsServer({ hostname: "127.0.0.1", port: 0, metrics });
  const baseUrl = `http://127.0.0.1:${server.addr.port}`;
  const wsUrl = `ws://127.0.0.1:${server.addr.port}/v1/proactive`;
  return {
    server,
    registry,
    metrics,
    baseUrl,
    wsUrl,
    metricsServer,
    metricsUrl: `http://127.0.0.1:${metricsServer.addr.port}/metrics`,
    connect: () => FakeClient.connect(wsUrl),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await metricsServer.shutdown();
    },
  };
}
