/**
 * The developer console's page and script, as the server serves them at `/console` and
 * `/console/app.js` (docs/protocol.md §8): the HTML of `page.ts`, and the bundle of `app/`
 * that `deno task console-build` writes into `bundle.gen.ts`.
 *
 * @module
 */
export { CONSOLE_SCRIPT } from "./bundle.gen.ts";
export { type ConsoleAuth, consolePage } from "./page.ts";
