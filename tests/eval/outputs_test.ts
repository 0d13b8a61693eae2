/**
 * `deno task eval`'s output files: checked before anything runs (a bad `--json` / `--html`
 * path is one line, exit 2, no run), written atomically, and a write that still fails after
 * the run never loses what was measured (the table is printed, the JSON is saved elsewhere).
 */
import assert from "node:assert/strict";
import { checkWritable, writeAtomic, writeOutputs } from "../../scripts/eval.ts";
import { type EvalReport, providerReport, REPORT_FORMAT } from "../../src/eval/report.ts";
import { runDeno } from "../fakes/deno_env.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = "tests/eval/fixtures";

function evalTask(args: string[]) {
  return runDeno(["task", "--quiet", "eval", ...args], { cwd: ROOT });
}

const REPORT: EvalReport = {
  format: REPORT_FORMAT,
  generated_at: "2026-01-01T00:00:00.000Z",
  inputs: ["cases.jsonl"],
  providers: [
    providerReport(
      {
        provider: "offline",
        kind: "offline",
        model: "offline",
        thinking_budget: null,
        media_resolution: null,
        prompt_version: "0123456789ab",
      },
      1,
      [{
        id: "c1",
        where: "cases.jsonl:1",
        expected: "no_task_found",
        got: "no_task_found",
        detail: "",
        ms: 1,
      }],
    ),
  ],
};

Deno.test("deno task eval: an output path that cannot be written is refused before the run", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "eval_out_" });
  try {
    await Deno.writeTextFile(`${dir}/file`, "x");
    await Deno.mkdir(`${dir}/folder`);
    const cases = [
      { name: "--json in a missing folder", args: ["--json", `${dir}/missing/out.json`] },
      { name: "--json under a file", args: ["--json", `${dir}/file/out.json`] },
      { name: "--html that is a folder", args: ["--html", `${dir}/folder`] },
      {
        name: "--json and --html the same file",
        args: ["--json", `${dir}/a`, "--html", `${dir}/a`],
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const { code, stdout, stderr } = await evalTask([FIXTURES, ...c.args]);
        assert.equal(code, 2, stderr);
        // Nothing ran: no table, and one line naming the option.
        assert.equal(stdout, "");
        assert.equal(stderr.trim().split("\n").length, 1, stderr);
        assert.match(stderr, /^eval: --(json|html) /);
      });
    }
    // No probe or temporary file is left behind.
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assert.deepEqual(left.sort(), ["file", "folder"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval outputs: checkWritable accepts a new or existing file in a folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "eval_out_" });
  try {
    await checkWritable(`${dir}/new.json`, "--json");
    await Deno.writeTextFile(`${dir}/old.json`, "{}");
    await checkWritable(`${dir}/old.json`, "--json");
    await assert.rejects(() => checkWritable(`${dir}/`, "--json"), /not a file name/);
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assert.deepEqual(left, ["old.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval outputs: writeAtomic replaces the file and leaves no temporary file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "eval_out_" });
  try {
    await Deno.writeTextFile(`${dir}/out.json`, "old");
    await writeAtomic(`${dir}/out.json`, "new");
    assert.equal(await Deno.readTextFile(`${dir}/out.json`), "new");
    await Deno.mkdir(`${dir}/folder`);
    await Deno.writeTextFile(`${dir}/folder/inside`, "x");
    await assert.rejects(() => writeAtomic(`${dir}/folder`, "text"));
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assert.deepEqual(left.sort(), ["folder", "out.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval outputs: a write that fails after the run still prints the table and keeps the JSON", async () => {
  const printed: string[] = [];
  const rescued: string[] = [];
  const failures = await writeOutputs(
    REPORT,
    { json: "/x/out.json", html: "/x/out.html" },
    new Map(),
    {
      write: () => Promise.reject(new Deno.errors.PermissionDenied("no")),
      print: (text) => printed.push(text),
      rescue: (json) => {
        rescued.push(json);
        return Promise.resolve("/tmp/saved.json");
      },
    },
  );
  assert.equal(printed.length, 1);
  assert.match(printed[0]!, /^provider\s+offline$/m);
  assert.equal(JSON.parse(rescued[0]!).providers[0].provider, "offline");
  assert.deepEqual(failures, [
    "Cannot write the JSON report /x/out.json: permission denied",
    "the JSON report was saved to /tmp/saved.json instead",
    "Cannot write the HTML page /x/out.html: permission denied",
  ]);
  // All well: nothing to report, and the table still printed.
  const written: string[] = [];
  assert.deepEqual(
    await writeOutputs(REPORT, { json: "/x/out.json" }, new Map(), {
      write: (path) => {
        written.push(path);
        return Promise.resolve();
      },
      print: (text) => printed.push(text),
    }),
    [],
  );
  assert.deepEqual(written, ["/x/out.json"]);
  assert.equal(printed.length, 2);
});
