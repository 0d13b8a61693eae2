/**
 * HTTP routes of docs/protocol.md §8 (the developer console's page and script among them,
 * when it is on) and the WebSocket upgrade of `/v1/proactive`.
 *
 * Everything about a request is decided before `Deno.upgradeWebSocket`: route, method,
 * upgrade header, authentication and capacity. A refused upgrade gets a JSON body and never
 * a socket. `/metrics` is deliberately not a route here (404): `metrics_server.ts` serves it
 * on its own port.
 *
 * @module
 */
import type { Model } from "../analysis/model.ts";
import { Deadline } from "../async/deadline.ts";
import type { Authenticator } from "../auth/authenticator.ts";
import { offeredSubprotocols, subprotocolToken } from "../auth/subprotocol.ts";
import { CONSOLE_SCRIPT, type ConsoleAuth, consolePage } from "../console/assets.ts";
import type { Logger } from "../log.ts";
import { BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL } from "../protocol/messages.ts";
import { protocolJsonSchemaText } from "../protocol/schema.ts";
import type { Metrics } from "./metrics.ts";
import type { FrameRateLimiter } from "./rate_limiter.ts";
import type { SessionRegistry } from "./registry.ts";
import { Session, type SessionLimits, type SessionSocket } from "./session.ts";
import type { UserLimits } from "./user_limits.ts";

/** Options of {@link createHandler}. */
export interface HandlerOptions {
  model: Model;
  authenticator: Authenticator;
  registry: SessionRegistry;
  log: Logger;
  limits: SessionLimits;
  metrics: Metrics;
  /** Sessions per process; further upgrades get 503. */
  maxSessions: number;
  /** Sessions per user; further upgrades get 429. */
  maxSessionsPerUser: number;
  /** The per-user frame budget; absent = unlimited. Ignored when `userLimits` is given. */
  rateLimiter?: FrameRateLimiter;
  /**
   * The per-user limits (sessions, frames, daily budget), shared through Redis when it has
   * one; replaces `maxSessionsPerUser`'s local count and `rateLimiter`.
   */
  userLimits?: UserLimits;
  /** Seconds without a pong before a peer is considered dead (WebSocket ping/pong). */
  idleTimeoutSeconds: number;
  /**
   * Whether the service may take traffic besides the drain (`MODEL_PROBE`: once the primary
   * model answered); `/readyz` says 503 `warming_up` until then. Default: always.
   */
  ready?: () => boolean;
  /** Today's date for analyses; injectable for tests. */
  today?: () => string;
  /**
   * Serve the developer console at `/console` (`CONSOLE`), telling its page how to
   * authenticate; absent: the console's paths are unknown (404).
   */
  console?: { auth: ConsoleAuth };
}

/** How long after the 101 response a socket may take to open before it counts as dead. */
const OPEN_GRACE_MS = 2_000;

/** How long authentication may take before the upgrade is refused. */
const AUTH_TIMEOUT_MS = 10_000;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** The routes of docs/protocol.md §8 besides the upgrade: each answers GET (and HEAD) only. */
const KNOWN_PATHS = new Set(["/v1/health", "/healthz", "/readyz", "/v1/proactive/schema"]);

/** The console's paths, known only when the console is on. */
const CONSOLE_PATHS = new Set(["/console", "/console/app.js"]);

/** The console page's Content-Security-Policy: its own script and nothing from elsewhere. */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; " +
  "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** What a session's socket reports: its messages, its end, a message over the size cap. */
export interface SocketEvents {
  message(data: unknown): void;
  closed(): void;
  /** A message past `maxMessageBytes` began (the socket closes with 1009 after this). */
  tooBig?(): void;
}

/** The socket an admitted upgrade made: what the session sends through, once started. */
export interface AcceptedSocket extends SessionSocket {
  /** Starts delivering the socket's events. */
  start(events: SocketEvents): void;
}

/** What an upgrade must know to make its socket. */
export interface AcceptOptions {
  /** The subprotocol to select, when the client offered it. */
  protocol?: string;
  idleTimeoutSeconds: number;
  maxMessageBytes: number;
}

/**
 * Makes the socket of an admitted upgrade and the response that completes the handshake;
 * throws when the handshake is malformed (no `Sec-WebSocket-Key`, no `Connection: Upgrade`,
 * another version than 13).
 */
export type UpgradeAcceptor = (
  request: Request,
  options: AcceptOptions,
) => { socket: AcceptedSocket; response: Response };

/** The request handler: `Deno.serve`'s, plus the upgrade for sockets served elsewhere. */
export interface Handler {
  (request: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  /**
   * `/v1/proactive`'s upgrade (every check, then `accept` for the socket): for a connection
   * the slowloris guard serves itself (`websocket.ts`).
   */
  upgradeWith(request: Request, accept: UpgradeAcceptor): Promise<Response>;
}

/** `Deno.upgradeWebSocket` as an {@link UpgradeAcceptor}, for `Deno.serve`'s requests. */
function denoAcceptor(info?: Deno.ServeHandlerInfo): UpgradeAcceptor {
  return (request, options) => {
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: options.idleTimeoutSeconds,
      ...(options.protocol ? { protocol: options.protocol } : {}),
    });
    return { socket: new DenoSocket(socket, info), response };
  };
}

