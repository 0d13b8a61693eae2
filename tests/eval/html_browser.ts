/**
 * Browser runner of the `--html` page test, run by `html_test.ts` in its own process
 * (playwright-core needs `--allow-all` in Deno: it probes `/proc/sys`):
 *
 *     deno run -A tests/eval/html_browser.ts <report.html> [chromium]
 *
 * Opens the page from its file in headless Chromium (Debian's, not a downloaded one) and
 * prints, as one JSON line, what rendered (the matrices' cells, the chart's points and size),
 * the page errors and every request other than the page itself.
 */
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, watchPage } from "../fakes/chromium.ts";

/** Reads the matrices, the chart's points and its size, in the page. */
const READ_PAGE = `(() => {
  const matrices = [...document.querySelectorAll("table.confusion")].map((table) => ({
    provider: table.getAttribute("data-provider") ?? "",
    cells: [...table.querySelectorAll("tr")].map((tr) =>
      [...tr.querySelectorAll("th, td")].map((c) => c.textContent ?? "")
    ),
  }));
  const points = [...document.querySelectorAll("svg.chart circle.point")].map((c) => ({
    provider: c.getAttribute("data-provider") ?? "",
    cx: Number(c.getAttribute("cx")),
    cy: Number(c.getAttribute("cy")),
  }));
  const box = document.querySelector("svg.chart")?.getBoundingClientRect();
  return { matrices, points, chart: { width: box?.width ?? 0, height: box?.height ?? 0 } };
})()`;

/** What the page showed. */
export interface PageResult {
  browser: string;
  pageErrors: string[];
  consoleErrors: string[];
  /** Requests other than the page's own document. */
  requests: string[];
  matrices: Array<{ provider: string; cells: string[][] }>;
  points: Array<{ provider: string; cx: number; cy: number }>;
  chart: { width: number; height: number };
}

/** Opens `file` in Chromium and reads what rendered. */
export async function inspectPage(
  file: string,
  executablePath = "/usr/bin/chromium",
): Promise<PageResult> {
  const url = new URL(`file://${file}`).href;
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const watch = watchPage(page);
    await page.goto(url, { waitUntil: "load" });
    // A string, evaluated in the page: this file is type-checked without the DOM library.
    const rendered = await page.evaluate(READ_PAGE) as Pick<
      PageResult,
      "matrices" | "points" | "chart"
    >;
    return {
      browser: browser.version(),
      pageErrors: watch.pageErrors,
      consoleErrors: watch.consoleErrors,
      requests: watch.requests.filter((request) => request !== url),
      ...rendered,
    };
  } finally {
    await browser.close();
  }
}

if (import.meta.main) {
  const [file, executablePath] = Deno.args;
  if (!file) {
    console.error("usage: html_browser.ts <report.html> [chromium]");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await inspectPage(file, executablePath)));
}
