import type { SignalSource } from '../pipeline/runtime/shutdown.js';

/** Exit codes of the `tributary` command. */
export const EXIT = {
  /** Success; also a run stopped cleanly by SIGINT/SIGTERM. */
  OK: 0,
  /** A runtime failure: the sink failed, or a finite run (`--once`, a backfill) had failed cycles. */
  RUNTIME: 1,
  /** A configuration error (bad pipeline file, plugin options, usage); nothing ran. */
  CONFIG: 2,
  /** A second SIGINT/SIGTERM during shutdown: exited at once (128 + SIGINT). */
  SECOND_SIGNAL: 130,
} as const;

/** @internal What the CLI touches of the outside world (replaced in tests). */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  exit(code: number): void;
  process: SignalSource;
}

/** @internal The real process. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    exit: (code) => process.exit(code),
    process,
  };
}
