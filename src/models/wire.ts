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
