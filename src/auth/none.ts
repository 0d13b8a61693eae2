/**
 * `AUTH_MODE=none`: every caller is the same local user. Config refuses it unless the server
 * listens on loopback only.
 *
 * @module
 */
import type { Authenticator, AuthResult } from "./authenticator.ts";

/** The user id every connection gets when authentication is off. */
export const LOCAL_USER_ID = "local-user";

/** Lets everyone in as {@link LOCAL_USER_ID}; for local development only. */
export class NoAuthenticator implements Authenticator {
  authenticate(_request: Request, _signal: AbortSignal): Promise<AuthResult> {
    return Promise.resolve({ ok: true, userId: LOCAL_USER_ID });
  }
}
