/**
 * Debian's Chromium for the browser tests: where it is, the flags that work on a machine
 * without a network or a GPU, and whether a test may skip when it is missing (only when
 * `PROACTIVE_REQUIRE_BROWSER` is unset; `.ci/run` sets it and installs the browser).
 */

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
