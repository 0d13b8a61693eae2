/**
 * `deno task schema [--check]`: rewrites docs/protocol.schema.json from the zod definitions,
 * or, with `--check`, only says whether the committed file is up to date (exit 1 if not).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { protocolJsonSchemaText } from "../src/protocol/schema.ts";

const USAGE = `usage: deno task schema [--check]

Rewrites docs/protocol.schema.json from the protocol's zod definitions.
  --check     write nothing; exit 1 if the file differs from what would be written
  -h, --help  print this and exit`;

const FILE = new URL("../docs/protocol.schema.json", import.meta.url);

async function main(args: string[]): Promise<number> {
  let values: { check?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: { check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (err) {
    console.error(`schema: ${err instanceof Error ? err.message : err}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const text = protocolJsonSchemaText();
  if (values.check) {
    let current = "";
    try {
      current = await Deno.readTextFile(FILE);
    } catch {
      // missing: out of date
    }
    if (current === text) {
      console.log("docs/protocol.schema.json is up to date");
      return 0;
    }
    console.error("docs/protocol.schema.json is out of date: run `deno task schema`");
    return 1;
  }
  await Deno.writeTextFile(FILE, text);
  console.log("wrote docs/protocol.schema.json");
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
