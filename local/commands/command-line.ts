import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where a command writes; tests pass their own. */
export interface CommandOutput {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: CommandOutput = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Exit codes of the commands: 2 is a usage error, as shells expect. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * Runs `main` when the module is the script node (or tsx) was started with, so tests can
 * import the command and call `main` themselves.
 */
export function runIfMain(moduleUrl: string, main: (argv: string[], output: CommandOutput) => Promise<number>): void {
  const script = process.argv[1];
  if (!script) return;
  let scriptPath: string;
  try {
    scriptPath = realpathSync(script);
  } catch {
    return;
  }
  if (scriptPath !== realpathSync(fileURLToPath(moduleUrl))) return;
  main(process.argv.slice(2), processOutput).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      processOutput.err(error instanceof Error ? error.message : String(error));
      process.exitCode = EXIT.failed;
    },
  );
}
