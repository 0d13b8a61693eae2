/**
 * `AUTH_MODE=firebase`: Firebase ID tokens, verified with `jose` before the WebSocket
 * upgrade. The token comes in `Authorization: Bearer …` or, from browsers, which cannot set
 * that header, as a `bearer.<token>` subprotocol (`subprotocol.ts`); the header wins when a
 * request has both.
 *
 * Keys come from Google's securetoken JWK set through `createRemoteJWKSet`, which caches them,
 * refetches on an unknown `kid` at most once per cooldown, and shares one fetch among all the
 * connects waiting for it. When a refetch fails but keys are cached, the cached keys still
 * verify (the desktop must not be locked out because Google's endpoint hiccuped); with no keys
 * at all the answer is 503 with `Retry-After`, since the token was not proven bad.
 *
 * Every refusal carries a stable reason class (`expired`, `bad_signature`, …), never the
 * token or its claims.
 *
 * @module
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import type { Authenticator, AuthFailure, AuthResult } from "./authenticator.ts";
import { abortable } from "../async/abortable.ts";
import { offeredSubprotocols, subprotocolToken } from "./subprotocol.ts";

/** Options of {@link FirebaseAuthenticator}. */
export interface FirebaseAuthOptions {
  projectId: string;
  /** The JWK set URL (Google's securetoken set by default in config). */
  jwksUrl: string;
  /** Allowed clock skew in seconds (default 5). */
  clockToleranceSec?: number;
  /** Minimum time between refetches for an unknown `kid`, ms (default 30 000). */
  cooldownMs?: number;
  /** How long fetched keys are trusted before a refetch, ms (default 1 hour). */
  cacheMaxAgeMs?: number;
  /** Timeout of one key-set fetch, ms (default 5 000). */
  fetchTimeoutMs?: number;
  /** The clock; injectable for tests. */
  now?: () => Date;
}

/** Stable reason classes of a refused token. */
export type AuthReason =
  | "missing_token"
  | "invalid_request"
  | "malformed_token"
  | "expired"
  | "not_yet_valid"
  | "issued_in_future"
  | "auth_time_in_future"
  | "wrong_audience"
  | "wrong_issuer"
  | "bad_algorithm"
  | "bad_signature"
  | "unknown_key"
  | "invalid_subject"
  | "invalid_claims"
  | "keys_unavailable";

/** Longest Firebase uid (`sub`) we accept. */
export const MAX_SUBJECT_CHARS = 128;

/** Seconds a client should wait before retrying when keys are unreachable. */
const KEYS_RETRY_AFTER_SECONDS = 5;

function refuse(reason: AuthReason): AuthFailure {
  if (reason === "keys_unavailable") {
    return {
      ok: false,
      status: 503,
      reason,
      headers: { "retry-after": String(KEYS_RETRY_AFTER_SECONDS) },
    };
  }
  const challenge = reason === "missing_token"
    ? 'Bearer realm="proactive"'
    : reason === "invalid_request"
    ? 'Bearer realm="proactive", error="invalid_request"'
    : 'Bearer realm="proactive", error="invalid_token"';
  return { ok: false, status: 401, reason, headers: { "www-authenticate": challenge } };
}

/** A claim check of ours that failed after the signature was good. */
class ClaimError extends Error {
  constructor(readonly reason: AuthReason) {
    super(reason);
  }
}

/** Verifies Firebase ID tokens. */
export class FirebaseAuthenticator implements Authenticator {
  #issuer: string;
  #audience: string;
  #tolerance: number;
  #now: () => Date;
  #remote: ReturnType<typeof createRemoteJWKSet>;
  #getKey: JWTVerifyGetKey;

