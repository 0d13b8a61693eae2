/**
 * The v1.1 `screen_hash` of a `frame_event` (docs/protocol.md §5.9): a 64-bit perceptual hash
 * of the screenshot, 16 lowercase hex characters, which lets the server skip a screen that
 * looks as the last analysed one did (same text, hashes at most `SKIP_HASH_DISTANCE` bits
 * apart) even when its JPEG bytes differ.
 *
 * **The hash is a dHash** (difference hash): the image in grayscale (BT.601 luma), averaged
 * into a grid of 9 × 8 cells, each rounded to a whole level; bit `8·r + c` (most significant
 * first) says whether cell `(r, c + 1)` is brighter than cell `(r, c)`. It is chosen over a DCT
 * pHash (32 × 32 → 8 × 8) because the server only trusts a hash next to identical OCR text,
 * so what the hash must tell apart is layout and imagery, not a changed line of text: a
 * horizontal gradient per cell does that, is blind to a uniform brightness shift and to JPEG
 * re-encoding noise (each cell averages thousands of pixels), and is a few lines of exact
 * integer-level arithmetic that another client (Swift, Kotlin) reproduces bit for bit. A pHash
 * is more robust to rescaling and cropping, which frames from one capture pipeline do not
 * suffer; and on the flat screens of a desktop most of its coefficients sit near their median,
 * where noise flips bits, while flat dHash cells compare equal and stay 0.
 *
 * **Where it is computed.** Only where the pixels are cheap: a browser or worker with
 * `createImageBitmap` and a canvas (`OffscreenCanvas` or `<canvas>`) decodes the JPEG
 * natively, scaled to 72 × 64 on the way; the averaging and the bits cost microseconds. Deno
 * and Node have no canvas and get no hash: decoding a JPEG in JavaScript costs 90–340 ms per
 * screen, more than the skip saves. Any failure (bad base64, an undecodable image, a canvas
 * that refuses to be read) means no hash, never a failed frame.
 *
 * @module
 */

/** Cells per row of the dHash grid: 8 differences need 9 cells. */
const GRID_WIDTH = 9;
/** Rows of the dHash grid. */
const GRID_HEIGHT = 8;
/** Each grid cell averages this many × this many pixels of the scaled image. */
const CELL_SAMPLES = 8;
/** The size the browser scales the screenshot to before it is read: 72 × 64. */
const SCALED_WIDTH = GRID_WIDTH * CELL_SAMPLES;
const SCALED_HEIGHT = GRID_HEIGHT * CELL_SAMPLES;
const HASH_PATTERN = /^[0-9a-f]{16}$/i;

/**
 * The 64-bit dHash of a grayscale image, as the 16 lowercase hex characters of a v1.1
 * `screen_hash`. `gray` holds `width × height` luminance values (0–255), row by row; the
 * image is averaged into 9 × 8 cells (pixel `x` goes to column `⌊9x / width⌋`, row likewise),
 * each mean rounded to a whole level, and bit `8·r + c`, most significant first, is set when
 * cell `(r, c + 1)` is brighter than cell `(r, c)`. The same pixels always give the same hash; a slightly changed image gives
 * one a few bits away (see {@link screenHashDistance}).
 *
 * @throws {RangeError} when the image is smaller than 9 × 8 or `gray` is too short.
 */
export function differenceHash(gray: ArrayLike<number>, width: number, height: number): string {
  if (
    !Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < GRID_WIDTH ||
    height < GRID_HEIGHT
  ) {
    throw new RangeError(`A dHash needs at least ${GRID_WIDTH} × ${GRID_HEIGHT} pixels`);
  }
  if (gray.length < width * height) {
    throw new RangeError(`${width} × ${height} pixels need ${width * height} values`);
  }
  const sums = new Float64Array(GRID_WIDTH * GRID_HEIGHT);
  const counts = new Uint32Array(GRID_WIDTH * GRID_HEIGHT);
  const columns = new Uint8Array(width);
  for (let x = 0; x < width; x++) columns[x] = Math.floor((x * GRID_WIDTH) / width);
  for (let y = 0; y < height; y++) {
    const row = Math.floor((y * GRID_HEIGHT) / height) * GRID_WIDTH;
    const offset = y * width;
    for (let x = 0; x < width; x++) {
      const cell = row + columns[x]!;
      sums[cell]! += gray[offset + x]!;
      counts[cell]!++;
    }
  }
  // Whole levels, as in an 8-bit grayscale thumbnail: a change of less than half a level (a
  // cursor on a flat background) leaves two equal neighbours equal instead of flipping a bit.
  const cells = sums.map((sum, cell) => Math.round(sum / counts[cell]!));
  // Rows 0–3 make the high 32 bits, rows 4–7 the low ones.
  const halves = [0, 0];
  for (let r = 0; r < GRID_HEIGHT; r++) {
    for (let c = 0; c < GRID_WIDTH - 1; c++) {
      const left = cells[r * GRID_WIDTH + c]!;
      const right = cells[r * GRID_WIDTH + c + 1]!;
      const half = r < GRID_HEIGHT / 2 ? 0 : 1;
      halves[half] = ((halves[half]! << 1) | (right > left ? 1 : 0)) >>> 0;
    }
  }
  return halves.map((half) => half.toString(16).padStart(8, "0")).join("");
}

