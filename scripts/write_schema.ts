/** Rewrites docs/protocol.schema.json from the zod definitions: `deno task schema`. */
import { protocolJsonSchemaText } from "../src/protocol/schema.ts";

await Deno.writeTextFile(
  new URL("../docs/protocol.schema.json", import.meta.url),
  protocolJsonSchemaText(),
);
console.log("wrote docs/protocol.schema.json");
