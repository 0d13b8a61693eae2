/**
 * `deno run -A bench/idle_memory.ts [--sessions N]`: resident memory per idle session of our
 * server with its slowloris guard on (the default) and off (`HEADER_TIMEOUT_MS=0`), and of the
 * bare server, each freshly started, in one run. The same measurement as `deno task bench`'s
 * memory step, without the rest of the run.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadGenerator, type ServerKind, startFake, startServer } from "./servers.ts";
import { rssKibOf } from "./stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { sessions: { type: "string", default: "3000" } },
});
const sessions = Number(values.sessions);

async function perSession(kind: ServerKind, guard: boolean): Promise<number> {
  if (guard) Deno.env.delete("HEADER_TIMEOUT_MS");
  else Deno.env.set("HEADER_TIMEOUT_MS", "0");
  const fake = await startFake();
  const server = await startServer(kind, fake);
  try {
    const warm = loadGenerator(server, ["--mode", "idle", "--sessions", "50"], true);
    await warm.nextEvent("idle_ready", 60_000);
    await warm.closeStdin();
    await warm.nextEvent("done", 30_000);
    await warm.stop();
    await new Promise((r) => setTimeout(r, 1_000));
    const before = await rssKibOf(server.proc.pid);
    const gen = loadGenerator(server, ["--mode", "idle", "--sessions", String(sessions)], true);
    try {
      const ready = await gen.nextEvent<{ opened: number }>("idle_ready", 240_000);
      await new Promise((r) => setTimeout(r, 2_000));
      const after = await rssKibOf(server.proc.pid);
      await gen.closeStdin();
      await gen.nextEvent("done", 30_000).catch(() => {});
      return (after - before) / Math.max(1, ready.opened);
    } finally {
      await gen.stop();
    }
  } finally {
    await server.proc.stop();
    await fake.proc.stop();
  }
}

const rows: Array<[string, number]> = [
  ["ours, guard on", await perSession("ours", true)],
  ["ours, guard off", await perSession("ours", false)],
  ["bare", await perSession("bare", false)],
];
for (const [name, kib] of rows) console.log(`${name}: ${kib.toFixed(1)} KiB per idle session`);
