/**
 * How the command-line scripts end: `main`'s exit code, or one line naming the failure (never
 * a stack trace), also for a promise rejected outside `main`.
 *
 * @module
 */

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