/**
 * In how many of their 64 bits two `screen_hash`es differ (their Hamming distance), 0–64.
 * The server counts two screens with the same text as unchanged at `SKIP_HASH_DISTANCE` (4)
 * or less.
 *
 * @throws {RangeError} when either is not 16 hex characters.
 */
export function screenHashDistance(a: string, b: string): number {
  if (!HASH_PATTERN.test(a) || !HASH_PATTERN.test(b)) {
    throw new RangeError("A screen_hash is 16 hex characters");
  }
  const high = parseInt(a.slice(0, 8), 16) ^ parseInt(b.slice(0, 8), 16);
  const low = parseInt(a.slice(8), 16) ^ parseInt(b.slice(8), 16);
  return bitCount(high) + bitCount(low);
}

/** Set bits of a 32-bit integer. */
function bitCount(value: number): number {
  let v = value >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

// ---------------------------------------------------------------------------------------
// Browsers: decode, scale, read. Typed structurally: Deno's libraries have no canvas.

interface Bitmap {
  close(): void;
}

interface Context2D {
  imageSmoothingEnabled: boolean;
  imageSmoothingQuality: string;
  drawImage(image: Bitmap, dx: number, dy: number, dw: number, dh: number): void;
  getImageData(sx: number, sy: number, sw: number, sh: number): { data: ArrayLike<number> };
}

interface Canvas {
  width: number;
  height: number;
  getContext(kind: "2d", options?: { willReadFrequently?: boolean }): Context2D | null;
}

/** The parts of a browser's global scope the hash needs; each may be missing. */
interface Graphics {
  createImageBitmap?: (
    image: Blob,
    options?: { resizeWidth?: number; resizeHeight?: number; resizeQuality?: string },
  ) => Promise<Bitmap>;
  OffscreenCanvas?: new (width: number, height: number) => Canvas;
  document?: { createElement?(tag: "canvas"): Canvas };
}

function graphics(): Graphics {
  return globalThis as unknown as Graphics;
}

/**
 * A 2D context on a fresh `width × height` canvas: an `OffscreenCanvas` (browsers, workers)
 * or a `<canvas>`; `undefined` where there is none. Deno has an `OffscreenCanvas`, but its
 * only contexts are WebGPU ones: its `getContext("2d")` is null.
 */
function context2d(width: number, height: number): Context2D | undefined {
  const g = graphics();
  const canvases: Array<() => Canvas | undefined> = [
    () => g.OffscreenCanvas && new g.OffscreenCanvas(width, height),
    () => g.document?.createElement?.("canvas"),
  ];
  for (const make of canvases) {
    try {
      const canvas = make();
      if (!canvas) continue;
      canvas.width = width;
      canvas.height = height;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      if (context) return context;
    } catch {
      // Not this kind of canvas.
    }
  }
  return undefined;
}

/**
 * Whether this runtime can compute a `screen_hash`: it decodes images natively
 * (`createImageBitmap`) and has a canvas with a 2D context to read pixels back from. True in
 * browsers and workers; false in Deno (`createImageBitmap`, but no 2D canvas) and Node.
 */
export function canComputeScreenHash(): boolean {
  return typeof graphics().createImageBitmap === "function" && context2d(1, 1) !== undefined;
}

/**
 * The `screen_hash` of a base64 JPEG, computed from its pixels by the browser's decoder; or
 * `undefined` when this runtime has no canvas or anything fails. Never rejects.
 */
export async function computeScreenHash(jpegBase64: string): Promise<string | undefined> {
  try {
    const decode = graphics().createImageBitmap;
    // The canvas first: where there is none, nothing is decoded for nothing.
    const context = typeof decode === "function"
      ? context2d(SCALED_WIDTH, SCALED_HEIGHT)
      : undefined;
    if (!decode || !context) return undefined;
    const blob = new Blob([base64Bytes(jpegBase64)], { type: "image/jpeg" });
    // Scaled while decoding where the browser supports it (off the main thread in Chromium);
    // a browser that ignores the options hands back the full image and drawImage scales it.
    const bitmap = await decode(blob, {
      resizeWidth: SCALED_WIDTH,
      resizeHeight: SCALED_HEIGHT,
      resizeQuality: "high",
    });
    try {
      context.imageSmoothingEnabled = true;
      context.imageSmoothingQuality = "high";
      context.drawImage(bitmap, 0, 0, SCALED_WIDTH, SCALED_HEIGHT);
      const rgba = context.getImageData(0, 0, SCALED_WIDTH, SCALED_HEIGHT).data;
      return differenceHash(luma(rgba), SCALED_WIDTH, SCALED_HEIGHT);
    } finally {
      bitmap.close();
    }
  } catch {
    return undefined;
  }
}

/** BT.601 luma of RGBA pixels (alpha ignored: a JPEG is opaque). */
export function luma(rgba: ArrayLike<number>): Float32Array {
  const gray = new Float32Array(Math.floor(rgba.length / 4));
  for (let i = 0; i < gray.length; i++) {
    gray[i] = 0.299 * rgba[4 * i]! + 0.587 * rgba[4 * i + 1]! + 0.114 * rgba[4 * i + 2]!;
  }
  return gray;
}

/** The bytes of a base64 text; throws on malformed input. */
function base64Bytes(text: string): Uint8Array<ArrayBuffer> {
  const native = (Uint8Array as unknown as {
    fromBase64?: (text: string) => Uint8Array<ArrayBuffer>;
  }).fromBase64;
  if (native) return native.call(Uint8Array, text);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
