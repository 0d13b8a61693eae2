/**
 * The composition root: reads the configuration, builds the dependencies, starts the server
 * and stops it in order on SIGTERM/SIGINT. Nothing else in the project has top-level side
 * effects.
 *
 * @module
 */
import { buildAuthenticator, buildModel, sessionLimits } from "./src/compose.ts";
import { type Config, ConfigError, loadConfig } from "./src/config.ts";
import { createLogger } from "./src/log.ts";
import { InstrumentedModel } from "./src/models/instrumented.ts";
import { Metrics } from "./src/server/metrics.ts";
import { FrameRateLimiter } from "./src/server/rate_limiter.ts";
import { SessionRegistry } from "./src/server/registry.ts";
import { startServer } from "./src/server/server.ts";

function main(): void {
  let config: Config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const line of err.lines) console.error(`proactive: configuration error: ${line}`);
    Deno.exit(1);
  }
  const log = createLogger({ level: config.logLevel });
  const registry = new SessionRegistry();
  const metrics = new Metrics(() => registry.size);
  const model = new InstrumentedModel(buildModel(config, log), metrics);
  const server = startServer({
    hostname: config.host,
    port: config.port,
    headerTimeoutMs: config.headerTimeoutMs,
    model,
    authenticator: buildAuthenticator(config),
    registry,
    log,
    metrics,
    maxSessions: config.maxSessions,
    maxSessionsPerUser: config.maxSessionsPerUser,
    idleTimeoutSeconds: config.idleTimeoutSec,
    ...(config.rateLimitFramesPerMinute > 0
      ? { rateLimiter: new FrameRateLimiter({ perMinute: config.rateLimitFramesPerMinute }) }
      : {}),
    limits: sessionLimits(config),
    onListen: (addr) =>
      log.info("listening", {
        url: `http://${addr.hostname}:${addr.port}`,
        model: model.name,
        auth: config.authMode,
      }),
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = performance.now();
    log.info("draining", { signal, sessions: registry.size, timeout_ms: config.drainTimeoutMs });
    const forced = await server.drain(config.drainTimeoutMs);
    log.info("stopped", { ms: Math.round(performance.now() - started), forced_closes: forced });
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
}

if (import.meta.main) main();
