/**
 * The environment a Deno child process needs to run at all, for tests (and benchmarks) that
 * spawn one with `clearEnv: true`: where Deno keeps its caches (`DENO_DIR`, `XDG_CACHE_HOME`,
 * `HOME`), the certificates and proxies it downloads through, `PATH` and `TMPDIR`. Without
 * them a child of a run with `DENO_DIR` set (as CI caches do) starts with an empty cache and
 * prints Deno's warning box where the test expects JSON.
 *
 * @module
 */

/** The variables passed through when set in this process. */
export const DENO_PASSTHROUGH: readonly string[] = [
  "DENO_DIR",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "HOME",
  "PATH",
  "XDG_CACHE_HOME",
  "TMPDIR",
];

/** Options of {@link denoEnv}. */
export interface DenoEnvOptions {
  /** Passthrough variables the child must not get (e.g. `HOME`, to mimic the image). */
  omit?: readonly string[];
}

/**
 * `env` on top of this process's {@link DENO_PASSTHROUGH} variables: what `env` sets always
 * wins, and a variable in `omit` is never passed through.
 */
export function denoEnv(
  env: Record<string, string> = {},
  options: DenoEnvOptions = {},
): Record<string, string> {
  const omit = new Set(options.omit ?? []);
  const out: Record<string, string> = {};
  for (const name of DENO_PASSTHROUGH) {
    if (omit.has(name)) continue;
    const value = Deno.env.get(name);
    if (value !== undefined && value !== "") out[name] = value;
  }
  return { ...out, ...env };
}

/**
 * Fills the Deno cache (`DENO_DIR` as {@link denoEnv} passes it) with what `modules` import,
 * so a child that runs one of them prints only its own output: into a cold cache, Deno writes
 * its download lines on the child's stderr, and a short-lived child exits before it has kept
 * what it fetched, so every run would print them again.
 */
export async function warmDenoCache(modules: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["cache", ...modules],
    clearEnv: true,
    env: denoEnv(),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`deno cache failed: ${new TextDecoder().decode(stderr)}`);
}

/** What a finished Deno child printed. */
export interface DenoOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno <args>` to the end with only the environment Deno needs ({@link denoEnv}) plus
 * `env`, stdin closed, and returns its exit code and output as text.
 */
export async function runDeno(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string | URL } = {},
): Promise<DenoOutput> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    clearEnv: true,
    env: denoEnv({ NO_COLOR: "1", ...options.env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
