/**
 * `deno task bench-messages [--shape NAME]… [--write | --out FILE]`: the cost of one hostile
 * message. The table goes to stdout; only `--write` (BENCHMARKS.md) or `--out FILE` writes it
 * into a file, between its `messages` markers.
 *
 * For each shape, one message of `MAX_MESSAGE_BYTES` (16 MiB, less a little) is handed to a
 * real `Session` (`handleMessage`, the whole synchronous path from payload to reply), and,
 * for reference, to a bare `JSON.parse`. Each measurement runs in a fresh process, after a
 * warm-up on a 64 KiB message of the same shape, so one shape's garbage cannot bill the next.
 *
 * Targets, as ratios in the same run: the session holds the event loop at most 2× as long
 * as `JSON.parse` of the same text, and grows resident memory by at most 8× the text size.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { silentLogger } from "../src/log.ts";
import { OfflineModel } from "../src/models/offline.ts";
import { Metrics } from "../src/server/metrics.ts";
import { Session } from "../src/server/session.ts";

const SIZE = 16 * 1024 * 1024 - 4096;

/** The shapes: each builds a message of about `size` characters. */
const SHAPES: Record<string, { about: string; build: (size: number) => string }> = {
  hello_zeros: {
    about: "client_hello, active_tasks = [0,0,0,…]",
    build: (n) => list("client_hello", "session_context", "active_tasks", "0,", n),
  },
  hello_empty_objects: {
    about: "client_hello, active_tasks = [{},{},…]",
    build: (n) => list("client_hello", "session_context", "active_tasks", "{},", n),
  },
  hello_valid_tasks: {
    about: "client_hello, 250 k well-formed active tasks",
    build: (n) =>
      list(
        "client_hello",
        "session_context",
        "active_tasks",
        '{"task_id":12345,"description":"Send the Q3 report to Anna","priority":"high"},',
        n,
      ),
  },
  frame_new_context: {
    about: "frame_event with a new context of junk objects (rate-limited)",
    build: (n) => list("frame_event", "session_context", "completed_tasks", '{"x":[1]},', n),
  },
  stray_tool_result: {
    about: "tool_result nobody waits for, type first",
    build: (n) =>
      `{"type":"tool_result","request_id":"r","results":[${
        repeat('{"task_id":1,"description":"d","status":"gone"},', n - 80)
      }{}]}`,
  },
  stray_tool_result_type_last: {
    about: "tool_result nobody waits for, type last",
    build: (n) =>
      `{"request_id":"r","results":[${
        repeat('{"task_id":1,"description":"d","status":"gone"},', n - 80)
      }{}],"type":"tool_result"}`,
  },
  deep_nesting: {
    about: "frame_event with [[[[…]]]] 8 M deep",
    build: (n) => {
      const depth = Math.floor((n - 40) / 2);
      return `{"type":"frame_event","x":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    },
  },
  arrays_of_arrays: {
    about: "frame_event, unknown field of arrays of 64 arrays",
    build: (n) => {
      const inner = `[${repeat("[],", 63 * 3)},[]]`;
      return `{"type":"frame_event","x":[${repeat(`${inner},`, n - 60)}[]]}`;
    },
  },
  many_keys: {
    about: "frame_event with 1.3 M distinct keys",
    build: (n) => {
      const parts: string[] = ['{"type":"frame_event"'];
      let length = parts[0]!.length;
      for (let k = 0; length < n - 20; k++) {
        const member = `,"k${k}":0`;
        parts.push(member);
        length += member.length;
      }
      return parts.join("") + "}";
    },
  },
  screenshot: {
    about: "frame_event with a 16 MiB base64 screenshot (legitimate)",
    build: (n) =>
      `{"type":"frame_event","frame_number":1,"app_name":"Mail","jpeg_base64":"${
        "QUJD".repeat(Math.floor((n - 80) / 4))
      }"}`,
  },
  escaped_quotes: {
    about: 'frame_event, ocr_text of \\" escapes',
    build: (n) => `{"type":"frame_event","ocr_text":"${repeat('\\"', n - 40)}"}`,
  },
  unicode_escapes: {
    about: "frame_event, ocr_text of \\u0041 escapes",
    build: (n) => `{"type":"frame_event","ocr_text":"${repeat("\\u0041", n - 40)}"}`,
  },
  whitespace: {
    about: "heartbeat padded with spaces",
    build: (n) => `{"type":"heartbeat"${" ".repeat(n - 20)}}`,
  },
  early_syntax_error: {
    about: "frame_event broken at byte 40, then 16 MiB of [],[],…",
    build: (n) => `{"type":"frame_event","ocr_text":"\\u00zz","x":[${repeat("[],", n - 60)}]}`,
  },
  screenshot_then_structure: {
    about: "frame_event, a 13 MiB screenshot, then 3 MiB of [],[],… in an unknown field",
    build: (n) => {
      const image = "QUJD".repeat(Math.floor(13 * 1024 * 1024 / 4));
      return `{"type":"frame_event","jpeg_base64":"${image}","x":[${
        repeat("[],", n - image.length - 60)
      }]}`;
    },
  },
  late_string_error: {
    about: "frame_event, a bad escape in a 300-char string, then 16 MiB of [],[],…",
    build: (n) =>
      `{"type":"frame_event","ocr_text":"\\x${"a".repeat(300)}","x":[${repeat("[],", n - 400)}]}`,
  },
  long_number: {
    about: "frame_event, a 16 M-digit number",
    build: (n) => `{"type":"frame_event","frame_number":1${"0".repeat(n - 40)}}`,
  },
};

function repeat(unit: string, size: number): string {
  const text = unit.repeat(Math.max(1, Math.floor(size / unit.length)));
  return text.endsWith(",") ? text.slice(0, -1) : text;
}

function list(type: string, outer: string, key: string, unit: string, size: number): string {
  const prefix = `{"type":"${type}","context_version":"v9","${outer}":{"${key}":[`;
  return `${prefix}${repeat(unit, size - prefix.length - 4)}]}}`;
}

/** One measurement in this process: milliseconds and resident growth, as JSON on stdout. */
function measure(shape: string, what: "bare" | "ours"): void {
  const { build } = SHAPES[shape]!;
  const run = what === "bare" ? bareParse : sessionHandle();
  run(build(64 * 1024));
  run(build(64 * 1024));
  const text = build(SIZE);
  // deno-lint-ignore no-explicit-any
  (globalThis as any).gc?.();
  const before = Deno.memoryUsage().rss;
  const started = performance.now();
  const kept = run(text);
  const ms = performance.now() - started;
  const growth = Deno.memoryUsage().rss - before;
  console.log(JSON.stringify({ ms, growth, bytes: text.length, kept: String(kept).slice(0, 80) }));
}

function bareParse(text: string): unknown {
  try {
    return typeof JSON.parse(text);
  } catch (err) {
    return (err as Error).name;
  }
}

/** A real session after its hello, whose replies are recorded (the last one returned). */
function sessionHandle(): (text: string) => unknown {
  const sent: string[] = [];
  const session = new Session({
    socket: { send: (text) => sent.push(text), close: () => {} },
    model: new OfflineModel(),
    limits: {
      analysisTimeoutMs: 45_000,
      modelCallTimeoutMs: 20_000,
      toolResultTimeoutMs: 10_000,
      maxMessageBytes: 16 * 1024 * 1024,
      maxPendingFrames: 4,
      maxPendingBytes: 8 * 1024 * 1024,
      helloTimeoutMs: 60_000,
    },
    log: silentLogger,
    metrics: new Metrics(() => 0),
    // As in the review: the frame is already over its rate limit, so no model call starts.
    takeFrame: () => 1_000,
  });
  session.handleMessage('{"type":"client_hello","session_context":{}}');
  globalThis.addEventListener("unload", () => session.handleClose());
  return (text) => {
    sent.length = 0;
    session.handleMessage(text);
    const reply = sent.at(-1);
    return reply ? JSON.parse(reply).code ?? JSON.parse(reply).type : "no reply";
  };
}

interface Row {
  shape: string;
  about: string;
  bytes: number;
  bareMs: number;
  oursMs: number;
  bareGrowth: number;
  oursGrowth: number;
  reply: string;
}

async function child(
  shape: string,
  what: string,
): Promise<{ ms: number; growth: number; bytes: number; kept: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      "--allow-read",
      "--allow-env",
      import.meta.filename!,
      "--measure",
      shape,
      "--what",
      what,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1) ?? "";
  if (!output.success) throw new Error(`${shape}/${what} failed`);
  return JSON.parse(text);
}

