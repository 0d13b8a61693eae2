/**
 * Debian's Chromium for the browser tests: where it is, the flags that work on a machine
 * without a network or a GPU, and whether a test may skip when it is missing (only when
 * `PROACTIVE_REQUIRE_BROWSER` is unset; `.ci/run` sets it and installs the browser).
 */

import type { Page } from "playwright-core";

/** The browser the tests drive (Debian's package; never a downloaded one). */
export const CHROMIUM = "/usr/bin/chromium";

/** Launch flags; playwright adds a fresh `--user-data-dir` of its own. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Whether the browser is installed. */
export function haveChromium(): boolean {
  try {
    Deno.statSync(CHROMIUM);
    return true;
  } catch {
    return false;
  }
}

/** Whether a browser test must be skipped: no browser here, and none required. */
export function skipBrowserTest(): boolean {
  return !haveChromium() && !Deno.env.get("PROACTIVE_REQUIRE_BROWSER");
}

/** What a page did that a test checks: its errors, its console errors, every URL it asked for. */
export interface PageWatch {
  pageErrors: string[];
  consoleErrors: string[];
  /** Requests and WebSocket connections, in order. */
  requests: string[];
}

/** Starts recording {@link PageWatch} for `page`. */
export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = { pageErrors: [], consoleErrors: [], requests: [] };
  page.on("pageerror", (error) => watch.pageErrors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") watch.consoleErrors.push(message.text());
  });
  page.on("request", (request) => watch.requests.push(request.url()));
  page.on("websocket", (ws) => watch.requests.push(ws.url()));
  return watch;
}
