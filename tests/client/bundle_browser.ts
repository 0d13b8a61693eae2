/**
 * Browser runner of the bundle smoke test, run by `bundle_test.ts` in its own process
 * (playwright-core needs `--allow-all` in Deno: it probes `/proc/sys`):
 *
 *     deno run -A tests/client/bundle_browser.ts <dist/client.js> <ws url> [chromium] [scenario]
 *
 * Serves a page, the bundle, the scenario's script and the sample JPEGs on a free loopback
 * port, opens the page in headless Chromium (Debian's, not a downloaded one) and prints the
 * scenario's result as one JSON line. Scenarios: `smoke` (default, `bundle_smoke.mjs`) and
 * `screen_hash` (`screen_hash_browser.mjs`).
 */
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "../fakes/chromium.ts";

const SCRIPTS: Record<string, URL> = {
  "/bundle_smoke.mjs": new URL("bundle_smoke.mjs", import.meta.url),
  "/screen_hash_browser.mjs": new URL("screen_hash_browser.mjs", import.meta.url),
};
const SAMPLES = new URL("../../samples/", import.meta.url);

/** What the page runs: a scenario, by name. */
export type Scenario = "smoke" | "screen_hash";

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>proactive client bundle</title>
<script type="module">
  import * as client from "/client.js";
  const params = new URLSearchParams(location.search);
  const url = params.get("ws");
  window.smokeResult = params.get("scenario") === "screen_hash"
    ? import("/screen_hash_browser.mjs").then((m) => m.screenHashRun(client, url))
    : import("/bundle_smoke.mjs").then((m) => m.smoke(client, url));
</script>
`;

/** Serves the page, the bundle, the scenario scripts and the sample JPEGs. */
function servePage(bundle: string): Deno.HttpServer<Deno.NetAddr> {
  const js = { "content-type": "text/javascript; charset=utf-8" };
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/") {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (pathname === "/client.js") {
      return new Response(await Deno.readFile(bundle), { headers: js });
    }
    const script = SCRIPTS[pathname];
    if (script) return new Response(await Deno.readFile(script), { headers: js });
    const sample = /^\/samples\/([\w-]+\.jpg)$/.exec(pathname)?.[1];
    if (sample) {
      return new Response(await Deno.readFile(new URL(sample, SAMPLES)), {
        headers: { "content-type": "image/jpeg" },
      });
    }
    return new Response("not found", { status: 404 });
  });
}

/** Runs a scenario (default the smoke test) in Chromium; the result, with any page errors. */
export async function runInBrowser(
  bundle: string,
  wsUrl: string,
  executablePath = "/usr/bin/chromium",
  scenario: Scenario = "smoke",
): Promise<Record<string, unknown>> {
  const site = servePage(bundle);
  try {
    const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(String(error)));
      const query = new URLSearchParams({ ws: wsUrl, scenario });
      await page.goto(`http://127.0.0.1:${site.addr.port}/?${query}`);
      await page.waitForFunction(() => "smokeResult" in globalThis, null, { timeout: 30_000 });
      const result = await page.evaluate(() =>
        (globalThis as unknown as { smokeResult: Promise<Record<string, unknown>> }).smokeResult
      );
      return { browser: browser.version(), ...result, pageErrors };
    } finally {
      await browser.close();
    }
  } finally {
    await site.shutdown();
  }
}

if (import.meta.main) {
  const [bundle, wsUrl, executablePath, scenario = "smoke"] = Deno.args;
  if (!bundle || !wsUrl || (scenario !== "smoke" && scenario !== "screen_hash")) {
    console.error("usage: bundle_browser.ts <dist/client.js> <ws url> [chromium] [scenario]");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await runInBrowser(bundle, wsUrl, executablePath, scenario)));
}
