/**
 * Browser runner of the bundle smoke test, run by `bundle_test.ts` in its own process
 * (playwright-core needs `--allow-all` in Deno: it probes `/proc/sys`):
 *
 *     deno run -A tests/client/bundle_browser.ts <dist/client.js> <ws url> [chromium]
 *
 * Serves a page, the bundle and `bundle_smoke.mjs` on a free loopback port, opens the page
 * in headless Chromium (Debian's, not a downloaded one) and prints the smoke result as one
 * JSON line.
 */
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "../fakes/chromium.ts";

const SMOKE = new URL("bundle_smoke.mjs", import.meta.url);

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>proactive client bundle</title>
<script type="module">
  import * as client from "/client.js";
  import { smoke } from "/bundle_smoke.mjs";
  const url = new URLSearchParams(location.search).get("ws");
  window.smokeResult = smoke(client, url);
</script>
`;

/** Serves the page, the bundle and the shared smoke script. */
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
    if (pathname === "/bundle_smoke.mjs") {
      return new Response(await Deno.readFile(SMOKE), { headers: js });
    }
    return new Response("not found", { status: 404 });
  });
}

/** Runs the smoke test in Chromium; the result, with any page errors. */
export async function runInBrowser(
  bundle: string,
  wsUrl: string,
  executablePath = "/usr/bin/chromium",
): Promise<Record<string, unknown>> {
  const site = servePage(bundle);
  try {
    const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (error) => pageErrors.push(String(error)));
      await page.goto(`http://127.0.0.1:${site.addr.port}/?ws=${encodeURIComponent(wsUrl)}`);
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
  const [bundle, wsUrl, executablePath] = Deno.args;
  if (!bundle || !wsUrl) {
    console.error("usage: bundle_browser.ts <dist/client.js> <ws url> [chromium]");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await runInBrowser(bundle, wsUrl, executablePath)));
}
