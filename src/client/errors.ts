/**
 * The one error type of the client, with a stable `code` callers can switch on.
 *
 * @module
 */

/** Why a client call failed. */
export type ClientErrorCode =
  /** The WebSocket could not be opened (refused, DNS, TLS, HTTP 401/503 on the upgrade). */
  | "CONNECT_FAILED"
  /**
   * No `session_ready` within `handshakeTimeoutMs` of starting to connect: the token function
   * did not return, the WebSocket did not open, or the server did not answer `client_hello`.
   */
  | "HANDSHAKE_TIMEOUT"
  /** The socket dropped while this frame was in flight; its outcome is lost. */
  | "DISCONNECTED"
  /** The socket dropped and every reconnect attempt failed. */
  | "RECONNECT_FAILED"
  /** The client was closed (`close()`, disposal or its `signal`). */
  | "CLOSED"
  /** The caller's signal aborted the call. */
  | "ABORTED"
  /** The frame's deadline passed (`timeoutMs`), or the caller's `AbortSignal.timeout` did. */
  | "TIMEOUT"
  /** The frame waited behind too many newer frames and gave way to them. */
  | "FRAME_DROPPED"
  /**
   * The frame does not fit the `frame_event` schema, or is larger than the server accepts
   * (`maxMessageBytes`, or the server's `max_message_bytes`), which would close the socket.
   */
  | "INVALID_FRAME"
  /** `tokenTransport: "header"` with a token, but this WebSocket cannot send headers (browsers). */
  | "HEADERS_UNSUPPORTED"
  /**
   * No WebSocket implementation: the runtime has no global `WebSocket` (Node before 22, or
   * started with `--no-experimental-websocket`) and none was given as the `WebSocket` option.
   */
  | "NO_WEBSOCKET";

/** A failed client call; `code` is stable, `message` is for people. */
export class ClientError extends Error {
  /** Stable code callers can switch on. */
  readonly code: ClientErrorCode;

  /** An error with a stable `code`, a message for people and an optional `cause`. */
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ClientError";
    this.code = code;
  }
}

/**
 * The error for an aborted caller signal: `TIMEOUT` when the signal's own reason says a
 * timeout fired, `ABORTED` otherwise. Decided from the signal's reason, never a library's.
 */
export function abortError(signal: AbortSignal, what: string): ClientError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof DOMException && reason.name === "TimeoutError";
  return timedOut
    ? new ClientError("TIMEOUT", `${what} timed out`, { cause: reason })
    : new ClientError("ABORTED", `${what} was aborted`, { cause: reason });
}
