/**
 * `main.ts` as a real child process, for tests of the shipped binary's behaviour: its
 * environment is what the test gives (plus `PORT=0` and `METRICS_PORT=0` unless the test sets
 * them) on top of what Deno itself needs ({@link denoEnv}: `DENO_DIR`, certificates, proxies,
 * `HOME`, `PATH`), and everything it writes to stdout and stderr is kept for assertions.
 */
import { denoEnv } from "./deno_env.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Options of {@link MainProcess.start}. */
export interface MainProcessOptions {
  /**
   * The permission flags, exactly (default: `--allow-net --allow-env --allow-read`). Tests of
   * the shipped permissions pass those of `deno task start`.
   */
  permissions?: string[];
  /** Working directory (what `--allow-read=.` means); default: the test's. */
  cwd?: string;
  /** Variables Deno would get passed through that the child must not see (e.g. `HOME`). */
  omitEnv?: string[];
}

/** A running `main.ts`; `await using` kills it if the test did not stop it. */
export class MainProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** `host:port` it listens on. */
  readonly host: string;
  /** `host:port` of its metrics listener (`METRICS_PORT`). */
  readonly metricsHost: string;
  #output: { text: string };
  #pumps: Promise<void>;

  private constructor(
    child: Deno.ChildProcess,
    host: string,
    metricsHost: string,
    output: { text: string },
    pumps: Promise<void>,
  ) {
    this.child = child;
    this.host = host;
    this.metricsHost = metricsHost;
    this.#output = output;
    this.#pumps = pumps;
  }

  /** Starts main.ts with `env` and waits until it logs its address. */
  static async start(
    env: Record<string, string> = {},
    options: MainProcessOptions = {},
  ): Promise<MainProcess> {
    const permissions = options.permissions ?? ["--allow-net", "--allow-env", "--allow-read"];
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...permissions, MAIN],
      ...(options.cwd ? { cwd: options.cwd } : {}),
      clearEnv: true,
      env: denoEnv({ PORT: "0", METRICS_PORT: "0", NO_COLOR: "1", ...env }, {
        omit: options.omitEnv ?? [],
      }),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = { text: "" };
    let listening: (hosts: { host: string; metricsHost: string }) => void = () => {};
    const address = new Promise<{ host: string; metricsHost: string }>((resolve) =>
      listening = resolve
    );
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        output.text += chunk;
        const match = /"url":"http:\/\/([^"]+)"/.exec(output.text);
        const metrics = /"metrics":"http:\/\/([^"/]+)\/metrics"/.exec(output.text);
        if (match) listening({ host: match[1]!, metricsHost: metrics?.[1] ?? "" });
      }
    };
    const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() => {});
    const timeout = AbortSignal.timeout(30_000);
    const hosts = await Promise.race([
      address,
      child.status.then(() => undefined),
      new Promise<undefined>((resolve) =>
        timeout.addEventListener("abort", () => resolve(undefined))
      ),
    ]);
    const process = new MainProcess(
      child,
      hosts?.host ?? "",
      hosts?.metricsHost ?? "",
      output,
      pumps,
    );
    if (!hosts) {
      await process[Symbol.asyncDispose]();
      throw new Error(`main.ts did not report its address: ${output.text}`);
    }
    return process;
  }

  /** Everything written to stdout and stderr so far. */
  get output(): string {
    return this.#output.text;
  }

  /** Sends `signal` and waits for the exit; resolves with the status and the time it took. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<{ code: number; ms: number }> {
    const started = performance.now();
    this.child.kill(signal);
    const status = await this.child.status;
    await this.#pumps;
    return { code: status.code, ms: performance.now() - started };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.child.status;
    await this.#pumps;
  }
}