/**
 * Deno's WebSocket as an {@link AcceptedSocket}; the listener of its events. One small object
 * per session instead of a closure per handler and per method.
 */
class DenoSocket implements AcceptedSocket, EventListenerObject {
  readonly #socket: WebSocket;
  readonly #info: Deno.ServeHandlerInfo | undefined;
  #events: SocketEvents | undefined;

  constructor(socket: WebSocket, info: Deno.ServeHandlerInfo | undefined) {
    this.#socket = socket;
    this.#info = info;
  }

  send(text: string): void {
    this.#socket.send(text);
  }

  close(code: number, reason: string): void {
    const socket = this.#socket;
    // Closing a socket whose upgrade is still completing would be undone by it.
    if (socket.readyState !== WebSocket.CONNECTING) socket.close(code, reason);
    else socket.addEventListener("open", () => socket.close(code, reason), { once: true });
  }

  start(events: SocketEvents): void {
    this.#events = events;
    const socket = this.#socket;
    socket.addEventListener("message", this);
    socket.addEventListener("close", this);
    socket.addEventListener("error", this);
    // A client that hung up before the 101 went out leaves a socket that never opens and never
    // fires close or error: give up on it shortly after the response was handed over.
    this.#info?.completed.then(() => {
      if (socket.readyState !== WebSocket.CONNECTING) return;
      const timer = setTimeout(() => {
        if (socket.readyState !== WebSocket.OPEN) events.closed();
      }, OPEN_GRACE_MS);
      socket.addEventListener("open", () => clearTimeout(timer), { once: true });
    }, () => events.closed());
  }

  handleEvent(event: Event): void {
    if (event.type === "message") this.#events?.message((event as MessageEvent).data);
    else if (event.type === "close") this.#events?.closed();
    // "error": a close follows; nothing to do.
  }
}

/** Feeds a socket's events to its session. */
class SessionEvents implements SocketEvents {
  readonly #session: Session;

  constructor(session: Session) {
    this.#session = session;
  }

  message(data: unknown): void {
    this.#session.handleMessage(data);
  }

  closed(): void {
    this.#session.handleClose();
  }

  tooBig(): void {
    this.#session.refuseOversize();
  }
}

