/**
 * A frame over the server's 16 MiB message limit, in a replay and in an eval run: the client
 * does not send it (the server would close the socket), it gets a clear error of its own
 * (`INVALID_FRAME`), and the frames around it run on the same session.
 */
import assert from "node:assert/strict";
import { ProactiveClient } from "../../src/client/client.ts";
import { buildModel, sessionLimits } from "../../src/compose.ts";
import { loadAnalysisConfig } from "../../src/config.ts";
import type { EvalCase } from "../../src/eval/cases.ts";
import { buildProvider, runProvider } from "../../src/eval/run.ts";
import { silentLogger } from "../../src/log.ts";
import { startLocalServer } from "../../src/replay/local_server.ts";
import { replayFrames } from "../../src/replay/replay.ts";
import { TaskStore } from "../../src/replay/task_store.ts";

const HUGE = "a".repeat(16 * 1024 * 1024 + 1024);
const TOO_LARGE =
  /^Cannot send the frame: it is larger than the 16777216 bytes the server accepts$/;

function fields(id: string, ocr: string) {
  return { screenshot_id: id, app_name: "Notes", window_title: "n", ocr_text: ocr };
}

Deno.test("replay: an oversize frame gets its own clear error; the others run", async () => {
  const config = loadAnalysisConfig({ MODEL_PROVIDER: "offline" });
  await using server = startLocalServer({
    model: buildModel(config, silentLogger),
    limits: sessionLimits(config),
  });
  await using client = await ProactiveClient.connect({ url: server.url, appVersion: "test" });
  const store = TaskStore.open({});
  try {
    const rows = await replayFrames({
      frames: [
        { name: "01", fields: fields("01", "Lunch at noon") },
        { name: "02_huge", fields: fields("02", HUGE) },
        { name: "03", fields: fields("03", "Coffee later") },
      ],
      client,
      store,
    });
    assert.deepEqual(rows.map((r) => r.outcome), [
      "no_task_found",
      "INVALID_FRAME",
      "no_task_found",
    ]);
    assert.match(rows[1]!.detail, TOO_LARGE);
    assert.equal(client.closed, false);
  } finally {
    store.close();
  }
});

Deno.test("eval: an oversize case gets its own clear error; the others run", async () => {
  const provider = await buildProvider("offline", {});
  const c = (id: string, ocr: string, line: number): EvalCase => ({
    id,
    expect: "no_task_found",
    frame: fields(id, ocr),
    context: {},
    file: "cases.jsonl",
    line,
  });
  const results = await runProvider({
    provider,
    cases: [c("a", "Lunch at noon", 1), c("huge", HUGE, 2), c("b", "Coffee later", 3)],
    concurrency: 1,
  });
  assert.deepEqual(results.map((r) => r.got), [
    "no_task_found",
    "INVALID_FRAME",
    "no_task_found",
  ]);
  assert.match(results[1]!.detail, TOO_LARGE);
});
