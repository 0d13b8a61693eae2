/**
 * Writes the console's screenshots for the docs (`docs/console-1280.png`, 1280×800, and
 * `docs/console-390.png`, 390 px wide, the whole page) from the run the browser test makes
 * with the fake Gemini: the README's Slack example, its follow-ups and a search answered by
 * hand, so the timeline shows tokens, cached tokens and cost per model call.
 *
 *     deno run -A tests/console/screenshots.ts [out dir, default docs]
 */
import { CHROMIUM } from "../fakes/chromium.ts";
import { FakeGemini } from "../fakes/fake_gemini.ts";
import { MainProcess } from "../fakes/main_process.ts";
import { runConsole } from "./console_browser.ts";
import { consoleGeminiScript } from "./gemini_script.ts";

const out = Deno.args[0] ?? "docs";
const work = await Deno.makeTempDir({ prefix: "console_shots_" });
try {
  await using gemini = new FakeGemini(consoleGeminiScript());
  await using main = await MainProcess.start({
    GEMINI_API_KEY: "screenshot-key",
    GEMINI_BASE_URL: gemini.baseUrl,
  });
  const result = await runConsole({
    base: `http://${main.host}`,
    outDir: work,
    chromiumPath: CHROMIUM,
    byHand: true,
    screenshots: out,
  });
  console.log(result.screenshots.join("\n"));
  await main.stop("SIGTERM");
} finally {
  await Deno.remove(work, { recursive: true });
}
