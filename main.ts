/**
 * The composition root: reads the configuration, builds the dependencies, starts the public
 * server and the metrics listener and stops them in order on SIGTERM/SIGINT. Nothing else in
 * the project has top-level side effects. A start-up that cannot go on (bad configuration, a
 * host it cannot listen on, a busy port) prints one line naming the variable and exits 1.
 *
 * @module
 */
import { buildAuthenticator, buildModel, sessionLimits } from "./src/compose.ts";
import { type Config, ConfigError, loadConfig } from "./src/config.ts";
import { createLogger } from "./src/log.ts";
import { FallbackModel } from "./src/models/fallback.ts";
import { InstrumentedModel } from "./src/models/instrumented.ts";
import { startModelProbe } from "./src/models/probe.ts";
import { Metrics } from "./src/server/metrics.ts";
import { type MetricsServer, startMetricsServer } from "./src/server/metrics_server.ts";
import { RedisLimits } from "./src/server/redis_limits.ts";
import { SessionRegistry } from "./src/server/registry.ts";
import { type ProactiveServer, startServer } from "./src/server/server.ts";
import { UserLimits } from "./src/server/user_limits.ts";

/** `scheme://host:port` plus `path`, with an IPv6 host in brackets. */
function httpUrl(addr: Deno.NetAddr, path = "", scheme = "http"): string {
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return `${scheme}://${host}:${addr.port}${path}`;
}

const USAGE = `usage: deno task start   (or: deno run <permissions> main.ts)

Serves the proactive WebSocket API on ws://HOST:PORT/v1/proactive and Prometheus metrics on
HOST:METRICS_PORT/metrics. Takes no arguments: everything is configured by environment
variables (PORT, HOST, MODEL_PROVIDER, GEMINI_API_KEY, AUTH_MODE, FIREBASE_PROJECT_ID, ...;
see README.md, "Configuration"). With none set it listens on 127.0.0.1:8080 with the offline
model and no authentication. SIGTERM or SIGINT drains and exits 0.`;

/** Start-up refused: one line on stderr, exit 1, never a stack trace. */
function refuse(line: string): never {
  console.error(`proactive: ${line}`);
  Deno.exit(1);
}

/** The one line for a listener that could not start, naming the variable to fix. */
function listenFailure(
  err: unknown,
  host: string,
  portVariable: "PORT" | "METRICS_PORT",
  port: number,
): string {
  const reason = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
  if (err instanceof Deno.errors.AddrInUse) {
    return `cannot listen: ${portVariable}=${port} is already in use on ${host}`;
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return `cannot listen: ${portVariable}=${port} on ${host} is not allowed (${reason})`;
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return `cannot listen: HOST=${host} is not an address of this machine (${reason})`;
  }
  if (err instanceof URIError) return `cannot listen: HOST=${host} is not a valid host (${reason})`;
  if (/lookup address/i.test(reason)) {
    return `cannot listen: HOST=${host} does not resolve (${reason})`;
  }
  const name = err instanceof Error ? err.name : "Error";
  return `cannot listen on HOST=${host} ${portVariable}=${port}: ${name}: ${reason}`;
}

function main(): void {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    Deno.exit(0);
  }
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
  const built = buildModel(config, log, {
    onFallback: (name, reason) => metrics.modelFallbacks.inc({ model: name, reason }),
  });
  const model = new InstrumentedModel(built, metrics);
  const probe = config.modelProbe
    ? startModelProbe({
      models: built instanceof FallbackModel ? built.models : [built],
      timeoutMs: config.modelCallTimeoutMs,
      log,
    })
    : undefined;
  // Per-user limits: this process's own, or shared through Redis (falling back to its own
  // whenever Redis does not answer in time). The connection is made in the background.
  const userLimits = new UserLimits({
    maxSessionsPerUser: config.maxSessionsPerUser,
    framesPerMinute: config.rateLimitFramesPerMinute,
    dailyBudgetUsd: config.userDailyBudgetUsd,
    ...(config.redisUrl
      ? {
        shared: new RedisLimits({
          url: config.redisUrl,
          ...(config.redisCaCert ? { caCert: config.redisCaCert } : {}),
          timeoutMs: config.redisTimeoutMs,
          leaseMs: config.redisSessionLeaseSec * 1000,
          log,
          metrics,
        }),
      }
      : {}),
  });
  let server: ProactiveServer;
  try {
    server = startServer({
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
      userLimits,
      limits: sessionLimits(config),
      ...(config.console ? { console: { auth: config.authMode } } : {}),
      ...(probe ? { ready: () => probe.ready } : {}),
    });
  } catch (err) {
    refuse(listenFailure(err, config.host, "PORT", config.port));
  }
  let metricsServer: MetricsServer;
  try {
    metricsServer = startMetricsServer({
      hostname: config.host,
      port: config.metricsPort,
      metrics,
      log,
    });
  } catch (err) {
    refuse(listenFailure(err, config.host, "METRICS_PORT", config.metricsPort));
  }
  log.info("listening", {
    url: httpUrl(server.addr),
    ws: httpUrl(server.addr, "/v1/proactive", "ws"),
    metrics: httpUrl(metricsServer.addr, "/metrics"),
    model: model.name,
    auth: config.authMode,
    ...(config.console ? { console: httpUrl(server.addr, "/console") } : {}),
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = performance.now();
    log.info("draining", { signal, sessions: registry.size, timeout_ms: config.drainTimeoutMs });
    const [forced] = await Promise.all([server.drain(config.drainTimeoutMs), probe?.stop()]);
    // After the drain: every session has released its lease.
    await userLimits.close();
    // Metrics stop last, so a scrape during the drain still sees the counts as they settle.
    await metricsServer.shutdown();
    log.info("stopped", { ms: Math.round(performance.now() - started), forced_closes: forced });
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
}

if (import.meta.main) main();
