/**
 * The composition root: reads the configuration, builds the dependencies, starts the server
 * and stops it in order on SIGTERM/SIGINT. Nothing else in the project has top-level side
 * effects.
 *
 * @module
 */
import type { Model } from "./src/analysis/model.ts";
import type { Authenticator } from "./src/auth/authenticator.ts";
import { FirebaseAuthenticator } from "./src/auth/firebase.ts";
import { NoAuthenticator } from "./src/auth/none.ts";
import { type Config, ConfigError, loadConfig } from "./src/config.ts";
import { createLogger, type Logger } from "./src/log.ts";
import { GeminiModel, type GeminiModelOptions } from "./src/models/gemini.ts";
import { OfflineModel } from "./src/models/offline.ts";
import { priceOf } from "./src/models/prices.ts";
import { InstrumentedModel } from "./src/models/instrumented.ts";
import { Metrics } from "./src/server/metrics.ts";
import { FrameRateLimiter } from "./src/server/rate_limiter.ts";
import { SessionRegistry } from "./src/server/registry.ts";
import { startServer } from "./src/server/server.ts";

function buildModel(config: Config, log: Logger): Model {
  switch (config.modelProvider) {
    case "offline":
      return new OfflineModel();
    case "gemini":
    case "vertex": {
      const options: GeminiModelOptions = {
        model: config.geminiModel,
        thinkingBudget: config.geminiThinkingBudget,
      };
      const price = priceOf(config.modelPrices, config.geminiModel);
      if (price) options.price = price;
      else log.warn("no price for this model: cost_usd will be 0", { model: config.geminiModel });
      if (config.geminiBaseUrl) options.baseUrl = config.geminiBaseUrl;
      if (config.modelProvider === "vertex") {
        // loadConfig guarantees the project; credentials come from ADC (Workload Identity).
        options.vertex = {
          project: config.googleCloudProject ?? "",
          location: config.googleCloudLocation,
        };
      } else {
        options.apiKey = config.geminiApiKey ?? "";
      }
      return new GeminiModel(options);
    }
  }
}

function buildAuthenticator(config: Config): Authenticator {
  switch (config.authMode) {
    case "none":
      return new NoAuthenticator();
    case "firebase":
      // loadConfig guarantees the project id in this mode.
      return new FirebaseAuthenticator({
        projectId: config.firebaseProjectId ?? "",
        jwksUrl: config.firebaseJwksUrl,
        clockToleranceSec: config.firebaseClockToleranceSec,
      });
  }
}

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
    limits: {
      analysisTimeoutMs: config.analysisTimeoutMs,
      modelCallTimeoutMs: config.modelCallTimeoutMs,
      toolResultTimeoutMs: config.toolResultTimeoutMs,
      maxMessageBytes: config.maxMessageBytes,
      maxPendingFrames: config.maxPendingFrames,
    },
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
