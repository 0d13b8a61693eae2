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

/** A RESP reply: integer, bulk string, nil, array, error or status line. */
export type Resp = number | string | null | Resp[] | { error: string } | { status: string };

/**
 * How a {@link FakeRedis} treats its clients: `answer` replies to every command; `silent`
 * accepts and reads but never replies (a frozen server, a half-open TCP peer); `refuse` closes
 * every connection at once (a server going away, as the client sees it).
 */
export type FakeRedisMode = "answer" | "silent" | "refuse";

/**
 * A Redis that speaks RESP over a real loopback socket, for what a real server cannot be made
 * to do on demand: go silent with its connections open, or send a reply of the wrong shape.
 * It answers the handshake (INFO, CLIENT, PING, QUIT) itself; every other command is given to
 * `reply` (EVAL and EVALSHA alike: the arguments are `[script or sha, numkeys, ...keys, ...]`),
 * and a command it returns undefined for gets an error reply.
 */
export class FakeRedis implements AsyncDisposable {
  readonly port: number;
  /** Every command received, in order (the name upper-cased), in any mode. */
  readonly commands: string[][] = [];
  /** Connections accepted so far. */
  connections = 0;
  #mode: FakeRedisMode = "answer";
  #reply: (command: string[]) => Resp | undefined;
  #listener: Deno.Listener;
  #open = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  /** Called on every command and connection, for {@link waitFor}. */
  #watchers = new Set<() => void>();

  constructor(reply: (command: string[]) => Resp | undefined) {
    this.#reply = reply;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#spawn(this.#accept());
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get mode(): FakeRedisMode {
    return this.#mode;
  }

  /** Switches mode; `refuse` also closes the connections open now. */
  set mode(mode: FakeRedisMode) {
    this.#mode = mode;
    if (mode === "refuse") { for (const conn of this.#open) this.#close(conn); }
  }

  /** Commands received named `name` (case-insensitive). */
  received(name: string): string[][] {
    return this.commands.filter((command) => command[0] === name.toUpperCase());
  }

  /** Resolves once `check` holds (looked at on every command and connection); rejects after `ms`. */
  waitFor(what: string, check: () => boolean, ms = 10_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const watcher = () => {
        if (!check()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.#watchers.delete(watcher);
      };
      this.#watchers.add(watcher);
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const conn of this.#open) this.#close(conn);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #spawn(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  #notify(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // the listener is closed
      }
      this.connections++;
      this.#open.add(conn);
      if (this.#mode === "refuse") this.#close(conn);
      else this.#spawn(this.#serve(conn));
      this.#notify();
    }
  }

  #close(conn: Deno.Conn): void {
    if (!this.#open.delete(conn)) return;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const parser = new RespParser();
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) return;
        for (const command of parser.push(buffer.subarray(0, n))) {
          await this.#handle(conn, command);
        }
      }
    } catch {
      // closed by us or the client
    } finally {
      this.#close(conn);
    }
  }

  async #handle(conn: Deno.Conn, command: string[]): Promise<void> {
    command[0] = (command[0] ?? "").toUpperCase();
    this.commands.push(command);
    this.#notify();
    if (this.#mode !== "answer") return;
    // Not `??` alone: a nil reply (null) is an answer too.
    let reply = handshakeReply(command);
    if (reply === undefined) reply = this.#reply(command);
    if (reply === undefined) reply = { error: `ERR unknown command '${command[0]}'` };
    await writeAll(conn, new TextEncoder().encode(encodeResp(reply)));
    if (command[0] === "QUIT") this.#close(conn);
  }
}

/** What a fake server says to the commands ioredis sends on connecting (and QUIT). */
function handshakeReply(command: string[]): Resp | undefined {
  switch (command[0]) {
    case "INFO":
      return "# Server\r\nredis_version:7.2.0\r\nloading:0\r\n";
    case "CLIENT":
    case "QUIT":
    case "SELECT":
    case "AUTH":
      return { status: "OK" };
    case "PING":
      return { status: "PONG" };
    default:
      return undefined;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

/** RESP2 text of a reply. */
export function encodeResp(reply: Resp): string {
  if (reply === null) return "$-1\r\n";
  if (typeof reply === "number") return `:${Math.trunc(reply)}\r\n`;
  if (typeof reply === "string") {
    return `$${new TextEncoder().encode(reply).length}\r\n${reply}\r\n`;
  }
  if (Array.isArray(reply)) return `*${reply.length}\r\n${reply.map(encodeResp).join("")}`;
  if ("error" in reply) return `-${reply.error}\r\n`;
  return `+${reply.status}\r\n`;
}

/** Splits a client's byte stream into commands (arrays of bulk strings, as clients send). */
class RespParser {
  #pending = new Uint8Array(0);

  /** The commands completed by `bytes`. */
  push(bytes: Uint8Array): string[][] {
    const joined = new Uint8Array(this.#pending.length + bytes.length);
    joined.set(this.#pending);
    joined.set(bytes, this.#pending.length);
    const commands: string[][] = [];
    let offset = 0;
    for (;;) {
      const parsed = parseCommand(joined, offset);
      if (!parsed) break;
      commands.push(parsed.command);
      offset = parsed.next;
    }
    this.#pending = joined.slice(offset);
    return commands;
  }
}

/** One `*N\r\n($len\r\n<bytes>\r\n)×N` at `offset`, or undefined when it is not all there yet. */
function parseCommand(
  bytes: Uint8Array,
  offset: number,
): { command: string[]; next: number } | undefined {
  const header = readLine(bytes, offset);
  if (!header) return undefined;
  if (!header.line.startsWith("*")) {
    throw new Error(`not a RESP array: ${header.line.slice(0, 20)}`);
  }
  const count = Number(header.line.slice(1));
  const command: string[] = [];
  let at = header.next;
  for (let i = 0; i < count; i++) {
    const length = readLine(bytes, at);
    if (!length) return undefined;
    const size = Number(length.line.slice(1));
    const end = length.next + size;
    if (end + 2 > bytes.length) return undefined;
    command.push(new TextDecoder().decode(bytes.subarray(length.next, end)));
    at = end + 2;
  }
  return { command, next: at };
}

function readLine(bytes: Uint8Array, offset: number): { line: string; next: number } | undefined {
  for (let i = offset; i + 1 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) {
      return { line: new TextDecoder().decode(bytes.subarray(offset, i)), next: i + 2 };
    }
  }
  return undefined;
}