function table(rows: Row[]): string {
  const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
  const lines = [
    "| shape | message | bare `JSON.parse` | session | time ratio (≤ 2) | memory growth ÷ size, bare | memory growth ÷ size, session (≤ 8) | reply |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const ratio = r.oursMs / r.bareMs;
    const growth = r.oursGrowth / r.bytes;
    lines.push(
      `| ${r.about} | ${mib(r.bytes)} MiB | ${r.bareMs.toFixed(1)} ms | ${
        r.oursMs.toFixed(1)
      } ms | ${ratio.toFixed(2)}${ratio > 2 ? " **missed**" : ""} | ${
        (r.bareGrowth / r.bytes).toFixed(1)
      } | ${growth.toFixed(1)}${growth > 8 ? " **missed**" : ""} | ${r.reply} |`,
    );
  }
  return lines.join("\n");
}

const USAGE = `usage: deno task bench-messages [--shape NAME]... [--write | --out FILE]

Measures one hostile message of each shape against a bare JSON.parse and prints the table.
  --shape NAME  only this shape (repeatable); one of: ${Object.keys(SHAPES).join(", ")}
  --write       also write the table into BENCHMARKS.md, between its messages markers
  --out FILE    also write it into FILE instead
  -h, --help    print this and exit`;

async function main(): Promise<number> {
  let values: {
    measure?: string;
    what?: string;
    out?: string;
    write?: boolean;
    help?: boolean;
    shape?: string[];
  };
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        measure: { type: "string" },
        what: { type: "string" },
        out: { type: "string" },
        write: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
        shape: { type: "string", multiple: true },
      },
    }));
  } catch (err) {
    console.error(`bench-messages: ${err instanceof Error ? err.message : err}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.measure) {
    measure(values.measure, values.what === "bare" ? "bare" : "ours");
    return 0;
  }
  if (values.write && values.out !== undefined) {
    console.error(`bench-messages: --write and --out exclude each other\n${USAGE}`);
    return 2;
  }
  const unknown = (values.shape ?? []).filter((shape) => !(shape in SHAPES));
  if (unknown.length) {
    console.error(`bench-messages: unknown shape ${unknown.join(", ")}\n${USAGE}`);
    return 2;
  }
  const out = values.out ??
    (values.write ? new URL("../BENCHMARKS.md", import.meta.url).pathname : undefined);
  const rows: Row[] = [];
  for (const shape of values.shape?.length ? values.shape : Object.keys(SHAPES)) {
    const bare = await child(shape, "bare");
    const ours = await child(shape, "ours");
    const row: Row = {
      shape,
      about: SHAPES[shape]!.about,
      bytes: ours.bytes,
      bareMs: bare.ms,
      oursMs: ours.ms,
      bareGrowth: Math.max(0, bare.growth),
      oursGrowth: Math.max(0, ours.growth),
      reply: ours.kept,
    };
    rows.push(row);
    console.error(
      `${shape}: bare ${bare.ms.toFixed(1)} ms, session ${ours.ms.toFixed(1)} ms, growth ${
        (row.oursGrowth / row.bytes).toFixed(2)
      }× (${ours.kept})`,
    );
  }
  const text = `Run ${
    new Date().toISOString().slice(0, 16)
  }Z, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores.\n\n${table(rows)}\n`;
  console.log(text);
  if (out) {
    const doc = await Deno.readTextFile(out);
    const start = "<!-- messages:start -->";
    const end = "<!-- messages:end -->";
    const a = doc.indexOf(start);
    const b = doc.indexOf(end);
    if (a < 0 || b < a) throw new Error(`${out} has no ${start} … ${end} markers`);
    await Deno.writeTextFile(out, `${doc.slice(0, a + start.length)}\n${text}${doc.slice(b)}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
