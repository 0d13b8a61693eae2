/**
 * How the command-line scripts end: `main`'s exit code, or one line naming the failure (never
 * a stack trace), also for a promise rejected outside `main`.
 *
 * @module
 */
import { progressBar } from "../src/replay/report.ts";

/** A failure in words for the user, and the exit code it gets. */
export interface Failure {
  message: string;
  code: number;
}

/** Runs `main(Deno.args)` and exits with its code; failures print `<name>: <message>`. */
export async function runCli(
  name: string,
  main: (args: string[]) => Promise<number>,
  describe: (err: unknown) => Failure,
): Promise<never> {
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error(`${name}: ${describe(event.reason).message}`);
    Deno.exit(1);
  });
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (err) {
    const failure = describe(err);
    console.error(`${name}: ${failure.message}`);
    code = failure.code;
  }
  Deno.exit(code);
}

/** Progress on stderr: a redrawn bar when stderr is a terminal. */
export interface StderrProgress {
  /** Whether stderr is a terminal (the bar is drawn only then). */
  readonly tty: boolean;
  /** Redraws the bar at `done` of `total`, labelled. */
  bar(done: number, total: number, label: string): void;
  /** Writes a whole line (the caller decides when, e.g. only without a terminal). */
  line(text: string): void;
  /** Clears the bar. */
  end(): void;
}

/** The progress writer every script shares. */
export function stderrProgress(): StderrProgress {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  const width = () => {
    try {
      return Deno.consoleSize().columns || 80;
    } catch {
      return 80;
    }
  };
  return {
    tty,
    bar(done, total, label) {
      if (tty) write(`\r\x1b[2K${progressBar(done, total, label, width())}`);
    },
    line(text) {
      write(`${text}\n`);
    },
    end() {
      if (tty) write("\r\x1b[2K");
    },
  };
}
