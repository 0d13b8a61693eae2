/**
 * The in-process server a replay (when no `--url` is given) and the eval run against: the real server
 * (handler, sessions, analysis loop) on a free loopback port, without authentication and
 * without logs (the replay's own output is the table).
 *
 * @module
 */
import type { Model } from "../analysis/model.ts";
import { NoAuthenticator } from "../auth/none.ts";
import { silentLogger } from "../log.ts";
import { Metrics } from "../server/metrics.ts";
import { SessionRegistry } from "../server/registry.ts";
import { startServer } from "../server/server.ts";
import type { SessionLimits } from "../server/session.ts";

/** Options of {@link startLocalServer}. */
export interface LocalServerOptions {
  model: Model;
  limits: SessionLimits;
  /** Seconds without a pong before the client counts as gone. Default 30. */
  idleTimeoutSeconds?: number;
  /** Sessions it accepts at once (all of one user). Default 4. */
  maxSessions?: number;
}

/** A running in-process server; `await using` stops it. */
export interface LocalServer extends AsyncDisposable {
  /** `ws://127.0.0.1:<port>/v1/proactive` */
  url: string;
}

/** Starts the server on `127.0.0.1`, port 0. */
export function startLocalServer(options: LocalServerOptions): LocalServer {
  const registry = new SessionRegistry();
  const server = startServer({
    hostname: "127.0.0.1",
    port: 0,
    model: options.model,
    authenticator: new NoAuthenticator(),
    registry,
    log: silentLogger,
    metrics: new Metrics(() => registry.size),
    maxSessions: options.maxSessions ?? 4,
    maxSessionsPerUser: options.maxSessions ?? 4,
    idleTimeoutSeconds: options.idleTimeoutSeconds ?? 30,
    limits: options.limits,
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/v1/proactive`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
