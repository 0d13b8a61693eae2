/**
 * A workaround for a stall of Deno's own WebSocket client.
 *
 * Deno's client (Deno 2.9.6, `WebSocket` and `WebSocketStream`, `ws:` and `wss:`) writes a
 * frame's header and its payload in two writes on a socket without `TCP_NODELAY`. A payload
 * of 1025 bytes up to one TCP segment is then held back by Nagle's algorithm until the
 * server's delayed ACK of the header, about 40 ms later: measured 44 ms per message, against
 * ~0.1 ms below and above that window. On loopback a segment is 65 483 bytes, so every message
 * of 1–64 KB stalls; on an MTU-1500 path (measured over a veth pair) only 1025–1447 bytes do.
 * Node's WebSocket (undici) and Deno's server side do not stall.
 *
 * JSON allows trailing whitespace, so a message in the window is padded with spaces to
 * {@link PAD_TO_BYTES}: a payload of at least a full segment leaves at once. Every JSON
 * server (ours, the reference Python one) parses the padded text unchanged. It costs up to
 * 64× the bytes, which is free on loopback and not elsewhere, so by default the client pads
 * only from Deno to a loopback host ({@link shouldPadMessages}), and never past the largest
 * message the server accepts (a smaller limit would not leave room for a full segment).
 *
 * @module
 */

/** Payloads up to this many bytes go out in one write and never stall. */
export const UNPADDED_MAX_BYTES = 1024;
/** Padded size: at least one full loopback TCP segment (MTU 65 536). */
export const PAD_TO_BYTES = 65_536;

/** Whether `hostname` (as `URL.hostname` spells it) is loopback: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === "localhost" || host === "localhost.") return true;
  // WHATWG URL writes IPv4 as four decimals and IPv6 compressed, in brackets.
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  if (host === "[::1]") return true;
  // IPv4-mapped 127.x.y.z: ::ffff:7fxx:yyzz.
  return /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}

/**
 * Whether a client should pad its messages: `padMessages` when given, otherwise only in Deno
 * and only towards a loopback host, where the stall is and the bytes cost nothing. `true`
 * is for a name the client cannot tell is loopback (an `/etc/hosts` alias).
 */
export function shouldPadMessages(
  url: string | URL,
  padMessages: boolean | undefined,
  deno: boolean = runtimeIsDeno(),
): boolean {
  if (padMessages !== undefined) return padMessages;
  if (!deno) return false;
  try {
    return isLoopbackHost(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** Whether this runtime is Deno, read from the standard `navigator.userAgent`. */
export function runtimeIsDeno(): boolean {
  const agent = (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent;
  return typeof agent === "string" && agent.startsWith("Deno/");
}

/** UTF-8 length of `text` without encoding it. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * `json` padded with trailing spaces to {@link PAD_TO_BYTES} when its UTF-8 size lies in the
 * stalling window and the padded message fits `maxMessageBytes`; otherwise `json` itself.
 */
export function padJson(json: string, maxMessageBytes: number = Infinity): string {
  if (maxMessageBytes < PAD_TO_BYTES) return json;
  // Cheap bounds first: a UTF-16 unit is 1–3 UTF-8 bytes.
  if (json.length * 3 <= UNPADDED_MAX_BYTES || json.length >= PAD_TO_BYTES) return json;
  const bytes = utf8Length(json);
  if (bytes <= UNPADDED_MAX_BYTES || bytes >= PAD_TO_BYTES) return json;
  return json + " ".repeat(PAD_TO_BYTES - bytes);
}
