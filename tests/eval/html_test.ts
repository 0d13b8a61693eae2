/**
 * The `--html` page of `deno task eval`, opened in headless Chromium (Debian's
 * `/usr/bin/chromium`, driven by playwright-core in a child `deno run --allow-all` process,
 * `html_browser.ts`): the matrices and the chart render, with no page error and no request
 * beyond the page itself. Skipped only when `/usr/bin/chromium` is missing and
 * `PROACTIVE_REQUIRE_BROWSER` is not set.
 */
import assert from "node:assert/strict";
import { runDeno } from "../fakes/deno_env.ts";
import type { PageResult } from "./html_browser.ts";
import { CHROMIUM, skipBrowserTest } from "../fakes/chromium.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const RUNNER = new URL("html_browser.ts", import.meta.url).pathname;

Deno.test({
  name: "deno task eval --html: the matrices and the chart render offline in Chromium",
  ignore: skipBrowserTest(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "eval_html_" });
    try {
      const json = `${dir}/old.json`;
      const first = await runDeno(
        ["task", "--quiet", "eval", "tests/eval/fixtures", "--json", json],
        { cwd: ROOT },
      );
      assert.equal(first.code, 0, first.stderr);
      const html = `${dir}/report.html`;
      const second = await runDeno([
        "task",
        "--quiet",
        "eval",
        "tests/eval/fixtures",
        "--provider",
        "offline",
        "--baseline",
        json,
        "--html",
        html,
      ], { cwd: ROOT });
      assert.equal(second.code, 0, second.stderr);
      const page = await runDeno(["run", "--allow-all", RUNNER, html, CHROMIUM], { cwd: ROOT });
      assert.equal(page.code, 0, page.stderr);
      const result = JSON.parse(page.stdout.trim().split("\n").at(-1) ?? "") as PageResult;
      assert.deepEqual(result.pageErrors, [], "no errors on the page");
      assert.deepEqual(result.consoleErrors, [], "no console errors");
      assert.deepEqual(result.requests, [], "no network requests");
      assert.equal(result.matrices.length, 1);
      assert.equal(result.matrices[0]!.provider, "offline");
      assert.deepEqual(result.matrices[0]!.cells, [
        ["expected \\ got", "extract_task", "reject_task", "no_task_found", "error"],
        ["extract_task", "2", "0", "0", "0"],
        ["reject_task", "0", "2", "0", "0"],
        ["no_task_found", "1", "0", "2", "0"],
      ]);
      assert.equal(result.points.length, 1);
      assert.equal(result.points[0]!.provider, "offline");
      assert.ok(Number.isFinite(result.points[0]!.cx) && Number.isFinite(result.points[0]!.cy));
      assert.ok(
        result.chart.width > 100 && result.chart.height > 100,
        JSON.stringify(result.chart),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
