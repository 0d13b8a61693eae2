/**
 * `deno task dev` and `deno task compile`: main.ts with the permissions of `deno task start`,
 * read from deno.json, so the three can never drift apart.
 *
 * - `dev`: `deno run --watch <start's permissions> main.ts`, restarted on every change.
 * - `compile`: `deno compile <start's permissions> --output dist/proactive main.ts`.
 *
 * `--help` prints the usage and does nothing else; `--print` prints the command line it would
 * run, as a JSON array, and runs nothing.
 *
 * @module
 */

const USAGE = `usage: deno task dev [--print]
       deno task compile [--print]

dev      runs main.ts with the permissions of \`deno task start\`, restarting on every change
compile  writes dist/proactive, one binary with the permissions of \`deno task start\`
  --print     print the command line as a JSON array and run nothing
  -h, --help  print this and exit`;

const ROOT = new URL("../", import.meta.url);

/** `deno task start`'s permission flags: the words between `deno run` and `main.ts`. */
export async function startPermissions(): Promise<string[]> {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks;
  const words = String(tasks.start).trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || words.at(-1) !== "main.ts") {
    throw new Error(`the start task is not "deno run <permissions> main.ts": ${tasks.start}`);
  }
  return words.slice(2, -1);
}

/** The command line of `kind`, without the Deno executable. */
export async function commandOf(kind: "dev" | "compile"): Promise<string[]> {
  const flags = await startPermissions();
  return kind === "dev"
    ? ["run", "--watch", ...flags, "main.ts"]
    : ["compile", ...flags, "--output", "dist/proactive", "main.ts"];
}

async function main(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  if (rest.includes("--help") || rest.includes("-h") || (kind !== "dev" && kind !== "compile")) {
    console.log(USAGE);
    return kind === "dev" || kind === "compile" ? 0 : 2;
  }
  const unknown = rest.filter((arg) => arg !== "--print");
  if (unknown.length) {
    console.error(`${kind}: unknown argument ${JSON.stringify(unknown[0])}\n${USAGE}`);
    return 2;
  }
  const command = await commandOf(kind);
  if (rest.includes("--print")) {
    console.log(JSON.stringify(["deno", ...command]));
    return 0;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: command,
    cwd: ROOT,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the child through the terminal; SIGTERM is passed on.
  const forward = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGTERM", forward);
  const status = await child.status;
  Deno.removeSignalListener("SIGTERM", forward);
  return status.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
