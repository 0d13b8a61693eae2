/**
 * Starts the HTTP/WebSocket server and stops it in order.
 *
 * @module
 */
import { abortable } from "../async/abortable.ts";
import { Deadline } from "../async/deadline.ts";
import { createHandler, type HandlerOptions } from "./handler.ts";
import { type HeadGuard, startHeadGuard } from "./head_guard.ts";

/** Options of {@link startServer}. */
export interface ServerOptions extends HandlerOptions {
  hostname: string;
  /** 0 picks a free port (tests). */
  port: number;
  /**
   * How long a connection may take to send a complete request head (slowloris guard); 0 or
   * absent serves without the guard.
   */
  headerTimeoutMs?: number;
  /** How long the server may take to start answering a complete head (default 15 s). */
  responseTimeoutMs?: number;
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running server. */
export interface ProactiveServer {
  readonly addr: Deno.NetAddr;
  /**
   * Graceful stop: readiness turns 503 and new upgrades are refused at once, running frames
   * get up to `timeoutMs` to finish (v1.1 clients are told `go_away` with
   * `reconnectAfterMs`), then every socket closes with 1001 and the listener stops.
   * Resolves with the number of sessions that had to be cut off.
   */
  drain(timeoutMs: number, reconnectAfterMs?: number): Promise<number>;
  /** Refuses new sessions, closes the open ones with 1001 at once and stops listening. */
  shutdown(): Promise<void>;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
}

/** How long stopping the listener may take once every session is closed. */
const SHUTDOWN_TIMEOUT_MS = 3_000;

/** How long relayed connections may take to end by themselves once the server has stopped. */
const GUARD_GRACE_MS = 1_000;

/**
 * How long the server may take to start answering a complete request head (authentication
 * has 10 s of it).
 */
export const RESPONSE_TIMEOUT_MS = 15_000;

/** Starts serving; resolves once listening. */
export function startServer(options: ServerOptions): ProactiveServer {
  const handler = createHandler(options);
  const guarded = (options.headerTimeoutMs ?? 0) > 0;
  // With the guard, the guard takes the public address first and the real server a free
  // loopback port after it: bound the other way round, the kernel could hand the real server
  // the very port the guard is about to ask for.
  let guard: HeadGuard | undefined;
  let server: Deno.HttpServer;
  if (guarded) {
    guard = startHeadGuard({
      hostname: options.hostname,
      port: options.port,
      target: () => server.addr as Deno.NetAddr,
      headerTimeoutMs: options.headerTimeoutMs ?? 0,
      responseTimeoutMs: options.responseTimeoutMs ?? RESPONSE_TIMEOUT_MS,
      metrics: options.metrics,
      log: options.log,
      upgrade: handler.upgradeWith,
    });
  }
  try {
    server = Deno.serve({
      hostname: guarded ? "127.0.0.1" : options.hostname,
      port: guarded ? 0 : options.port,
      onListen: (addr) => {
        if (!guarded) options.onListen?.(addr as Deno.NetAddr);
      },
    }, handler);
  } catch (err) {
    void guard?.close(0);
    throw err;
  }
  if (guard) options.onListen?.(guard.addr);
  /**
   * `server.shutdown()`, bounded: Deno 2.9's never settles once a client has hung up on an
   * upgrade before its 101 went out (the connection is never released), and a stop must not
   * hang on that.
   */
  async function stopListening(): Promise<void> {
    guard?.stopAccepting();
    using deadline = new Deadline(SHUTDOWN_TIMEOUT_MS);
    const stopped = await abortable(server.shutdown().then(() => true), deadline.signal)
      .catch(() => false);
    if (!stopped) options.log.warn("server did not stop in time; exiting anyway");
    await guard?.close(GUARD_GRACE_MS);
  }
  return {
    addr: guard?.addr ?? server.addr as Deno.NetAddr,
    finished: server.finished,
    async drain(timeoutMs, reconnectAfterMs = 1_000) {
      // New connections are refused by the real server while draining (503), so the guard
      // keeps accepting until the end: the load balancer sees clean answers, not resets.
      const forced = await options.registry.drain(timeoutMs, reconnectAfterMs);
      await stopListening();
      return forced;
    },
    async shutdown() {
      options.registry.startDraining();
      options.registry.closeAll();
      await stopListening();
    },
  };
}
