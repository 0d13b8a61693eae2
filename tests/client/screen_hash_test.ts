/**
 * The v1.1 `screen_hash` (src/client/screen_hash.ts): the pure dHash on grayscale pixels, the
 * browser path (decode, scale, read back) against a fake canvas, since Deno has none, and how
 * `ProactiveClient` sends it: only computed where there is a canvas, only on a 1.1 session,
 * never failing or holding a frame. `bundle_test.ts` runs the real thing in Chromium.
 */
import assert from "node:assert/strict";
import { ProactiveClient, SCREEN_HASH_WAIT_MS } from "../../src/client/client.ts";
import {
  canComputeScreenHash,
  computeScreenHash,
  differenceHash,
  luma,
  screenHashDistance,
} from "../../src/client/screen_hash.ts";
import { ScriptedServer } from "./scripted_server.ts";
import { mulberry32 } from "../../scripts/random.ts";

const HEX_64 = /^[0-9a-f]{16}$/;

/** A desktop-like grayscale screen: a light background, panels, and lines of "text". */
function screen(seed: number, width = 576, height = 320): Float32Array {
  const random = mulberry32(seed);
  const gray = new Float32Array(width * height).fill(236);
  const fill = (x0: number, y0: number, w: number, h: number, level: number) => {
    for (let y = y0; y < Math.min(height, y0 + h); y++) {
      gray.fill(level, y * width + x0, y * width + Math.min(width, x0 + w));
    }
  };
  for (let i = 0; i < 12; i++) {
    const w = Math.floor(width * (0.1 + random() * 0.4));
    const h = Math.floor(height * (0.1 + random() * 0.4));
    const x = Math.floor(random() * (width - w));
    const y = Math.floor(random() * (height - h));
    fill(x, y, w, h, 20 + Math.floor(random() * 200));
    // A few lines of text in the panel.
    for (let line = y + 4; line + 3 < y + h; line += 9) {
      for (let word = x + 4; word + 10 < x + w; word += 8 + Math.floor(random() * 20)) {
        fill(word, line, 4 + Math.floor(random() * 12), 3, Math.floor(random() * 60));
      }
    }
  }
  return gray;
}

/** A `width × height` image whose every pixel is `f(x, y)`. */
function image(width: number, height: number, f: (x: number, y: number) => number): Float32Array {
  const gray = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) gray[y * width + x] = f(x, y);
  return gray;
}

