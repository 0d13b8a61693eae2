/**
 * The committed console bundle (`src/console/bundle.gen.ts`) is what `src/console/app/`
 * bundles to: a change to the page's sources (or to the client it uses) without
 * `deno task console-build` fails here.
 */
import assert from "node:assert/strict";
import { runDeno } from "../fakes/deno_env.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("deno task console-build --check: the committed bundle is current", async () => {
  const run = await runDeno(["task", "--quiet", "console-build", "--check"], { cwd: ROOT });
  assert.equal(run.code, 0, run.stderr);
});
