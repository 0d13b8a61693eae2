/**
 * The way a connection proves who it is, checked before the WebSocket upgrade.
 *
 * @module
 */

/** A caller we let in. */
export interface AuthSuccess {
  ok: true;
  /** Stable user id (Firebase `sub`); logged only truncated. */
  userId: string;
}

/** A caller we turn away, with the HTTP answer to give (never echoing the credential). */
export interface AuthFailure {
  ok: false;
  status: 401 | 403 | 503;
  /** Stable reason class, e.g. `missing_token`, `expired`. */
  reason: string;
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`). */
  headers?: Record<string, string>;
}

/** The outcome of {@link Authenticator.authenticate}. */
export type AuthResult = AuthSuccess | AuthFailure;

/** Decides whether an upgrade request may open a session. */
export interface Authenticator {
  /** Reads only the request headers; must honour `signal`. */
  authenticate(request: Request, signal: AbortSignal): Promise<AuthResult>;
}
