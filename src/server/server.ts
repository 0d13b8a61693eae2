/**
 * Starts the HTTP/WebSocket server and stops it in order.
 *
 * @module
 */
import { createHandler, type HandlerOptions } from "./handler.ts";

/** Options of {@link startServer}. */
export interface ServerOptions extends HandlerOptions {
  hostname: string;
  /** 0 picks a free port (tests). */
  port: number;
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running server. */
export interface ProactiveServer {
  readonly addr: Deno.NetAddr;
  /** Refuses new sessions, closes the open ones with 1001 and stops listening. */
  shutdown(): Promise<void>;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
}

/** Starts serving; resolves once listening. */
export function startServer(options: ServerOptions): ProactiveServer {
  const handler = createHandler(options);
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: (addr) => options.onListen?.(addr as Deno.NetAddr),
  }, handler);
  return {
    addr: server.addr as Deno.NetAddr,
    finished: server.finished,
    async shutdown() {
      options.registry.startDraining();
      options.registry.closeAll();
      await server.shutdown();
    },
  };
}
