/**
 * Every `deno task` script behaves like a tool: `--help` and `-h` print its usage on stdout
 * and exit 0 without side effects (no file written, no server started, nothing measured), and
 * `bench` writes BENCHMARKS.md only when asked.
 */
import assert from "node:assert/strict";
import { benchOptions } from "../bench/bench.ts";
import {
  bareSpecifiers,
  lockDifferences,
  pruneConfig,
  reachedSpecifiers,
} from "../scripts/image_config.ts";
import { roundMs } from "../scripts/replay.ts";
import { denoEnv, type DenoOutput, runDeno } from "./fakes/deno_env.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** Files a script could write; each must be untouched by `--help`. */
const WATCHED = [
  "docs/protocol.schema.json",
  "BENCHMARKS.md",
  "eval/privacy/corpus.jsonl",
  "src/console/bundle.gen.ts",
];

/** `deno task <args>` in the project root, with the environment Deno needs and no other. */
function task(args: string[]): Promise<DenoOutput> {
  return runDeno(["task", "--quiet", ...args], { cwd: ROOT });
}

async function snapshot(): Promise<string[]> {
  return await Promise.all(WATCHED.map(async (path) => {
    const info = await Deno.stat(`${ROOT}${path}`);
    const text = await Deno.readTextFile(`${ROOT}${path}`);
    return `${path} ${info.mtime?.getTime()} ${text.length} ${text}`;
  }));
}

Deno.test("every deno task script answers --help and -h with its usage, exit 0, no side effects", async (t) => {
  const usages: Array<[string, RegExp]> = [
    ["start", /^usage: deno task start/],
    ["schema", /^usage: deno task schema/],
    ["prompt-size", /^usage: deno task prompt-size/],
    ["replay", /^usage: deno task replay/],
    ["eval", /^usage: deno task eval/],
    ["bench", /^usage: deno task bench \[--quick\] \[--write \| --out FILE\]/],
    ["bench-messages", /^usage: deno task bench-messages .*\[--write \| --out FILE\]/],
    ["privacy-eval", /^usage: deno task privacy-eval/],
    ["privacy-corpus", /^usage: deno task privacy-corpus/],
    ["bench-privacy", /^usage: deno task bench-privacy/],
    ["console-build", /^usage: deno task console-build/],
    ["dev", /^usage: deno task dev/],
    ["compile", /^usage: deno task dev \[--print\]\n\s+deno task compile/],
    // `deno bundle` answers for itself.
    ["build", /Output a single JavaScript file/],
    // `deno test` answers for itself.
    ["test", /^Run tests\n/],
  ];
  for (const [name, usage] of usages) {
    for (const flag of ["--help", "-h"]) {
      await t.step(`${name} ${flag}`, async () => {
        const before = await snapshot();
        const { code, stdout, stderr } = await task([name, flag]);
        assert.equal(code, 0, `${name} ${flag}: ${stderr}`);
        assert.match(stdout, usage);
        assert.doesNotMatch(stdout, /"msg":"listening"|\[bench\]|wrote /);
        assert.deepEqual(await snapshot(), before, `${name} ${flag} modified a file`);
      });
    }
  }
});

Deno.test("deno task bench writes BENCHMARKS.md only with --write (or another file with --out)", () => {
  assert.deepEqual(benchOptions([]), { quick: false, out: undefined });
  assert.deepEqual(benchOptions(["--quick"]), { quick: true, out: undefined });
  assert.deepEqual(benchOptions(["--write"]), { quick: false, out: `${ROOT}BENCHMARKS.md` });
  assert.deepEqual(benchOptions(["--out", "/tmp/b.md", "--quick"]), {
    quick: true,
    out: "/tmp/b.md",
  });
  assert.equal((benchOptions(["--write", "--out", "x.md"]) as { exit: number }).exit, 2);
  assert.equal((benchOptions(["--bogus"]) as { exit: number }).exit, 2);
  assert.equal((benchOptions(["-h"]) as { exit: number }).exit, 0);
});

Deno.test("deno task replay --json rounds times to one decimal", () => {
  assert.equal(roundMs(12.3456), 12.3);
  assert.equal(roundMs(0.04), 0);
  assert.equal(roundMs(1999.96), 2000);
});

Deno.test("the image's deno.json keeps only what main.ts reaches and denies lifecycle scripts", async () => {
  assert.deepEqual(
    bareSpecifiers(
      'import { z } from "zod";\nimport "./x.ts";\nimport type { A } from "@google/genai/web";\n' +
        'const m = await import("jose");\nimport assert from "node:assert";\nexport * from "yaml";',
    ).sort(),
    ["@google/genai/web", "jose", "yaml", "zod"],
  );
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  const reached = await reachedSpecifiers(new URL("../main.ts", import.meta.url));
  const { config: image, kept, dropped } = pruneConfig(config, reached, lock);
  for (const testOnly of ["ajv", "yaml", "playwright-core"]) {
    if (testOnly in config.imports) assert.ok(dropped.includes(testOnly), testOnly);
    assert.ok(!kept.includes(testOnly), testOnly);
  }
  for (const runtime of ["zod", "jose", "@google/genai"]) assert.ok(kept.includes(runtime));
  assert.deepEqual(Object.keys(image).sort(), ["allowScripts", "compilerOptions", "imports"]);
  const withScripts = Object.entries(lock.npm as Record<string, { scripts?: boolean }>)
    .filter(([, info]) => info.scripts).map(([nv]) => `npm:${nv.slice(0, nv.indexOf("@", 1))}`);
  assert.ok(withScripts.length > 0);
  assert.deepEqual(
    (image.allowScripts as { deny: string[] }).deny,
    [...new Set(withScripts)].sort(),
  );
  assert.throws(
    () => pruneConfig({ imports: {} }, new Set(["left-pad"]), {}),
    /not in deno.json "imports": left-pad/,
  );
  assert.deepEqual(lockDifferences(lock, lock), []);
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--no-lock", `${ROOT}scripts/image_config.ts`, "--help"],
    clearEnv: true,
    env: denoEnv({ NO_COLOR: "1" }),
  }).output();
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /^usage: .*image_config\.ts prune/s);
  const changed = structuredClone(lock);
  const [first] = Object.keys(changed.npm);
  changed.npm[first!].integrity = "sha512-other";
  assert.deepEqual(lockDifferences(changed, lock), [`npm ${first}`]);
});