Deno.test("differenceHash()", async (t) => {
  const W = 576;
  const H = 320;
  const base = screen(1);
  const hash = differenceHash(base, W, H);

  await t.step("is 16 lowercase hex characters, the same for the same pixels", () => {
    assert.match(hash, HEX_64);
    assert.equal(differenceHash(screen(1), W, H), hash);
    assert.equal(differenceHash(Array.from(base), W, H), hash, "any ArrayLike of numbers");
    for (let seed = 2; seed < 12; seed++) assert.match(differenceHash(screen(seed), W, H), HEX_64);
  });

  await t.step("a few changed pixels stay within 4 bits", () => {
    const random = mulberry32(99);
    const dotted = base.slice();
    for (let i = 0; i < 40; i++) dotted[Math.floor(random() * dotted.length)] = 0;
    assert.ok(screenHashDistance(hash, differenceHash(dotted, W, H)) <= 4);

    // A text cursor (2 × 16 black pixels) in the middle of the screen.
    const cursor = base.slice();
    for (let y = 150; y < 166; y++) cursor.fill(0, y * W + 300, y * W + 302);
    assert.notDeepEqual(cursor, base);
    assert.ok(screenHashDistance(hash, differenceHash(cursor, W, H)) <= 4);
  });

  await t.step("a slight brightness change or noise stays within 4 bits", () => {
    const brighter = base.map((v) => Math.min(255, v + 4));
    assert.ok(screenHashDistance(hash, differenceHash(brighter, W, H)) <= 4);
    const darker = base.map((v) => Math.max(0, v - 3));
    assert.ok(screenHashDistance(hash, differenceHash(darker, W, H)) <= 4);
    const random = mulberry32(7);
    const noisy = base.map((v) => Math.min(255, Math.max(0, v + Math.round(random() * 6 - 3))));
    assert.ok(screenHashDistance(hash, differenceHash(noisy, W, H)) <= 4);
  });

  await t.step("a different screen is far more than 4 bits away", () => {
    for (let seed = 2; seed < 12; seed++) {
      const distance = screenHashDistance(hash, differenceHash(screen(seed), W, H));
      assert.ok(distance >= 12, `screen ${seed} is only ${distance} bits away`);
    }
    const mirrored = image(W, H, (x, y) => base[y * W + (W - 1 - x)]!);
    assert.ok(screenHashDistance(hash, differenceHash(mirrored, W, H)) >= 12);
  });

  await t.step("bit 8·r + c, most significant first, is cell (r, c+1) > cell (r, c)", () => {
    assert.equal(differenceHash(image(9, 8, (x) => x * 10), 9, 8), "ffffffffffffffff");
    assert.equal(differenceHash(image(9, 8, (x) => 200 - x * 10), 9, 8), "0000000000000000");
    assert.equal(differenceHash(image(9, 8, () => 128), 9, 8), "0000000000000000");
    assert.equal(differenceHash(image(9, 8, (x) => (x === 0 ? 0 : 50)), 9, 8), "8080808080808080");
    assert.equal(
      differenceHash(image(9, 8, (x, y) => (y === 0 ? x : 0)), 9, 8),
      "ff00000000000000",
    );
    assert.equal(
      differenceHash(image(9, 8, (x, y) => (y === 7 ? x : 0)), 9, 8),
      "00000000000000ff",
    );
    assert.equal(
      differenceHash(image(9, 8, (x, y) => (y === 3 && x === 8 ? 1 : 0)), 9, 8),
      "0000000100000000",
    );
  });

  await t.step("averages larger images into 9 × 8 cells", () => {
    const grid = image(9, 8, (x, y) => (x * 37 + y * 91) % 256);
    const gridHash = differenceHash(grid, 9, 8);
    assert.equal(
      differenceHash(
        image(63, 40, (x, y) => grid[Math.floor(y / 5) * 9 + Math.floor(x / 7)]!),
        63,
        40,
      ),
      gridHash,
    );
    // Whole levels: a change of less than half a level in a flat cell changes nothing.
    const flat = image(90, 80, () => 200);
    flat[45 * 90 + 45] = 160; // the cell's mean (100 pixels) drops by 0.4 levels
    assert.equal(differenceHash(flat, 90, 80), "0000000000000000");
    flat[45 * 90 + 46] = 140; // and by 1 more: the cell is darker than the next one
    assert.equal(differenceHash(flat, 90, 80), "0000000008000000");
  });

  await t.step("rejects images smaller than 9 × 8 or too few values", () => {
    assert.throws(() => differenceHash(new Float32Array(64), 8, 8), RangeError);
    assert.throws(() => differenceHash(new Float32Array(72), 9, 7), RangeError);
    assert.throws(() => differenceHash(new Float32Array(71), 9, 8), RangeError);
    assert.throws(() => differenceHash(new Float32Array(72), 9.5, 8), RangeError);
  });
});

Deno.test("screenHashDistance() counts differing bits", () => {
  assert.equal(screenHashDistance("0123456789abcdef", "0123456789abcdef"), 0);
  assert.equal(screenHashDistance("0000000000000000", "ffffffffffffffff"), 64);
  assert.equal(screenHashDistance("0000000000000000", "0000000000000001"), 1);
  assert.equal(screenHashDistance("8000000000000000", "0000000000000000"), 1);
  assert.equal(screenHashDistance("00000000f0000000", "0000000000000000"), 4);
  assert.equal(screenHashDistance("ABCDEF0123456789", "abcdef0123456789"), 0);
  assert.throws(() => screenHashDistance("abc", "0000000000000000"), RangeError);
  assert.throws(() => screenHashDistance("000000000000000g", "0000000000000000"), RangeError);
});

Deno.test("luma() is BT.601 of RGBA, alpha ignored", () => {
  const gray = luma([255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 10, 100, 100, 100, 255]);
  assert.equal(gray.length, 4);
  assert.ok(Math.abs(gray[0]! - 76.245) < 1e-3);
  assert.ok(Math.abs(gray[1]! - 149.685) < 1e-3);
  assert.ok(Math.abs(gray[2]! - 29.07) < 1e-3);
  assert.ok(Math.abs(gray[3]! - 100) < 1e-3);
});

