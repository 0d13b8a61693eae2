import assert from "node:assert/strict";
import { coerceExtractedTask, coerceString } from "../../src/analysis/model.ts";
import { buildFramePromptParts, PROMPT_LIMITS } from "../../src/analysis/prompt.ts";
import { MAX_TEXT_CHARS } from "../../src/models/offline.ts";
import { FRAME_TEXT_CHARS, headOf } from "../../src/protocol/text.ts";

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

Deno.test("headOf() never cuts a surrogate pair in two", () => {
  assert.equal(headOf("abc", 5), "abc");
  assert.equal(headOf("abcdef", 3), "abc");
  assert.equal(headOf("ab😀cd", 3), "ab", "the cut fell inside the emoji: it goes whole");
  assert.equal(headOf("ab😀cd", 4), "ab😀");
  assert.equal(headOf("abc", 0), "");
});

Deno.test("strings sent to clients hold no lone surrogates, and are bounded", () => {
  for (let n = 190; n < 200; n++) {
    const cut = coerceString(`${"a".repeat(n)}😀😀😀😀😀 tail`, 200);
    assert.ok(cut.length <= 200);
    assert.doesNotMatch(cut, LONE, `cut after ${n} characters`);
  }
  assert.equal(coerceString("x\ud800y", 10), "x\ufffdy");
  const task = coerceExtractedTask({ title: "Pay" }, {
    frameId: "1",
    appName: `  ${"b".repeat(100_000)}  `,
    windowTitle: "",
    ocrText: "",
  });
  assert.ok(task);
  assert.ok(task.source_app.length <= 300, `source_app of ${task.source_app.length}`);
  assert.ok(task.source_app.startsWith("b"));
});

Deno.test("a frame's text is cut on arrival to more than any model reads", () => {
  assert.ok(FRAME_TEXT_CHARS.ocr >= PROMPT_LIMITS.ocrChars);
  assert.ok(FRAME_TEXT_CHARS.ocr >= MAX_TEXT_CHARS);
  assert.ok(FRAME_TEXT_CHARS.title >= PROMPT_LIMITS.titleChars);
  assert.ok(FRAME_TEXT_CHARS.app >= PROMPT_LIMITS.appChars);
  // The prompt's own cut keeps pairs whole too.
  const ocrText = `${"o".repeat(PROMPT_LIMITS.ocrChars - 1)}😀 and more`;
  const prompt = buildFramePromptParts({
    frame: { frameId: "1", appName: "Notes", windowTitle: "", ocrText },
    context: {},
    today: "2026-12-03",
  });
  assert.doesNotMatch(prompt.frame, LONE);
  assert.match(prompt.frame, /\[text cut\]/);
});
