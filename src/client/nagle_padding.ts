/**
 * A workaround for a stall of Deno's own WebSocket client.
 *
 * Deno's client (Deno 2.9, `WebSocket` and `WebSocketStream`, `ws:` and `wss:`) writes a
 * frame's header and its payload in two writes on a socket without `TCP_NODELAY`. A payload
 * of 1025 bytes up to one TCP segment (65 483 bytes on loopback) is then held back by Nagle's
 * algorithm until the server's delayed ACK of the header, about 40 ms later: measured ~44 ms
 * per message on loopback, against ~0.1–0.3 ms below and above that window. Node's WebSocket
 * (undici) and Deno's server side do not stall.
 *
 * JSON allows trailing whitespace, so a message in the window is padded with spaces to
 * {@link PAD_TO_BYTES}: a payload of at least a full segment leaves at once. Every JSON
 * server (ours, the reference Python one) parses the padded text unchanged.
 *
 * @module
 */

/** Payloads up to this many bytes go out in one write and never stall. */
export const UNPADDED_MAX_BYTES = 1024;
/** Padded size: at least one full loopback TCP segment (MTU 65 536). */
export const PAD_TO_BYTES = 65_536;

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
 * stalling window; otherwise `json` itself.
 */
export function padJson(json: string): string {
  // Cheap bounds first: a UTF-16 unit is 1–3 UTF-8 bytes.
  if (json.length * 3 <= UNPADDED_MAX_BYTES || json.length >= PAD_TO_BYTES) return json;
  const bytes = utf8Length(json);
  if (bytes <= UNPADDED_MAX_BYTES || bytes >= PAD_TO_BYTES) return json;
  return json + " ".repeat(PAD_TO_BYTES - bytes);
}
