/**
 * What every provider puts on the wire the same way: the answer to a parallel function call
 * that was not run, and the request body with the screenshot spliced in as bytes (providers
 * give their SDK a short token in place of the base64 image, so the image never goes through
 * the SDK's `JSON.stringify` nor a second UTF-8 encoding).
 *
 * @module
 */

/** The answer to a parallel function call we did not run: only a turn's first call runs. */
export const NOT_RUN = "Not run: only the first function call of a turn is executed. Call it " +
  "again if you still need it.";

const utf8 = new TextEncoder();

/**
 * `body` with `body[at, end)` (the token, inside a JSON string) replaced by `image`, as bytes.
 * A base64 image (ASCII, no `"`, no `\`) is encoded straight into the buffer; anything else is
 * escaped as `JSON.stringify` escapes it, so a hostile "image" cannot end the string and
 * write fields of its own. (An ASCII control character is left as it is: the body is then
 * not JSON and the API refuses it, as it refuses any image that is not base64; it cannot
 * change what the body says.)
 */
export function spliceImage(
  body: string,
  at: number,
  end: number,
  image: string,
): Uint8Array<ArrayBuffer> {
  const before = utf8.encode(body.slice(0, at));
  const after = utf8.encode(body.slice(end));
  if (image.indexOf('"') < 0 && image.indexOf("\\") < 0) {
    const out = new Uint8Array(before.length + image.length + after.length);
    const stop = before.length + image.length;
    const { read, written } = utf8.encodeInto(image, out.subarray(before.length, stop));
    if (read === image.length && written === image.length) {
      out.set(before);
      out.set(after, stop);
      return out;
    }
  }
  const escaped = utf8.encode(JSON.stringify(image).slice(1, -1));
  const out = new Uint8Array(before.length + escaped.length + after.length);
  out.set(before);
  out.set(escaped, before.length);
  out.set(after, before.length + escaped.length);
  return out;
}

/**
 * Largest model response body read, in bytes. A real answer (a function call, a few usage
 * counts) is a few kilobytes; a reply that goes on past this is unreadable, not a reason to
 * hold the process's memory.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** A response body that went past the cap: the reply is unreadable (`BAD_RESPONSE`). */
export class ResponseTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`Response body is over ${limit} bytes`);
    this.name = "ResponseTooLarge";
  }
}

/** Whether `err`, or an error it was caused by, is a {@link ResponseTooLarge}. */
export function isResponseTooLarge(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof ResponseTooLarge) return true;
  }
  return false;
}

/**
 * `response` with a body that cannot be read past `limit` bytes. A declared length over it
 * fails at once (the body is cancelled unread). A declared length within it, on a body sent
 * as it is (no `content-encoding`), is returned untouched: the HTTP client delivers no more
 * than the declared bytes (HTTP/1.1 stops there, HTTP/2 fails a stream that sends more). Any
 * other body (chunked, or compressed, which Deno's fetch inflates past its declared length)
 * is read here and fails with a {@link ResponseTooLarge} at the first chunk past the cap,
 * which cancels the connection.
 */
export async function capResponse(
  response: Response,
  limit = MAX_RESPONSE_BYTES,
): Promise<Response> {
  const body = response.body;
  if (body === null) return response;
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    body.cancel().catch(() => {});
    throw new ResponseTooLarge(limit);
  }
  const encoding = response.headers.get("content-encoding");
  if (Number.isFinite(declared) && (encoding === null || encoding === "identity")) {
    return response;
  }
  const reader = body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let seen = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    seen += value.byteLength;
    if (seen > limit) {
      reader.cancel().catch(() => {});
      throw new ResponseTooLarge(limit);
    }
    chunks.push(value);
  }
  // The bytes as read: no longer the length nor the encoding the server declared.
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  headers.delete("content-encoding");
  return new Response(new Blob(chunks), {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/**
 * Most tokens one call is believed to use: above the largest context window offered, so a
 * server that reports more is wrong, and its number must not take a user's whole budget.
 */
const MAX_TOKENS_PER_CALL = 10_000_000;

/**
 * A token count a server reported, made safe to add and to bill: a whole number from 0 to
 * {@link MAX_TOKENS_PER_CALL}; anything that is no finite positive number (a string, a
 * negative, `NaN`) is 0.
 */
export function tokenCount(value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) return 0;
  return Math.min(MAX_TOKENS_PER_CALL, Math.round(value));
}
