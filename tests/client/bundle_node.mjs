/**
 * Node runner of the bundle smoke test: `node bundle_node.mjs <dist/client.js> <ws url>`
 * imports the bundle, runs {@link smoke} and prints its result as one JSON line.
 */
import process from "node:process";
import { pathToFileURL } from "node:url";
import { smoke } from "./bundle_smoke.mjs";

const [bundle, url] = process.argv.slice(2);
const client = await import(pathToFileURL(bundle).href);
const result = await smoke(client, url);
console.log(
  JSON.stringify({ node: process.version, webSocket: typeof globalThis.WebSocket, ...result }),
);
