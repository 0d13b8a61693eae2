/**
 * The case loader in-process (a good file, folders, jpeg_path), and every class of bad input
 * through the real `deno task eval` subprocess: one line naming the file and line, exit 2,
 * nothing on stdout and no report file.
 */
import assert from "node:assert/strict";
import { EvalInputError, loadCases } from "../../src/eval/cases.ts";
import { toBase64 } from "../../src/replay/frames.ts";
import { runDeno } from "../fakes/deno_env.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = new URL("fixtures/", import.meta.url).pathname;

Deno.test("cases: a folder reads every *.jsonl in name order, jpeg_path relative to its file", async () => {
  const cases = await loadCases([FIXTURES]);
  assert.deepEqual(cases.map((c) => c.id), [
    "slack-q3-report",
    "slack-q3-duplicate",
    "article-reading",
    "github-review",
    "deleted-slides",
    "spotify-idle",
    "tricky-notes",
  ]);
  const first = cases[0]!;
  assert.equal(first.expect, "extract_task");
  assert.equal(first.file, `${FIXTURES}a_basic.jsonl`);
  assert.equal(first.line, 1);
  assert.equal(first.notes, "a direct ask");
  assert.equal(first.frame.screenshot_id, "slack-q3-report");
  assert.equal(first.frame.app_name, "Slack");
  assert.equal(
    first.frame.jpeg_base64,
    toBase64(await Deno.readFile(`${FIXTURES}img/slack_q3.jpg`)),
  );
  assert.deepEqual(cases[1]!.context.active_tasks, [
    {
      task_id: 41,
      description: "Send the Q3 report to Sarah",
      priority: "high",
      relevance_score: 1,
    },
  ]);
  assert.deepEqual(cases[2]!.context, {});
  // A blank last line is skipped; line numbers are the file's.
  assert.equal(cases[6]!.line, 4);
  const one = await loadCases([`${FIXTURES}b_more.jsonl`]);
  assert.equal(one.length, 4);
});

const GOOD = JSON.stringify({
  id: "ok",
  expect: "no_task_found",
  frame: { app_name: "A", window_title: "T", ocr_text: "x" },
  context: {},
});

/** A JSONL line: the good case with `patch` merged in (a key set to undefined is dropped). */
function line(patch: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(GOOD), ...patch });
}

