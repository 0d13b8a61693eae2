import assert from "node:assert/strict";
import {
  PAD_TO_BYTES,
  padJson,
  runtimeIsDeno,
  UNPADDED_MAX_BYTES,
  utf8Length,
} from "../../src/client/nagle_padding.ts";

const bytes = (text: string) => new TextEncoder().encode(text).length;

Deno.test("utf8Length() matches TextEncoder", async (t) => {
  for (
    const text of ["", "abc", "é", "€uro", "😀 emoji", "\ud800 lone surrogate", "日本語テキスト"]
  ) {
    await t.step(JSON.stringify(text), () => assert.equal(utf8Length(text), bytes(text)));
  }
});

Deno.test("padJson() pads only the sizes that stall Deno's client", async (t) => {
  const json = (size: number) => JSON.stringify({ t: "x".repeat(size - 8) });
  const table: Array<[size: number, padded: boolean]> = [
    [100, false],
    [UNPADDED_MAX_BYTES, false],
    [UNPADDED_MAX_BYTES + 1, true],
    [4_096, true],
    [65_482, true],
    [PAD_TO_BYTES, false],
    [200_000, false],
  ];
  for (const [size, padded] of table) {
    await t.step(`${size} bytes → ${padded ? "padded" : "as is"}`, () => {
      const text = json(size);
      assert.equal(bytes(text), size);
      const out = padJson(text);
      assert.equal(bytes(out), padded ? PAD_TO_BYTES : size);
      assert.deepEqual(JSON.parse(out), JSON.parse(text));
    });
  }

  await t.step("counts UTF-8 bytes, not UTF-16 units", () => {
    const text = JSON.stringify({ t: "€".repeat(400) }); // 408 units, 1208 bytes
    assert.equal(bytes(padJson(text)), PAD_TO_BYTES);
  });
});

Deno.test("runtimeIsDeno() reads navigator.userAgent", () => {
  assert.equal(runtimeIsDeno(), true);
});
