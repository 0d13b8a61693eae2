/**
 * `deno run -A bench/idle_memory.ts [--sessions N]`: resident memory per idle session of our
 * server with its slowloris guard on (the default) and off (`HEADER_TIMEOUT_MS=0`), and of the
 * bare server, each freshly started, in one run. The same measurement as `deno task bench`'s
 * memory step, without the rest of the run.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { idleMemory } from "./bench.ts";
import { type ServerKind, startFake } from "./servers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { sessions: { type: "string", default: "3000" } },
});
const sessions = Number(values.sessions);

async function perSession(kind: ServerKind, guard: boolean): Promise<number> {
  if (guard) Deno.env.delete("HEADER_TIMEOUT_MS");
  else Deno.env.set("HEADER_TIMEOUT_MS", "0");
  const fake = await startFake();
  try {
    return (await idleMemory(kind, fake, sessions)).perSessionKib;
  } finally {
    await fake.proc.stop();
  }
}

const rows: Array<[string, number]> = [
  ["ours, guard on", await perSession("ours", true)],
  ["ours, guard off", await perSession("ours", false)],
  ["bare", await perSession("bare", false)],
];
for (const [name, kib] of rows) console.log(`${name}: ${kib.toFixed(1)} KiB per idle session`);
