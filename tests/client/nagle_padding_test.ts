import assert from "node:assert/strict";
import {
  isLoopbackHost,
  PAD_TO_BYTES,
  padJson,
  runtimeIsDeno,
  shouldPadMessages,
  UNPADDED_MAX_BYTES,
  utf8Length,
} from "../../src/client/nagle_padding.ts";

const bytes = (text: string) => new TextEncoder().encode(text).length;
const json = (size: number) => JSON.stringify({ t: "x".repeat(size - 8) });

Deno.test("utf8Length() matches TextEncoder", async (t) => {
  for (
    const text of ["", "abc", "é", "€uro", "😀 emoji", "\ud800 lone surrogate", "日本語テキスト"]
  ) {
    await t.step(JSON.stringify(text), () => assert.equal(utf8Length(text), bytes(text)));
  }
});

Deno.test("padJson() pads only the sizes that stall Deno's client", async (t) => {
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

Deno.test("padJson() never pads past maxMessageBytes", async (t) => {
  // Padding to less than one loopback segment would not avoid the stall: it is all or nothing.
  const table: Array<[limit: number, padded: boolean]> = [
    [16 * 1024 * 1024, true],
    [PAD_TO_BYTES, true],
    [PAD_TO_BYTES - 1, false],
    [32_768, false],
    [4_096, false],
  ];
  for (const [limit, padded] of table) {
    await t.step(`a 4 000-byte message under a ${limit}-byte limit`, () => {
      const out = padJson(json(4_000), limit);
      assert.equal(bytes(out), padded ? PAD_TO_BYTES : 4_000);
      assert.ok(bytes(out) <= limit || !padded);
    });
  }
});

Deno.test("isLoopbackHost() knows 127.0.0.0/8, ::1 and localhost", async (t) => {
  const table: Array<[host: string, loopback: boolean]> = [
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["127.255.255.254", true],
    ["[::1]", true],
    ["[0:0:0:0:0:0:0:1]", true],
    ["[::ffff:127.0.0.1]", true],
    ["localhost", true],
    ["LocalHost", true],
    ["localhost.", true],
    ["192.0.2.2", false],
    ["10.0.0.1", false],
    ["128.0.0.1", false],
    ["0.0.0.0", false],
    ["[::]", false],
    ["[fe80::1]", false],
    ["[::ffff:10.0.0.1]", false],
    ["127.example.com", false],
    ["localhost.example.com", false],
    ["proactive.example.com", false],
  ];
  for (const [host, loopback] of table) {
    await t.step(`${host} → ${loopback}`, () => {
      assert.equal(isLoopbackHost(new URL(`ws://${host}:8080/v1/proactive`).hostname), loopback);
    });
  }
});

Deno.test("shouldPadMessages() pads by default only from Deno to a loopback host", async (t) => {
  const table: Array<[url: string, option: boolean | undefined, deno: boolean, pad: boolean]> = [
    ["ws://127.0.0.1:8080/v1/proactive", undefined, true, true],
    ["ws://localhost:8080/v1/proactive", undefined, true, true],
    ["wss://[::1]:8443/v1/proactive", undefined, true, true],
    ["wss://proactive.example.com/v1/proactive", undefined, true, false],
    ["ws://192.0.2.2:8080/v1/proactive", undefined, true, false],
    ["ws://127.0.0.1:8080/v1/proactive", undefined, false, false],
    ["ws://127.0.0.1:8080/v1/proactive", false, true, false],
    // An explicit true is for a name the client cannot tell is loopback (/etc/hosts).
    ["ws://devbox:8080/v1/proactive", true, true, true],
  ];
  for (const [url, option, deno, pad] of table) {
    await t.step(`${url}, padMessages ${option}, ${deno ? "Deno" : "not Deno"} → ${pad}`, () => {
      assert.equal(shouldPadMessages(url, option, deno), pad);
    });
  }
});

Deno.test("runtimeIsDeno() reads navigator.userAgent", () => {
  assert.equal(runtimeIsDeno(), true);
});
