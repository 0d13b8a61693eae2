/**
 * The smoke run of the bundled client (`dist/client.js`), shared by the Node runner and the
 * browser page of `bundle_test.ts`: connect, analyse one frame (answering its searches with
 * no hits), close, and report what happened as a plain, JSON-safe object. Plain JavaScript:
 * it runs as is in Node and in the browser.
 */

/** The frame of the README's example: the offline model extracts a task from it. */
const FRAME = {
  app_name: "Slack",
  window_title: "#team",
  ocr_text: "Sarah: Can you send me the Q3 report by Friday?",
};

/**
 * Runs the client module `client` (the bundle's exports) against the server at `url`.
 * @param {{ ProactiveClient: any }} client
 * @param {string} url
 */
export async function smoke(client, url) {
  try {
    const connection = await client.ProactiveClient.connect({
      url,
      reconnect: false,
      handshakeTimeoutMs: 15_000,
    });
    try {
      const searches = [];
      const terminal = await connection.analyzeFrame(FRAME, {
        timeoutMs: 30_000,
        onToolCall: (request) => {
          searches.push(request.tool_kind);
          return [];
        },
      });
      return {
        ok: true,
        protocolVersion: connection.session?.protocol_version,
        searches,
        type: terminal.type,
        outcomeKind: terminal.outcome_kind,
        title: terminal.task?.title,
      };
    } finally {
      await connection.close();
    }
  } catch (err) {
    return {
      ok: false,
      name: err?.name,
      code: err?.code,
      message: String(err?.message ?? err),
    };
  }
}
