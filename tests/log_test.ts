import assert from "node:assert/strict";
import { createLogger, truncateUserId } from "../src/log.ts";

Deno.test("logger writes JSON lines at or above its level", () => {
  const lines: string[] = [];
  const log = createLogger({
    level: "info",
    sink: (line) => lines.push(line),
    now: () => new Date("2026-11-25T10:00:00Z"),
  });
  log.debug("hidden");
  log.child({ session: "s1" }).info("frame done", { outcome: "extract_task", ms: 12 });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: "2026-11-25T10:00:00.000Z",
    level: "info",
    msg: "frame done",
    session: "s1",
    outcome: "extract_task",
    ms: 12,
  });
});

Deno.test("logger redacts secrets and user content, truncates user ids", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", sink: (line) => lines.push(line) });
  log.child({ uid: "abcdefghijklmnopqrstuvwxyz" }).info("x", {
    token: "eyJhbGciOi.secret.sig",
    api_key: "AIzaSECRET",
    ocr_text: "my bank password",
    title: "Pay rent",
  });
  const line = lines[0]!;
  for (const secret of ["eyJhbGciOi", "AIzaSECRET", "bank password", "Pay rent", "ijklmnop"]) {
    assert.ok(!line.includes(secret), secret);
  }
  assert.equal(JSON.parse(line).uid, "abcdefgh…");
  assert.equal(truncateUserId("short"), "short");
});
