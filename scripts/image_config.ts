/**
 * The image's `deno.json` and its lockfile check, run by the Dockerfile's build stage (not a
 * `deno task`; it needs no dependency, so it runs with `--no-config --no-lock`):
 *
 * - `prune <entry.ts>` rewrites `./deno.json` to what running `<entry.ts>` needs: the
 *   `imports` its module graph (relative imports, followed from the entry) reaches, so
 *   test-only packages (`ajv`, `yaml`, `playwright-core`, …) are never installed into the
 *   image; `compilerOptions`; and an `allowScripts.deny` naming every locked package with
 *   lifecycle scripts, which the image never runs, so Deno does not print its "Ignored build
 *   scripts" box. Everything else (name, tasks, fmt, lint, publish, exports) is dropped.
 * - `verify-lock <committed deno.lock>` fails unless every entry of `./deno.lock` (the one
 *   `deno install` wrote for the pruned config) is in the committed lockfile, unchanged: the
 *   image gets no package version or integrity the repository did not lock.
 *
 * @module
 */

const USAGE = `usage: deno run --no-config --no-lock --allow-read=. --allow-write=deno.json \\
         scripts/image_config.ts prune <entry.ts>
       deno run --no-config --no-lock --allow-read scripts/image_config.ts verify-lock <deno.lock>

prune        rewrite ./deno.json to the imports <entry.ts> reaches, deny lifecycle scripts
verify-lock  fail unless ./deno.lock is a subset of the given (committed) lockfile
-h, --help   print this and exit`;

/** Bare specifiers (`zod`, `@google/genai/x`) of `source`: static, side-effect and dynamic. */
export function bareSpecifiers(source: string): string[] {
  const found = new Set<string>();
  const patterns = [
    /\b(?:from|import)\s*"([^"]+)"/g,
    /\bimport\s*\(\s*"([^"]+)"\s*\)/g,
    /\bexport\s+(?:\*|\{[^}]*\})\s*from\s*"([^"]+)"/g,
  ];
  for (const pattern of patterns) {
    for (const m of source.matchAll(pattern)) {
      const specifier = m[1] ?? "";
      if (/^(?:\.{1,2}\/|\/|[a-z][a-z0-9+.-]*:)/i.test(specifier)) continue;
      found.add(specifier);
    }
  }
  return [...found];
}

/** Relative specifiers of `source`, resolved against `url`. */
function relativeImports(source: string, url: URL): URL[] {
  const out: URL[] = [];
  for (const m of source.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    out.push(new URL(m[1] ?? "", url));
  }
  return out;
}

/** Every bare specifier the module graph of `entry` reaches through relative imports. */
export async function reachedSpecifiers(entry: URL): Promise<Set<string>> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const pending = [entry];
  for (let url = pending.pop(); url; url = pending.pop()) {
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    const source = await Deno.readTextFile(url);
    for (const specifier of bareSpecifiers(source)) bare.add(specifier);
    pending.push(...relativeImports(source, url));
  }
  return bare;
}

/** Whether import map key `key` maps `specifier` (exactly, or as a prefix ending in `/`). */
function maps(key: string, specifier: string): boolean {
  if (key.endsWith("/")) return specifier.startsWith(key);
  return specifier === key || specifier.startsWith(`${key}/`);
}

interface Lockfile {
  specifiers?: Record<string, string>;
  npm?: Record<string, { scripts?: boolean } & Record<string, unknown>>;
  [key: string]: unknown;
}

/** The image's deno.json for `config`, the graph's bare specifiers and the lockfile. */
export function pruneConfig(
  config: Record<string, unknown>,
  reached: Set<string>,
  lock: Lockfile,
): { config: Record<string, unknown>; kept: string[]; dropped: string[] } {
  const imports = (config.imports ?? {}) as Record<string, string>;
  const kept: string[] = [];
  const dropped: string[] = [];
  const pruned: Record<string, string> = {};
  for (const [key, target] of Object.entries(imports)) {
    if ([...reached].some((specifier) => maps(key, specifier))) {
      pruned[key] = target;
      kept.push(key);
    } else {
      dropped.push(key);
    }
  }
  const unmapped = [...reached].filter((specifier) =>
    !Object.keys(pruned).some((key) => maps(key, specifier))
  );
  if (unmapped.length) throw new Error(`not in deno.json "imports": ${unmapped.join(", ")}`);
  const withScripts = Object.entries(lock.npm ?? {}).filter(([, info]) => info.scripts === true)
    .map(([nv]) => `npm:${nv.slice(0, nv.indexOf("@", 1))}`)
    .sort();
  // No "name": without "exports" Deno would warn about it on every start.
  const out: Record<string, unknown> = { imports: pruned };
  if (config.compilerOptions !== undefined) out.compilerOptions = config.compilerOptions;
  if (withScripts.length) out.allowScripts = { deny: [...new Set(withScripts)] };
  return { config: out, kept, dropped };
}

/** Entries of `pruned` missing from, or different in, `committed`; empty when a subset. */
export function lockDifferences(pruned: Lockfile, committed: Lockfile): string[] {
  const differences: string[] = [];
  for (const section of ["specifiers", "npm", "jsr", "remote"] as const) {
    const mine = (pruned[section] ?? {}) as Record<string, unknown>;
    const theirs = (committed[section] ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(mine)) {
      if (JSON.stringify(value) !== JSON.stringify(theirs[key])) {
        differences.push(`${section} ${key}`);
      }
    }
  }
  return differences;
}

async function main(args: string[]): Promise<number> {
  const [command, file, ...rest] = args;
  if (command === "--help" || command === "-h") {
    console.log(USAGE);
    return 0;
  }
  const cwd = new URL(`file://${Deno.cwd()}/`);
  if (command === "prune" && file && rest.length === 0) {
    const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", cwd)));
    const lock = JSON.parse(await Deno.readTextFile(new URL("deno.lock", cwd))) as Lockfile;
    const reached = await reachedSpecifiers(new URL(file, cwd));
    const result = pruneConfig(config, reached, lock);
    await Deno.writeTextFile(
      new URL("deno.json", cwd),
      `${JSON.stringify(result.config, null, 2)}\n`,
    );
    console.log(`image_config: kept ${result.kept.join(", ") || "no imports"}`);
    console.log(`image_config: dropped ${result.dropped.join(", ") || "nothing"}`);
    return 0;
  }
  if (command === "verify-lock" && file && rest.length === 0) {
    const pruned = JSON.parse(await Deno.readTextFile(new URL("deno.lock", cwd))) as Lockfile;
    const committed = JSON.parse(await Deno.readTextFile(new URL(file, cwd))) as Lockfile;
    const differences = lockDifferences(pruned, committed);
    if (differences.length) {
      console.error(`image_config: not in the committed lockfile: ${differences.join("; ")}`);
      return 1;
    }
    console.log("image_config: deno.lock is a subset of the committed lockfile");
    return 0;
  }
  console.error(USAGE);
  return 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
