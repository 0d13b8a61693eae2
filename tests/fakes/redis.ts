/**
 * A real `redis-server` for the shared-limits tests, on a free loopback port of its own, with
 * no persistence, stopped by `await using`. Tests skip (with a clear `ignore`) when the binary
 * is missing, unless `PROACTIVE_REQUIRE_REDIS` is set (`.ci/run` sets it and installs Redis).
 */

/** Where Debian's `redis-server` and `redis-cli` live. */
const REDIS_SERVER = "/usr/bin/redis-server";
const REDIS_CLI = "/usr/bin/redis-cli";

/** Whether `redis-server` is installed. */
export function haveRedis(): boolean {
  try {
    Deno.statSync(REDIS_SERVER);
    Deno.statSync(REDIS_CLI);
    return true;
  } catch {
    return false;
  }
}

/** Whether a Redis test must be skipped: no Redis here, and none required. */
export function skipRedisTest(): boolean {
  return !haveRedis() && !Deno.env.get("PROACTIVE_REQUIRE_REDIS");
}

/**
 * A self-signed certificate for 127.0.0.1 (valid until 2125), for the `rediss://` test: what
 * the server presents, and what `REDIS_CA_CERT` trusts. Test-only; never used elsewhere.
 */
export const TLS_CERT = new URL("./redis_tls/cert.pem", import.meta.url).pathname;
const TLS_KEY = new URL("./redis_tls/key.pem", import.meta.url).pathname;

/** A free TCP port on 127.0.0.1 (closed again at once). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A `redis-server` child process; `stop` and `start` again keep its port. */
export class RedisServer implements AsyncDisposable {
  readonly port: number;
  readonly password: string | undefined;
  /** Whether it speaks TLS only ({@link TLS_CERT}). */
  readonly tls: boolean;
  #child: Deno.ChildProcess | undefined;

  private constructor(port: number, password: string | undefined, tls: boolean) {
    this.port = port;
    this.password = password;
    this.tls = tls;
  }

  /**
   * Starts a server (with `requirepass` when `password` is given, TLS only with `tls`) and
   * waits for PONG.
   */
  static async start(options: { password?: string; tls?: boolean } = {}): Promise<RedisServer> {
    const server = new RedisServer(freePort(), options.password, options.tls ?? false);
    await server.restart();
    return server;
  }

  /** `redis://` (or `rediss://`) URL of the server, with the password when it has one. */
  get url(): string {
    const auth = this.password ? `:${encodeURIComponent(this.password)}@` : "";
    return `${this.tls ? "rediss" : "redis"}://${auth}127.0.0.1:${this.port}`;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** (Re)starts the server on its port, empty, and waits until it answers. */
  async restart(): Promise<void> {
    if (this.#child) return;
    const listen = this.tls
      ? [
        "--port",
        "0",
        "--tls-port",
        String(this.port),
        "--tls-cert-file",
        TLS_CERT,
        "--tls-key-file",
        TLS_KEY,
        "--tls-auth-clients",
        "no",
      ]
      : ["--port", String(this.port)];
    const args = [
      ...listen,
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--enable-debug-command",
      "local",
      "--loglevel",
      "warning",
      ...(this.password ? ["--requirepass", this.password] : []),
    ];
    this.#child = new Deno.Command(REDIS_SERVER, { args, stdout: "null", stderr: "null" })
      .spawn();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const answer = await this.cli("PING").catch(() => "");
      if (answer === "PONG") return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the server (SIGKILL: as abrupt as a crash) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
  }

  /** Runs one command with `redis-cli` and returns its trimmed output. */
  async cli(...args: string[]): Promise<string> {
    const output = await new Deno.Command(REDIS_CLI, {
      args: [
        "-h",
        "127.0.0.1",
        "-p",
        String(this.port),
        ...(this.tls ? ["--tls", "--cacert", TLS_CERT] : []),
        ...args,
      ],
      env: this.password ? { REDISCLI_AUTH: this.password } : {},
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    if (!output.success || text.startsWith("Could not connect")) {
      throw new Error(`redis-cli ${args[0]} failed`);
    }
    return text;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