Deno.test("cases: bad input is one line naming the file and line, exit 2, no report", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "eval_cases_" });
  try {
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      return `${dir}/${name}`;
    };
    await Deno.mkdir(`${dir}/empty`);
    await Deno.mkdir(`${dir}/sub`);
    const frame = { app_name: "A", window_title: "T", ocr_text: "x" };
    const cases: Array<{ name: string; args: string[]; line: RegExp }> = [
      {
        name: "malformed line",
        args: [await write("malformed.jsonl", `${GOOD}\n\n{"id": "x", "expect":\n`)],
        line: /^eval: .*\/malformed\.jsonl:3: not valid JSON$/,
      },
      {
        name: "unknown expect",
        args: [await write("expect.jsonl", `${GOOD}\n${line({ id: "b", expect: "extract" })}\n`)],
        line:
          /^eval: .*\/expect\.jsonl:2: unknown "expect" "extract": must be one of extract_task, reject_task, no_task_found$/,
      },
      {
        name: "missing expect",
        args: [await write("noexpect.jsonl", line({ expect: undefined }))],
        line: /^eval: .*\/noexpect\.jsonl:1: "expect" is missing$/,
      },
      {
        name: "missing jpeg_path",
        args: [
          await write("jpeg.jsonl", line({ frame: { ...frame, jpeg_path: "img/nope.jpg" } })),
        ],
        line: /^eval: .*\/jpeg\.jsonl:1: "frame\.jpeg_path" "img\/nope\.jpg" not found$/,
      },
      {
        name: "jpeg_path outside the file's folder",
        args: [
          await write("secret.jpg", "\xff\xd8\xff").then(() =>
            write("sub/outside.jsonl", line({ frame: { ...frame, jpeg_path: "../secret.jpg" } }))
          ),
        ],
        line:
          /^eval: .*\/outside\.jsonl:1: "frame\.jpeg_path" "\.\.\/secret\.jpg" leaves the folder of its file$/,
      },
      {
        name: "absolute jpeg_path",
        args: [await write("abs.jsonl", line({ frame: { ...frame, jpeg_path: "/etc/hostname" } }))],
        line:
          /^eval: .*\/abs\.jsonl:1: "frame\.jpeg_path" "\/etc\/hostname" must be relative to the file$/,
      },
      {
        name: "jpeg_path that is not a JPEG",
        args: [
          await write("notjpeg.jsonl", line({ frame: { ...frame, jpeg_path: "notjpeg.jsonl" } })),
        ],
        line: /^eval: .*\/notjpeg\.jsonl:1: "frame\.jpeg_path" "notjpeg\.jsonl" is not a JPEG$/,
      },
      {
        name: "missing id",
        args: [await write("noid.jsonl", line({ id: "" }))],
        line: /^eval: .*\/noid\.jsonl:1: "id" must be a non-empty string$/,
      },
      {
        name: "frame field of the wrong type",
        args: [await write("frame.jsonl", line({ frame: { ...frame, ocr_text: 5 } }))],
        line: /^eval: .*\/frame\.jsonl:1: "frame\.ocr_text" must be a string$/,
      },
      {
        name: "context not as on the wire",
        args: [
          await write(
            "context.jsonl",
            line({ context: { active_tasks: [{ task_id: "x", description: "d" }] } }),
          ),
        ],
        line: /^eval: .*\/context\.jsonl:1: "context\.active_tasks\.0\.task_id" is invalid: /,
      },
      {
        name: "a line that is not an object",
        args: [await write("array.jsonl", "[1, 2]\n")],
        line: /^eval: .*\/array\.jsonl:1: a case must be a JSON object$/,
      },
      {
        name: "duplicate id across files",
        args: [await write("dup1.jsonl", GOOD), await write("dup2.jsonl", `\n${GOOD}`)],
        line: /^eval: .*\/dup2\.jsonl:2: duplicate "id" "ok" \(first at .*\/dup1\.jsonl:1\)$/,
      },
      {
        name: "empty file",
        args: [await write("blank.jsonl", "\n\n")],
        line: /^eval: .*\/blank\.jsonl holds no cases$/,
      },
      {
        name: "folder without .jsonl",
        args: [`${dir}/empty`],
        line: /^eval: .*\/empty holds no \.jsonl files$/,
      },
      {
        name: "missing path",
        args: [`${dir}/nope.jsonl`],
        line: /^eval: Cannot read .*\/nope\.jsonl: no such file or folder$/,
      },
      {
        name: "unknown provider",
        args: [await write("fine.jsonl", GOOD), "--provider", "anthropic"],
        line:
          /^eval: unknown provider "anthropic": use offline, gemini, vertex, openai or <provider>:<model>$/,
      },
      {
        name: "gemini without a key",
        args: [`${dir}/fine.jsonl`, "--provider", "gemini"],
        line: /^eval: configuration error for gemini: GEMINI_API_KEY is required/,
      },
      {
        name: "a baseline that is not a report",
        args: [`${dir}/fine.jsonl`, "--baseline", `${dir}/fine.jsonl`],
        line: /^eval: .*fine\.jsonl: not an eval --json report \(no "providers" list\)$/,
      },
      {
        name: "a baseline with a broken result entry",
        args: [
          `${dir}/fine.jsonl`,
          "--baseline",
          await write(
            "broken.json",
            JSON.stringify({
              providers: [{ provider: "offline", accuracy: 1, extract: {}, results: [null] }],
            }),
          ),
        ],
        line:
          /^eval: .*broken\.json: not an eval --json report \(providers\[0\]\.results\[0\] needs a string "id" and a boolean "correct"\)$/,
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const out = `${dir}/out.json`;
        const { code, stdout, stderr } = await runDeno(
          ["task", "--quiet", "eval", ...c.args, "--json", out],
          { cwd: ROOT },
        );
        assert.equal(code, 2, stderr);
        assert.equal(stdout, "");
        const lines = stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, stderr);
        assert.match(lines[0]!, c.line);
        await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cases: the loader's errors are EvalInputError with the same one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "eval_cases_" });
  try {
    await Deno.writeTextFile(`${dir}/a.jsonl`, line({ frame: { jpeg_base64: "x" } }));
    await assert.rejects(
      loadCases([`${dir}/a.jsonl`]),
      (err: Error) =>
        err instanceof EvalInputError &&
        err.message === `${dir}/a.jsonl:1: "frame.app_name" must be a string`,
    );
    await Deno.writeTextFile(`${dir}/b.txt`, GOOD);
    await assert.rejects(loadCases([`${dir}/b.txt`]), /b\.txt is not a \.jsonl file$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
