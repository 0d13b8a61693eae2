/**
 * Small helpers shared by the benchmark scripts: percentiles and `/proc` readings.
 *
 * @module
 */

/** The `p`th percentile (nearest rank) of an ascending array; 0 when it is empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/**
 * The texts of some `/proc` files, in order (`""` for one that could not be read).
 *
 * Deno 2.9 refuses to read `/proc/<pid>/…` without `--allow-all`, which `deno task bench`
 * does not grant; it grants `--allow-run`, so the files are read by one `cat` process
 * (a few ms, only at the edges of a measuring window). A direct read is tried first.
 */
export async function readProcFiles(paths: string[]): Promise<string[]> {
  try {
    return paths.map((path) => Deno.readTextFileSync(path));
  } catch {
    // fall back to cat
  }
  const texts: string[] = [];
  for (const path of paths) {
    const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    texts.push(out.success ? new TextDecoder().decode(out.stdout) : "");
  }
  return texts;
}

/** CPU time (user + system) from the text of `/proc/<pid>/stat`, ms; NaN when unreadable. */
export function cpuMsFromStat(stat: string, ticksPerSecond = 100): number {
  if (!stat) return NaN;
  // The command name (field 2) may hold spaces; the fields after its ")" are fixed.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / ticksPerSecond;
}

/** CPU time (user + system) of each process so far, ms (NaN for one that is gone). */
export async function cpuMsOf(pids: number[], ticksPerSecond = 100): Promise<number[]> {
  const texts = await readProcFiles(pids.map((pid) => `/proc/${pid}/stat`));
  return texts.map((text) => cpuMsFromStat(text, ticksPerSecond));
}

/** Resident memory of a process (`VmRSS`), KiB; NaN when unreadable. */
export async function rssKibOf(pid: number): Promise<number> {
  const [status] = await readProcFiles([`/proc/${pid}/status`]);
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status ?? "");
  return m ? Number(m[1]) : NaN;
}

/** CPU time all cores of the machine have spent busy since boot, ms (`/proc/stat`). */
export function machineBusyMsFromStat(stat: string, ticksPerSecond = 100): number {
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return NaN;
  // user nice system idle iowait irq softirq steal …
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/)
    .slice(1).map(Number);
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return (busy * 1000) / ticksPerSecond;
}
