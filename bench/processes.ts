/**
 * Child processes of the benchmark: spawn a Deno script, read its JSON-line stdout, stop it.
 *
 * @module
 */

/** A running child with line-by-line access to its stdout and a tail of its stderr. */
export class ChildProc {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  readonly name: string;
  #lines: string[] = [];
  #waiters: Array<(line: string | null) => void> = [];
  #ended = false;
  #stderrTail = "";
  #pumps: Promise<void>;

  constructor(name: string, child: Deno.ChildProcess) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.#pumps = Promise.all([this.#pumpStdout(), this.#pumpStderr()]).then(() => {});
  }

  async #pumpStdout(): Promise<void> {
    let rest = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        this.#push(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
    }
    if (rest) this.#push(rest);
    this.#ended = true;
    for (const wake of this.#waiters.splice(0)) wake(null);
  }

  async #pumpStderr(): Promise<void> {
    for await (const chunk of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderrTail = (this.#stderrTail + chunk).slice(-4000);
    }
  }

  #push(line: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(line);
    else this.#lines.push(line);
  }

  /** The next stdout line; `null` once stdout ended; throws after `timeoutMs`. */
  nextLine(timeoutMs = 60_000): Promise<string | null> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: no output within ${timeoutMs} ms. ${this.stderrTail}`));
      }, timeoutMs);
      const waiter = (l: string | null) => {
        clearTimeout(timer);
        resolve(l);
      };
      this.#waiters.push(waiter);
    });
  }

  /** The next stdout line parsed as JSON whose `event` is `event` (other lines skipped). */
  async nextEvent<T = Record<string, unknown>>(event: string, timeoutMs = 60_000): Promise<T> {
    for (;;) {
      const line = await this.nextLine(timeoutMs);
      if (line === null) {
        throw new Error(`${this.name} exited before "${event}". ${this.stderrTail}`);
      }
      try {
        const parsed = JSON.parse(line) as { event?: string };
        if (parsed.event === event) return parsed as T;
      } catch {
        // not a JSON line
      }
    }
  }

  /** The last few KB the child wrote to stderr. */
  get stderrTail(): string {
    return this.#stderrTail.trim();
  }

  /** Closes the child's piped stdin (the idle load generator then lets its sessions go). */
  async closeStdin(): Promise<void> {
    await this.child.stdin.close().catch(() => {});
  }

  /** Sends `signal`, waits up to `graceMs`, then kills; resolves once it exited. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5_000): Promise<void> {
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, graceMs);
    await this.child.status;
    clearTimeout(timer);
    await this.#pumps.catch(() => {});
  }
}

/** Every child started through {@link spawnDeno}, so an interrupted run can stop them. */
export const children = new Set<ChildProc>();

/** Options of {@link spawnDeno}. */
export interface SpawnOptions {
  /** `deno` arguments: `["run", …flags, script, …args]`. */
  args: string[];
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
  /** Whether the child reads a piped stdin (closed by the caller). */
  stdin?: boolean;
}

/** Starts `deno <args>` with this process's Deno binary. */
export function spawnDeno(name: string, options: SpawnOptions): ChildProc {
  const command = new Deno.Command(Deno.execPath(), {
    args: options.args,
    ...(options.env ? { env: options.env } : {}),
    ...(options.clearEnv ? { clearEnv: true } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  const proc = new ChildProc(name, command.spawn());
  children.add(proc);
  proc.child.status.then(() => children.delete(proc));
  return proc;
}

/** A free loopback TCP port (closed again before it is returned). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
