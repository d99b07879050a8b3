/** Anything signals can be listened on (`process` by default; an EventEmitter in tests). */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

/** Options of {@link installSignalHandlers}. */
export interface SignalHandlerOptions {
  /** The first SIGINT/SIGTERM: start a graceful shutdown. */
  onFirst: (signal: NodeJS.Signals) => void;
  /** Any later one: exit at once. */
  onSecond: (signal: NodeJS.Signals) => void;
  /** Signals to handle. Default `['SIGINT', 'SIGTERM']`. */
  signals?: readonly NodeJS.Signals[];
  /** Where to listen. Default `process`. */
  process?: SignalSource;
}

/**
 * Installs the two-step shutdown of `tributary run`: the first SIGINT or SIGTERM calls `onFirst`
 * (stop scheduling, let running cycles finish, flush), any further one calls `onSecond` (exit at
 * once). Returns `remove()` to uninstall the handlers.
 *
 * @example
 * ```ts
 * import { installSignalHandlers } from '@tributary/core';
 * const handlers = installSignalHandlers({
 *   onFirst: (signal) => void runner.stop(signal),
 *   onSecond: () => process.exit(130),
 * });
 * await runner.run();
 * handlers.remove();
 * ```
 */
export function installSignalHandlers(options: SignalHandlerOptions): { remove(): void; readonly count: number } {
  const target: SignalSource = options.process ?? process;
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  let count = 0;
  const handler = (signal: NodeJS.Signals): void => {
    count++;
    if (count === 1) options.onFirst(signal);
    else options.onSecond(signal);
  };
  for (const s of signals) target.on(s, handler);
  return {
    remove: () => {
      for (const s of signals) target.off(s, handler);
    },
    get count() {
      return count;
    },
  };
}