// ---------------------------------------------------------------------------------------
// A fake browser: Deno has `createImageBitmap` but no canvas.

const SCALED = { width: 72, height: 64 };

interface FakeBitmap {
  /** Sum of the "JPEG" bytes: which screen the fake decoder shows. */
  seed: number;
  closed: boolean;
}

/** The RGBA pixels the fake canvas shows for a bitmap: a gray screen of its seed. */
function fakePixels(seed: number): Uint8ClampedArray {
  const gray = screen(seed, SCALED.width, SCALED.height);
  const rgba = new Uint8ClampedArray(gray.length * 4);
  gray.forEach((v, i) => rgba.set([v, v, v, 255], i * 4));
  return rgba;
}

/** The hash the fake browser must produce for `jpegBase64`. */
function expectedHash(jpegBase64: string): string {
  const seed = [...atob(jpegBase64)].reduce((sum, c) => sum + c.charCodeAt(0), 0);
  return differenceHash(luma(fakePixels(seed)), SCALED.width, SCALED.height);
}

interface FakeBrowserOptions {
  /** What decoding does instead of showing the bytes' screen. */
  decode?: "fail" | "hang";
  /** `getContext("2d")` returns null. */
  noContext?: boolean;
}

/** Installs `createImageBitmap` and `OffscreenCanvas` fakes until disposed. */
function fakeBrowser(options: FakeBrowserOptions = {}) {
  const g = globalThis as Record<string, unknown>;
  const saved = {
    createImageBitmap: Object.getOwnPropertyDescriptor(g, "createImageBitmap"),
    OffscreenCanvas: Object.getOwnPropertyDescriptor(g, "OffscreenCanvas"),
  };
  const state = {
    decodes: 0,
    bitmaps: [] as FakeBitmap[],
    resize: [] as unknown[],
    drawn: [] as unknown[],
  };
  g.createImageBitmap = async (blob: Blob, resize?: unknown) => {
    state.decodes++;
    state.resize.push(resize);
    assert.equal(blob.type, "image/jpeg");
    const bytes = new Uint8Array(await blob.arrayBuffer());
    if (options.decode === "fail") {
      throw new DOMException("The source image could not be decoded.", "InvalidStateError");
    }
    if (options.decode === "hang") return await new Promise<never>(() => {});
    const bitmap: FakeBitmap = { seed: bytes.reduce((sum, b) => sum + b, 0), closed: false };
    state.bitmaps.push(bitmap);
    return Object.assign(bitmap, { close: () => (bitmap.closed = true) });
  };
  g.OffscreenCanvas = class {
    width: number;
    height: number;
    constructor(width: number, height: number) {
      this.width = width;
      this.height = height;
    }
    getContext(kind: string) {
      if (options.noContext || kind !== "2d") return null;
      let shown: FakeBitmap | undefined;
      return {
        imageSmoothingEnabled: false,
        imageSmoothingQuality: "low",
        drawImage: (bitmap: FakeBitmap, ...rect: number[]) => {
          shown = bitmap;
          state.drawn.push(rect);
        },
        getImageData: (_x: number, _y: number, w: number, h: number) => {
          assert.deepEqual([w, h], [this.width, this.height]);
          return { data: fakePixels(shown!.seed) };
        },
      };
    }
  };
  return Object.assign(state, {
    [Symbol.dispose]() {
      for (const [name, descriptor] of Object.entries(saved)) {
        if (descriptor) Object.defineProperty(g, name, descriptor);
        else delete g[name];
      }
    },
  });
}

const JPEG_A = btoa("JPEG bytes of screen A");
const JPEG_B = btoa("JPEG bytes of screen B, longer");

