/**
 * Starts the real server (handler, sessions, registry) on a free loopback port for a test.
 */
import type { Model } from "../../src/analysis/model.ts";
import type { Authenticator } from "../../src/auth/authenticator.ts";
import { NoAuthenticator } from "../../src/auth/none.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { InstrumentedModel } from "../../src/models/instrumented.ts";
import { Metrics } from "../../src/server/metrics.ts";
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
  idleTimeoutSeconds?: number;
  /** Wrap the model in `InstrumentedModel`, as main.ts does, so model metrics are kept. */
  instrument?: boolean;
  /** Defaults to a silent logger. */
  log?: Logger;
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
  connect(): Promise<FakeClient>;
}

/** Starts the server on port 0. */
export function startTestServer(options: TestServerOptions): TestServer {
  const registry = new SessionRegistry();
  const metrics = new Metrics(() => registry.size);
  const server = startServer({
    hostname: "127.0.0.1",
    port: 0,
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
    limits: { ...TEST_LIMITS, ...options.limits },
    today: () => "2026-11-25",
  });
  const baseUrl = `http://127.0.0.1:${server.addr.port}`;
  const wsUrl = `ws://127.0.0.1:${server.addr.port}/v1/proactive`;
  return {
    server,
    registry,
    metrics,
    baseUrl,
    wsUrl,
    connect: () => FakeClient.connect(wsUrl),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
