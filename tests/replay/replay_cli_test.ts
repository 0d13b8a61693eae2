/**
 * `scripts/replay.ts` as a subprocess: one clear line and a non-zero exit for bad input, and a
 * whole offline run over `samples/`.
 */
import assert from "node:assert/strict";
import { type DenoOutput, runDeno, warmDenoCache } from "../fakes/deno_env.ts";

const SCRIPT = new URL("../../scripts/replay.ts", import.meta.url).pathname;
const SAMPLES = new URL("../../samples/", import.meta.url).pathname;
await warmDenoCache([SCRIPT]);

/** The permissions of `deno task replay`. */
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write", "--allow-sys"];

function replay(args: string[], extraEnv: Record<string, string> = {}): Promise<DenoOutput> {
  return runDeno(["run", ...PERMISSIONS, SCRIPT, ...args], { env: extraEnv });
}

/** A closed loopback port: bound, then released. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("deno task replay: bad input gets one clear line and a non-zero exit", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "replay_test_" });
  try {
    const empty = `${dir}/empty`;
    await Deno.mkdir(empty);
    await Deno.writeTextFile(`${empty}/notes.md`, "not a frame");
    const broken = `${dir}/broken.jsonl`;
    await Deno.writeTextFile(
      broken,
      '{"type":"frame_event","frame_number":1,"app_name":"Slack","ocr_text":"hi"}\n' +
        "\n" +
        '{"type":"frame_event","app_name":\n' +
        '{"type":"frame_event","frame_number":4}\n',
    );
    const wrongType = `${dir}/wrong_type.jsonl`;
    await Deno.writeTextFile(wrongType, '{"type":"frame_event"}\n{"type":"client_hello"}\n');
    const wrongField = `${dir}/wrong_field.jsonl`;
    await Deno.writeTextFile(wrongField, '{"type":"frame_event","app_name":5}\n');
    const binary = `${dir}/binary.jsonl`;
    await Deno.writeFile(binary, new Uint8Array([0xff, 0xfe, 0x00, 0x81]));
    const badMeta = `${dir}/bad_meta`;
    await Deno.mkdir(badMeta);
    await Deno.writeTextFile(`${badMeta}/01_screen.json`, "{ app_name: Slack }");
    const emptyJsonl = `${dir}/empty.jsonl`;
    await Deno.writeTextFile(emptyJsonl, "\n\n");
    const port = closedPort();

    const cases: Array<{ name: string; args: string[]; code?: number; line: RegExp }> = [
      {
        name: "missing path",
        args: [`${dir}/nope`],
        line: /^replay: Cannot read .*\/nope: no such file or folder$/,
      },
      {
        name: "broken JSONL line (with its line number)",
        args: [broken],
        line: /^replay: .*broken\.jsonl:3: Message is not valid JSON$/,
      },
      {
        name: "JSONL line of another type",
        args: [wrongType],
        line: /^replay: .*wrong_type\.jsonl:2: expected a "frame_event", got "client_hello"$/,
      },
      {
        name: "JSONL field of the wrong type",
        args: [wrongField],
        line:
          /^replay: .*wrong_field\.jsonl:1: Invalid "frame_event": "app_name" must be a string$/,
      },
      {
        name: "unreadable file (not UTF-8)",
        args: [binary],
        line: /^replay: Cannot read .*binary\.jsonl: not UTF-8 text$/,
      },
      {
        name: "metadata that is not JSON",
        args: [badMeta],
        line: /^replay: .*01_screen\.json: not valid JSON$/,
      },
      { name: "empty folder", args: [empty], line: /^replay: .*empty holds no frames/ },
      {
        name: "empty JSONL file",
        args: [emptyJsonl],
        line: /^replay: .*empty\.jsonl holds no frames$/,
      },
      {
        name: "not a folder or .jsonl",
        args: [`${badMeta}/01_screen.json`],
        line: /neither a folder of frames nor a \.jsonl file$/,
      },
      {
        name: "--url where no server listens",
        args: [SAMPLES, "--url", `ws://127.0.0.1:${port}/v1/proactive`],
        line: new RegExp(
          `^replay: Cannot connect to ws://127\\.0\\.0\\.1:${port}/v1/proactive: no server answered`,
        ),
      },
      {
        name: "--url that is not a WebSocket URL",
        args: [SAMPLES, "--url", "http://127.0.0.1:1/"],
        code: 2,
        line: /^replay: --url must start with ws:\/\/ or wss:\/\/; usage: /,
      },
      {
        name: "unknown flag",
        args: [SAMPLES, "--bogus"],
        code: 2,
        line: /^replay: .*bogus.*; usage: /,
      },
      {
        name: "no path",
        args: [],
        code: 2,
        line: /^replay: expected one folder or \.jsonl file; usage: /,
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const { code, stdout, stderr } = await replay(c.args);
        assert.equal(code, c.code ?? 1, `exit code; stderr: ${stderr}`);
        assert.equal(stdout, "");
        const lines = stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
        assert.match(lines[0]!, c.line);
        assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task replay samples/ runs offline and every frame gets an outcome", async (t) => {
  const stems = new Set<string>();
  for await (const entry of Deno.readDir(SAMPLES)) {
    const match = /^(.+)\.(?:txt|json|jpe?g)$/i.exec(entry.name);
    if (match) stems.add(match[1]!);
  }
  assert.ok(stems.size >= 20, `only ${stems.size} samples`);
  const OUTCOME = /^(?:extract_task|reject_task|no_task_found)$/;

  await t.step("--json: one row per frame, each with an outcome", async () => {
    const { code, stdout, stderr } = await replay([SAMPLES, "--json"]);
    assert.equal(code, 0, stderr);
    const lines = stdout.trim().split("\n").map((line) => JSON.parse(line));
    const rows = lines.filter((line) => !("summary" in line));
    const summary = lines.find((line) => "summary" in line)?.summary;
    assert.deepEqual(new Set(rows.map((row) => row.name)), stems);
    for (const row of rows) assert.match(row.outcome, OUTCOME, `${row.name}: ${row.outcome}`);
    // Times to one decimal: the clock's noise is not data.
    for (const ms of [...rows.map((row) => row.ms), summary.p50Ms, summary.p95Ms]) {
      assert.equal(ms, Math.round(ms * 10) / 10, `ms rounded to 1 decimal: ${ms}`);
    }
    assert.equal(summary.frames, stems.size);
    // The repeats of earlier asks are recognised as duplicates of stored tasks.
    assert.ok(summary.counts.reject_task >= 1, JSON.stringify(summary.counts));
    assert.ok(summary.counts.extract_task >= 5, JSON.stringify(summary.counts));
    assert.ok(summary.counts.no_task_found >= 3, JSON.stringify(summary.counts));
    assert.ok(summary.inputTokens > 0);
    // Not a terminal: plain progress lines, one per frame, never OCR text.
    const progress = stderr.trim().split("\n");
    assert.equal(progress.length, stems.size);
    assert.doesNotMatch(stderr, /Q3 report|vendor contract/);
  });

  await t.step("the table has a row per frame and a summary", async () => {
    const { code, stdout } = await replay([SAMPLES]);
    assert.equal(code, 0);
    for (const stem of stems) {
      const row = stdout.split("\n").find((line) => line.includes(` ${stem} `));
      assert.ok(row, `no row for ${stem}`);
      assert.match(row, /\b(?:extract_task|reject_task|no_task_found)\b/);
    }
    assert.match(stdout, /^frames {3}\d+ \(/m);
    assert.match(stdout, /^latency {2}p50 \d+ ms, p95 \d+ ms$/m);
    assert.match(stdout, /^tokens {3}\d+ in, \d+ out/m);
    assert.match(stdout, /^cost {5}\$\d+\.\d{6}$/m);
  });

  await t.step(
    "--db keeps extracted tasks, so a second run dedupes against the first",
    async () => {
      const db = await Deno.makeTempFile({ suffix: ".sqlite" });
      try {
        const jsonl = `${SAMPLES}frames.jsonl`;
        const first = await replay([jsonl, "--db", db, "--json"]);
        assert.equal(first.code, 0, first.stderr);
        assert.equal(JSON.parse(first.stdout.split("\n")[0]!).outcome, "extract_task");
        const second = await replay([jsonl, "--db", db, "--json"]);
        assert.equal(second.code, 0, second.stderr);
        assert.equal(JSON.parse(second.stdout.split("\n")[0]!).outcome, "reject_task");
      } finally {
        await Deno.remove(db);
      }
    },
  );
});

Deno.test("deno task replay reads only the settings its in-process server uses", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "replay_env_test_" });
  try {
    const frames = `${dir}/one.jsonl`;
    await Deno.writeTextFile(
      frames,
      '{"type":"frame_event","frame_number":1,"app_name":"Slack","ocr_text":"hi"}\n',
    );
    const ignored: Array<[string, Record<string, string>]> = [
      ["HOST=0.0.0.0 (AUTH_MODE=none off loopback)", { HOST: "0.0.0.0" }],
      ["PORT=99999", { PORT: "99999" }],
      ["AUTH_MODE=firebase without a project", { AUTH_MODE: "firebase" }],
      ["other server-only settings out of range", {
        METRICS_PORT: "70000",
        MAX_SESSIONS: "0",
        DRAIN_TIMEOUT_MS: "-1",
        LOG_LEVEL: "verbose",
      }],
    ];
    for (const [name, env] of ignored) {
      await t.step(`${name} is not read`, async () => {
        const { code, stdout, stderr } = await replay([frames, "--json"], env);
        assert.equal(code, 0, stderr);
        const rows = stdout.trim().split("\n").map((line) => JSON.parse(line));
        assert.match(rows[0].outcome, /^(?:extract_task|reject_task|no_task_found)$/);
        assert.doesNotMatch(stderr, /configuration error/);
      });
    }

    const refused: Array<[string, Record<string, string>, RegExp]> = [
      [
        "MODEL_PROVIDER=nonsense (beside server-only settings it ignores)",
        { MODEL_PROVIDER: "nonsense", HOST: "0.0.0.0", PORT: "99999" },
        /^replay: configuration error: MODEL_PROVIDER must be one of gemini, vertex, openai, offline$/,
      ],
      [
        "MODEL_PROVIDER=gemini without GEMINI_API_KEY",
        { MODEL_PROVIDER: "gemini" },
        /^replay: configuration error: GEMINI_API_KEY is required when MODEL_PROVIDER=gemini$/,
      ],
      [
        "MAX_MESSAGE_BYTES out of range",
        { MAX_MESSAGE_BYTES: "1" },
        /^replay: configuration error: MAX_MESSAGE_BYTES must be an integer from 1024 to \d+$/,
      ],
    ];
    for (const [name, env, line] of refused) {
      await t.step(`${name} is refused with one line`, async () => {
        const { code, stdout, stderr } = await replay([frames], env);
        assert.equal(code, 1, stderr);
        assert.equal(stdout, "");
        const lines = stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
        assert.match(lines[0]!, line);
        assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