/** Builds the request handler given to `Deno.serve`. */
export function createHandler(options: HandlerOptions): Handler {
  const { registry, log, metrics } = options;
  let schemaText: string | undefined;
  const consoleOn = options.console;
  const consoleHtml = consoleOn ? consolePage({ auth: consoleOn.auth }) : "";
  const userLimits = options.userLimits;
  /** Shared by every session: which user a session is of, the registry knows. */
  const onClosed = (session: Session) => {
    const uid = registry.userOf(session);
    registry.delete(session);
    if (uid !== undefined) userLimits?.sessionClosed(uid, session.id);
    log.info("session closed", { session: session.id, uid });
  };

  const handle = async function handle(
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Promise<Response> {
    const { pathname } = new URL(request.url);
    const isConsole = consoleOn !== undefined && CONSOLE_PATHS.has(pathname);
    const readOnly = isConsole || (pathname !== "/v1/proactive" && KNOWN_PATHS.has(pathname));
    if (readOnly && request.method !== "GET" && request.method !== "HEAD") {
      return json(405, { error: "Method not allowed: use GET" }, { allow: "GET, HEAD" });
    }
    switch (pathname) {
      case "/v1/health":
      case "/healthz":
        return json(200, { status: "ok" });
      case "/readyz":
        return registry.draining
          ? json(503, { status: "draining" })
          : options.ready && !options.ready()
          ? json(503, { status: "warming_up" })
          : json(200, { status: "ready" });
      case "/v1/proactive/schema":
        schemaText ??= protocolJsonSchemaText();
        return new Response(schemaText, {
          headers: { "content-type": "application/schema+json; charset=utf-8" },
        });
      case "/v1/proactive":
        return await upgrade(request, denoAcceptor(info));
    }
    if (!isConsole) return json(404, { error: "Not found" });
    if (pathname === "/console") {
      return new Response(consoleHtml, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": CONSOLE_CSP,
          "x-content-type-options": "nosniff",
          "cache-control": "no-store",
        },
      });
    }
    return new Response(CONSOLE_SCRIPT, {
      headers: {
        "content-type": "text/javascript; charset=utf-8",
        "x-content-type-options": "nosniff",
      },
    });
  } as Handler;
  handle.upgradeWith = (request, accept) => upgrade(request, accept);
  return handle;

  async function upgrade(request: Request, accept: UpgradeAcceptor): Promise<Response> {
    if (request.method !== "GET") {
      return json(405, { error: "Method not allowed: use GET with a WebSocket upgrade" }, {
        allow: "GET",
      });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json(426, { error: "This endpoint speaks WebSocket only" }, {
        upgrade: "websocket",
        connection: "Upgrade",
      });
    }
    const version = request.headers.get("sec-websocket-version");
    if (version !== null && version.trim() !== "13") {
      // RFC 6455 §4.2.2: the versions this server speaks go back, so a client can retry.
      // (No version at all is a malformed handshake: 400 below.)
      return refuse("bad_version", 426, { error: "Unsupported WebSocket version: use 13" }, {
        "sec-websocket-version": "13",
      });
    }
    // Browsers authenticate with a `bearer.` subprotocol (docs/protocol.md §1.1); the server
    // must then select `proactive`, so a client that does not offer it cannot be answered.
    const offered = offeredSubprotocols(request);
    const speaksProactive = offered.includes(SUBPROTOCOL);
    if (!speaksProactive && subprotocolToken(offered) !== undefined) {
      return refuse("bad_subprotocol", 400, {
        error:
          `A "${BEARER_SUBPROTOCOL_PREFIX}" token needs the "${SUBPROTOCOL}" subprotocol beside it`,
      });
    }
    const busy = unavailable();
    if (busy) return busy;
    // Not tied to request.signal: Deno aborts it after every successful upgrade (and warns).
    const auth = await authenticate(request);
    if (!auth.ok) return refuse(auth.reason, auth.status, { error: auth.reason }, auth.headers);
    // Checked again: the process may have filled up or begun draining during authentication.
    const stillBusy = unavailable();
    if (stillBusy) return stillBusy;
    const { userId } = auth;
    const sessionId = crypto.randomUUID();
    const admitted = userLimits
      ? await userLimits.admitSession(userId, sessionId, () => registry.sessionsOf(userId))
      : registry.sessionsOf(userId) < options.maxSessionsPerUser;
    if (!admitted) {
      return refuse("max_sessions_per_user", 429, {
        error: "Too many open sessions for this user; close one first",
      }, { "retry-after": "5" });
    }
    try {
      return openAdmitted(request, accept, userId, sessionId, speaksProactive);
    } finally {
      // In the registry now, or given up: no longer counted as being admitted.
      userLimits?.settled(userId);
    }
  }

  /** The upgrade of a session admitted for `userId`: accepted and registered, or refused. */
  function openAdmitted(
    request: Request,
    accept: UpgradeAcceptor,
    userId: string,
    sessionId: string,
    speaksProactive: boolean,
  ): Response {
    // The process may have begun draining while the shared count was asked.
    const busyNow = userLimits ? unavailable() : undefined;
    if (busyNow) {
      userLimits?.sessionClosed(userId, sessionId);
      return busyNow;
    }

    let upgraded: { socket: AcceptedSocket; response: Response };
    try {
      // Selecting `proactive` when offered, never the token; no subprotocol otherwise (Omi).
      upgraded = accept(request, {
        idleTimeoutSeconds: options.idleTimeoutSeconds,
        maxMessageBytes: options.limits.maxMessageBytes,
        ...(speaksProactive ? { protocol: SUBPROTOCOL } : {}),
      });
    } catch {
      userLimits?.sessionClosed(userId, sessionId);
      // A malformed handshake (no Sec-WebSocket-Key, no `Connection: Upgrade`, …).
      return refuse("bad_upgrade", 400, { error: "Malformed WebSocket upgrade request" });
    }
    const { socket, response } = upgraded;
    const limiter = options.rateLimiter;
    const frameLimits = userLimits?.limitsFrames ? userLimits : undefined;
    const session = new Session({
      socket,
      model: options.model,
      limits: options.limits,
      log: log.child({ uid: userId }),
      metrics,
      id: sessionId,
      onClosed,
      ...(frameLimits
        ? {
          takeFrame: () => frameLimits.takeFrame(userId),
          onCost: (usd: number) => frameLimits.addCost(userId, usd),
        }
        : limiter && !userLimits
        ? { takeFrame: () => limiter.take(userId) }
        : {}),
      ...(options.today ? { today: options.today } : {}),
    });
    registry.add(session, userId);
    metrics.sessionsTotal.inc();
    socket.start(new SessionEvents(session));
    log.info("session opened", { session: session.id, uid: userId });
    return response;
  }

  /** Runs the authenticator under its own deadline, cleared as soon as it answers. */
  async function authenticate(request: Request) {
    using deadline = new Deadline(AUTH_TIMEOUT_MS);
    return await options.authenticator.authenticate(request, deadline.signal);
  }

  /** The refusal when the process is draining or full, else `undefined`. */
  function unavailable(): Response | undefined {
    if (registry.draining) {
      return refuse("draining", 503, { error: "Server is shutting down; reconnect shortly" }, {
        "retry-after": "1",
      });
    }
    if (registry.size >= options.maxSessions) {
      return refuse("max_sessions", 503, { error: "Server is at capacity; retry shortly" }, {
        "retry-after": "5",
      });
    }
    return undefined;
  }

  /** A refused upgrade: counted, logged (reason only), answered with JSON. */
  function refuse(
    reason: string,
    status: number,
    body: unknown,
    headers?: Record<string, string>,
  ): Response {
    metrics.rejectedTotal.inc({ reason });
    log.info("connection refused", { reason, status });
    return json(status, body, headers);
  }
}