Deno.test("computeScreenHash()", async (t) => {
  await t.step("Deno has no 2D canvas: no hash, nothing decoded", async () => {
    const g = globalThis as Record<string, unknown>;
    assert.equal(typeof g.createImageBitmap, "function", "Deno decodes images");
    assert.equal(typeof g.OffscreenCanvas, "function", "Deno has an OffscreenCanvas, WebGPU only");
    assert.equal(canComputeScreenHash(), false);
    const decode = g.createImageBitmap;
    let decodes = 0;
    g.createImageBitmap = (...args: unknown[]) => {
      decodes++;
      return (decode as (...args: unknown[]) => unknown)(...args);
    };
    try {
      assert.equal(await computeScreenHash(JPEG_A), undefined);
    } finally {
      g.createImageBitmap = decode;
    }
    assert.equal(decodes, 0);
  });

  await t.step("with a canvas: decodes, scales to 72 × 64, hashes the pixels", async () => {
    using browser = fakeBrowser();
    assert.equal(canComputeScreenHash(), true);
    const hash = await computeScreenHash(JPEG_A);
    assert.equal(hash, expectedHash(JPEG_A));
    assert.notEqual(await computeScreenHash(JPEG_B), hash);
    assert.deepEqual(browser.resize[0], {
      resizeWidth: 72,
      resizeHeight: 64,
      resizeQuality: "high",
    });
    assert.deepEqual(browser.drawn[0], [0, 0, 72, 64]);
    assert.ok(browser.bitmaps.every((bitmap) => bitmap.closed), "every bitmap is closed");
  });

  await t.step("any failure is no hash, never a rejection", async () => {
    {
      using browser = fakeBrowser();
      assert.equal(await computeScreenHash("not base64 !!"), undefined);
      assert.equal(browser.decodes, 0);
    }
    {
      using _browser = fakeBrowser({ decode: "fail" });
      assert.equal(await computeScreenHash(JPEG_A), undefined);
    }
    {
      using browser = fakeBrowser({ noContext: true });
      assert.equal(await computeScreenHash(JPEG_A), undefined);
      assert.ok(browser.bitmaps.every((bitmap) => bitmap.closed));
    }
  });
});

/** Connects a client to `server` and plays the handshake with `negotiated`. */
async function connect(
  server: ScriptedServer,
  negotiated: "1.0" | "1.1",
  options: { protocolVersion?: "1.0" | "1.1"; screenHash?: boolean } = {},
) {
  const connecting = ProactiveClient.connect({ url: server.url, reconnect: false, ...options });
  const connection = await server.connection(server.connections.length);
  const hello = await connection.handshake(negotiated);
  return { client: await connecting, connection, hello };
}

/** Sends frames one by one and returns each as the server received it (raw JSON). */
async function sendFrames(
  client: ProactiveClient,
  connection: Awaited<ReturnType<typeof connect>>["connection"],
  frames: Array<{ screenshot_id: string; jpeg_base64?: string; screen_hash?: string }>,
): Promise<Record<string, unknown>[]> {
  const received: Record<string, unknown>[] = [];
  for (const frame of frames) {
    const answer = client.analyzeFrame({ app_name: "Mail", ocr_text: "Inbox", ...frame });
    await connection.expect("frame_event");
    received.push(JSON.parse(connection.raw.at(-1)!));
    connection.outcome(frame.screenshot_id);
    assert.equal((await answer).frame_id, frame.screenshot_id);
  }
  return received;
}

