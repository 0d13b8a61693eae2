/**
 * The `screen_hash` run of the bundled client in the browser, for `bundle_test.ts` (served by
 * `bundle_browser.ts`): the client must hash screenshots from their pixels, so a re-encoded,
 * slightly changed JPEG (other bytes, the same picture to the eye) counts as unchanged.
 *
 * Sessions, each to a server that skips unchanged screens, all frames with the same text:
 * - `hashed`: the sample JPEG `a`; `a2`, `a` drawn on a canvas with a few pixels changed and
 *   re-encoded (`canvas.toBlob`); `b`, another sample; recording what the socket sent;
 * - `unhashed` (`screenHash: false`): `a`, then `a2`: without hashes, different bytes are a
 *   different screen, so a skip in `hashed` can only come from the hashes;
 * - `v10` (`protocolVersion: "1.0"`): `a` and `a2`; what the socket sent.
 *
 * Plain JavaScript, run as is by the page.
 */

const TEXT = { app_name: "Mail", window_title: "Inbox", ocr_text: "Inbox: nothing new today" };

/** Base64 of bytes. */
function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The bytes at `url`. */
async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** `jpeg` decoded, with a few pixels changed, encoded again as a JPEG. */
async function retouched(jpeg) {
  const bitmap = await createImageBitmap(new Blob([jpeg], { type: "image/jpeg" }));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  // A text cursor and a stray dot: what changes between two captures of an idle screen.
  context.fillStyle = "#000";
  context.fillRect(Math.floor(canvas.width / 2), Math.floor(canvas.height / 3), 1, 12);
  context.fillRect(10, canvas.height - 10, 2, 2);
  const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.8 });
  return new Uint8Array(await blob.arrayBuffer());
}

/** A WebSocket that keeps every text it sends. */
function recordingWebSocket(sent) {
  return class extends WebSocket {
    send(data) {
      sent.push(String(data));
      super.send(data);
    }
  };
}

/** One session: sends `images` in order (same text) and reports what went out and came back. */
async function session(client, url, images, options = {}) {
  const sent = [];
  const connection = await client.ProactiveClient.connect({
    url,
    reconnect: false,
    handshakeTimeoutMs: 15_000,
    WebSocket: recordingWebSocket(sent),
    ...options,
  });
  try {
    const frames = [];
    for (const [name, jpeg] of images) {
      const terminal = await connection.analyzeFrame(
        { ...TEXT, screenshot_id: name, jpeg_base64: jpeg },
        { timeoutMs: 30_000, onToolCall: () => [] },
      );
      const message = sent.map((text) => JSON.parse(text)).findLast((m) =>
        m.type === "frame_event"
      );
      frames.push({
        name,
        type: terminal.type,
        skipped: terminal.usage?.skipped ?? null,
        sentHash: message && "screen_hash" in message ? message.screen_hash : "(absent)",
      });
    }
    return { protocolVersion: connection.session?.protocol_version, frames };
  } finally {
    await connection.close();
  }
}

/**
 * Runs the sessions against the server at `url` with the bundle's exports `client`.
 * @param {{ ProactiveClient: any }} client
 * @param {string} url
 */
export async function screenHashRun(client, url) {
  try {
    const a = await fetchBytes("/samples/01_slack_q3_report.jpg");
    const b = await fetchBytes("/samples/04_github_review_request.jpg");
    const a2 = await retouched(a);
    const images = { a: base64(a), a2: base64(a2), b: base64(b) };
    return {
      ok: true,
      bytesDiffer: images.a !== images.a2,
      hashed: await session(client, url, [["a", images.a], ["a2", images.a2], ["b", images.b]]),
      unhashed: await session(client, url, [["a", images.a], ["a2", images.a2]], {
        screenHash: false,
      }),
      v10: await session(client, url, [["a", images.a], ["a2", images.a2]], {
        protocolVersion: "1.0",
      }),
    };
  } catch (err) {
    return { ok: false, name: err?.name, message: String(err?.message ?? err) };
  }
}
