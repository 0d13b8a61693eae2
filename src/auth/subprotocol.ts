/**
 * Browser authentication through `Sec-WebSocket-Protocol` (docs/protocol.md §1.1).
 *
 * A browser cannot set the `Authorization` header of a WebSocket upgrade, but it can offer
 * subprotocols: it offers `proactive` and `bearer.<token>` (a JWT is base64url segments
 * joined by dots, a valid subprotocol token). The server answers with `proactive`, never the
 * token.
 *
 * @module
 */
import { BEARER_SUBPROTOCOL_PREFIX } from "../protocol/messages.ts";

/** The subprotocols an upgrade request offers, in order (empty when it offers none). */
export function offeredSubprotocols(request: Request): string[] {
  const header = request.headers.get("sec-websocket-protocol");
  if (!header) return [];
  return header.split(",").map((entry) => entry.trim()).filter(Boolean);
}

/**
 * The bearer credential among `offered`: `undefined` when there is no `bearer.` entry, the
 * token when there is exactly one, `""` when there are several (which one was meant is not
 * known). The prefix is compared without regard to case, as the `Bearer` scheme is.
 */
export function subprotocolToken(offered: readonly string[]): string | undefined {
  const prefix = BEARER_SUBPROTOCOL_PREFIX;
  const bearers = offered.filter((entry) => entry.slice(0, prefix.length).toLowerCase() === prefix);
  if (bearers.length === 0) return undefined;
  if (bearers.length > 1) return "";
  return bearers[0]!.slice(prefix.length);
}