Deno.test("ProactiveClient sends screen_hash", async (t) => {
  await t.step("on a 1.1 session: computed from the screenshot's pixels", async () => {
    using browser = fakeBrowser();
    await using server = new ScriptedServer();
    const { client, connection, hello } = await connect(server, "1.1");
    await using _client = client;
    assert.equal(hello.protocol_version, "1.1");
    const [a, b, none] = await sendFrames(client, connection, [
      { screenshot_id: "a", jpeg_base64: JPEG_A },
      { screenshot_id: "b", jpeg_base64: JPEG_B },
      { screenshot_id: "c" },
    ]);
    assert.equal(a?.screen_hash, expectedHash(JPEG_A));
    assert.equal(b?.screen_hash, expectedHash(JPEG_B));
    assert.equal(a?.jpeg_base64, JPEG_A, "the screenshot goes as given");
    assert.equal(none && "screen_hash" in none, false, "no screenshot, no hash");
    assert.equal(browser.decodes, 2);
  });

  await t.step("the caller's screen_hash wins and nothing is decoded", async () => {
    using browser = fakeBrowser();
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server, "1.1");
    await using _client = client;
    const [a] = await sendFrames(client, connection, [
      { screenshot_id: "a", jpeg_base64: JPEG_A, screen_hash: "00000000000000ff" },
    ]);
    assert.equal(a?.screen_hash, "00000000000000ff");
    assert.equal(browser.decodes, 0);
  });

  await t.step("never to a server that negotiated 1.0, not even the caller's", async () => {
    using browser = fakeBrowser();
    await using server = new ScriptedServer();
    const { client, connection, hello } = await connect(server, "1.0");
    await using _client = client;
    assert.equal(hello.protocol_version, "1.1", "the client offered 1.1");
    assert.equal(client.session?.protocol_version, "1.0");
    await sendFrames(client, connection, [
      { screenshot_id: "a", jpeg_base64: JPEG_A },
      { screenshot_id: "b", jpeg_base64: JPEG_A, screen_hash: "00000000000000ff" },
    ]);
    const frames = connection.raw.filter((text) => text.includes('"frame_event"'));
    assert.equal(frames.length, 2);
    for (const text of frames) assert.doesNotMatch(text, /screen_hash/);
    assert.equal(browser.decodes, 0, "a 1.0 session is not worth decoding for");
  });

  await t.step("not when the client speaks 1.0 or screenHash is false", async () => {
    for (const options of [{ protocolVersion: "1.0" as const }, { screenHash: false }]) {
      using browser = fakeBrowser();
      await using server = new ScriptedServer();
      const negotiated = options.protocolVersion ?? "1.1";
      const { client, connection } = await connect(server, negotiated, options);
      await using _client = client;
      const [a] = await sendFrames(client, connection, [{
        screenshot_id: "a",
        jpeg_base64: JPEG_A,
      }]);
      assert.equal(a && "screen_hash" in a, false, JSON.stringify(options));
      assert.equal(browser.decodes, 0);
    }
  });

  await t.step("not in Deno itself (no canvas)", async () => {
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server, "1.1");
    await using _client = client;
    const [a] = await sendFrames(client, connection, [{ screenshot_id: "a", jpeg_base64: JPEG_A }]);
    assert.equal(a && "screen_hash" in a, false);
  });

  await t.step("a screenshot that cannot be decoded goes without a hash", async () => {
    using _browser = fakeBrowser({ decode: "fail" });
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server, "1.1");
    await using _client = client;
    const [a] = await sendFrames(client, connection, [{ screenshot_id: "a", jpeg_base64: JPEG_A }]);
    assert.equal(a && "screen_hash" in a, false);
    assert.equal(a?.jpeg_base64, JPEG_A);
  });

  await t.step("a hash that takes too long is not waited for", async () => {
    using browser = fakeBrowser({ decode: "hang" });
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server, "1.1");
    await using _client = client;
    const started = performance.now();
    const [a, b] = await sendFrames(client, connection, [
      { screenshot_id: "a", jpeg_base64: JPEG_A },
      { screenshot_id: "b", jpeg_base64: JPEG_B },
    ]);
    const ms = performance.now() - started;
    assert.equal(a && "screen_hash" in a, false);
    assert.equal(b && "screen_hash" in b, false);
    assert.equal(browser.decodes, 2);
    assert.ok(ms >= 2 * SCREEN_HASH_WAIT_MS - 10, `sent after ${ms} ms`);
    assert.ok(ms < 2 * SCREEN_HASH_WAIT_MS + 5_000, `sent after ${ms} ms`);
  });

  await t.step("is computed while the frame ahead is analysed", async () => {
    using browser = fakeBrowser();
    await using server = new ScriptedServer();
    const { client, connection } = await connect(server, "1.1");
    await using _client = client;
    const first = client.analyzeFrame({ screenshot_id: "a", jpeg_base64: JPEG_A });
    await connection.expect("frame_event");
    const second = client.analyzeFrame({ screenshot_id: "b", jpeg_base64: JPEG_B });
    // Let the second frame's hash finish while the first is still in flight.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(browser.bitmaps.length, 2);
    connection.outcome("a");
    await first;
    await connection.expect("frame_event");
    assert.equal(JSON.parse(connection.raw.at(-1)!).screen_hash, expectedHash(JPEG_B));
    connection.outcome("b");
    await second;
  });
});
