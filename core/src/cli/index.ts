/**
 * The `tributary` command as a library: run it with arguments and your own input/output streams
 * (tests, embedding), or add its `tail` command to a commander program of your own.
 *
 * @example
 * ```ts
 * import { main } from '@tributary/core/cli';
 * const code = await main(['validate', 'pipeline.yaml']);
 * ```
 * @packageDocumentation
 */
export { main } from './cli.js';
export { EXIT, processIo, type CliIo } from './io.js';
export { runTail, tailCommand, registerTailCommand, type TailOptions } from './tail.js';
