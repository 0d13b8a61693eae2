/**
 * Replays frames through a server, one at a time, with the local task store standing in for
 * the desktop: its searches answer the server's tool calls, its active tasks are the session
 * context, and every extracted task is stored so later frames dedupe against it.
 *
 * @module
 */
import type { ProactiveClient } from "../client/client.ts";
import { ClientError } from "../client/errors.ts";
import type { ReplayFrame } from "./frames.ts";
import type { ReplayRow } from "./report.ts";
import type { TaskStore } from "./task_store.ts";

/** Options of {@link replayFrames}. */
export interface ReplayOptions {
  frames: readonly ReplayFrame[];
  /** A connected client; the replay does not close it. */
  client: ProactiveClient;
  store: TaskStore;
  /** Before each frame is sent. */
  onFrameStart?: (frame: ReplayFrame, index: number, total: number) => void;
  /** After each frame's terminal message (or client error). */
  onFrameDone?: (row: ReplayRow, total: number) => void;
  /** Stops the replay between frames and aborts the frame in flight. */
  signal?: AbortSignal;
}

/**
 * Sends every frame and returns one row per frame. A frame the client could not get answered
 * (a dropped socket) becomes a row with the client's error code; a client that is closed for
 * good (reconnects exhausted, aborted) ends the replay by throwing its `ClientError`.
 */
export async function replayFrames(options: ReplayOptions): Promise<ReplayRow[]> {
  const { frames, client, store, signal } = options;
  const rows: ReplayRow[] = [];
  let contextRevision = -1;
  for (const [i, frame] of frames.entries()) {
    signal?.throwIfAborted();
    if (store.revision !== contextRevision) {
      contextRevision = store.revision;
      client.updateContext({ active_tasks: store.activeTasks() }, `store-${contextRevision}`);
    }
    options.onFrameStart?.(frame, i, frames.length);
    const started = performance.now();
    const row: ReplayRow = {
      index: i + 1,
      name: frame.name,
      app: frame.fields.app_name ?? "",
      outcome: "",
      detail: "",
      ms: 0,
    };
    try {
      const terminal = await client.analyzeFrame(frame.fields, {
        ...(signal ? { signal } : {}),
        onToolCall: (request) => store.search(request.tool_kind, request.query),
      });
      row.ms = performance.now() - started;
      if (terminal.type === "server_error") {
        row.outcome = terminal.code;
        row.detail = terminal.message;
      } else {
        row.outcome = terminal.outcome_kind;
        row.usage = terminal.usage;
        switch (terminal.outcome_kind) {
          case "extract_task":
            row.detail = terminal.task.title;
            store.add({
              description: terminal.task.title,
              details: terminal.task.description,
              priority: terminal.task.priority,
              relevanceScore: terminal.task.relevance_score,
              sourceApp: terminal.task.source_app,
              deadline: terminal.task.inferred_deadline,
            });
            break;
          case "reject_task":
            row.detail = terminal.reason;
            break;
          case "no_task_found":
            row.detail = terminal.context_summary;
            break;
        }
      }
    } catch (err) {
      if (!(err instanceof ClientError) || client.closed || signal?.aborted) throw err;
      row.ms = performance.now() - started;
      row.outcome = err.code;
      row.detail = err.message;
    }
    rows.push(row);
    options.onFrameDone?.(row, frames.length);
  }
  return rows;
}