  constructor(options: FirebaseAuthOptions) {
    this.#audience = options.projectId;
    this.#issuer = `https://securetoken.google.com/${options.projectId}`;
    this.#tolerance = options.clockToleranceSec ?? 5;
    this.#now = options.now ?? (() => new Date());
    this.#remote = createRemoteJWKSet(new URL(options.jwksUrl), {
      cooldownDuration: options.cooldownMs ?? 30_000,
      cacheMaxAge: options.cacheMaxAgeMs ?? 3_600_000,
      timeoutDuration: options.fetchTimeoutMs ?? 5_000,
      [customFetch]: fetchKeySet,
    });
    this.#getKey = async (header, token) => {
      try {
        return await this.#remote(header, token);
      } catch (err) {
        // Stale-if-error: a failed refetch must not reject tokens the cached keys can verify.
        const cached = this.#remote.jwks();
        if (!isKeyFetchFailure(err) || !cached) throw err;
        try {
          return await createLocalJWKSet(cached)(header, token);
        } catch {
          // Not among the cached keys (a rotation we could not fetch): the token was not
          // proven bad, so the client hears "keys unavailable" and retries, not 401.
          throw err;
        }
      }
    };
  }

  async authenticate(request: Request, signal: AbortSignal): Promise<AuthResult> {
    const token = bearerToken(request);
    if (typeof token !== "string") return refuse(token.reason);
    if (token.split(".").length !== 3) return refuse("malformed_token");
    try {
      const { payload } = await abortable(
        jwtVerify(token, this.#getKey, {
          algorithms: ["RS256"],
          issuer: this.#issuer,
          audience: this.#audience,
          clockTolerance: this.#tolerance,
          currentDate: this.#now(),
          requiredClaims: ["exp", "iat", "sub"],
        }),
        signal,
      );
      return { ok: true, userId: this.#checkClaims(payload) };
    } catch (err) {
      return refuse(reasonOf(err));
    }
  }

  /** Firebase's rules beyond what jose checks; returns the user id. */
  #checkClaims(payload: JWTPayload): string {
    const now = this.#now().getTime() / 1000 + this.#tolerance;
    const sub = payload.sub;
    if (typeof sub !== "string" || sub.length === 0 || sub.length > MAX_SUBJECT_CHARS) {
      throw new ClaimError("invalid_subject");
    }
    if (typeof payload.iat !== "number" || payload.iat > now) {
      throw new ClaimError("issued_in_future");
    }
    const authTime = payload.auth_time;
    if (authTime !== undefined && (typeof authTime !== "number" || authTime > now)) {
      throw new ClaimError("auth_time_in_future");
    }
    return sub;
  }
}

/**
 * The request's bearer token: from the `Authorization` header, else from a `bearer.`
 * subprotocol, else the reason there is none.
 */
function bearerToken(request: Request): string | { reason: AuthReason } {
  const header = request.headers.get("authorization");
  if (header && header.trim()) {
    const match = /^Bearer[ ]+([A-Za-z0-9_\-.=]+)$/i.exec(header.trim());
    return match ? match[1]! : { reason: "invalid_request" };
  }
  const token = subprotocolToken(offeredSubprotocols(request));
  if (token === undefined) return { reason: "missing_token" };
  // Several bearer entries, or an empty one: which token was meant is not known.
  return /^[A-Za-z0-9_\-.]+$/.test(token) ? token : { reason: "invalid_request" };
}

/**
 * `fetch` for the key set. jose gives up on a non-200 answer without reading its body, which
 * would leak the body until garbage collection; release it here.
 */
async function fetchKeySet(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (response.status === 200) return response;
  await response.body?.cancel();
  return new Response(null, { status: response.status });
}

/** A key-set fetch that failed for reasons other than the token (network, timeout, junk). */
function isKeyFetchFailure(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout) return true;
  if (err instanceof errors.JOSEError) {
    return err.code === "ERR_JOSE_GENERIC" || err.code === "ERR_JWKS_INVALID";
  }
  // fetch() itself rejects with TypeError on network failure.
  return err instanceof TypeError;
}

/** The reason class of a verification failure. */
function reasonOf(err: unknown): AuthReason {
  if (err instanceof ClaimError) return err.reason;
  if (isKeyFetchFailure(err)) return "keys_unavailable";
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "aud":
        return "wrong_audience";
      case "iss":
        return "wrong_issuer";
      case "nbf":
        return "not_yet_valid";
      case "iat":
        return "issued_in_future";
      case "sub":
        return "invalid_subject";
      default:
        return "invalid_claims";
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return "bad_algorithm";
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return "unknown_key";
  }
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) {
    return "malformed_token";
  }
  if (err instanceof DOMException && (err.name === "AbortError" || err.name === "TimeoutError")) {
    return "keys_unavailable";
  }
  return "malformed_token";
}
