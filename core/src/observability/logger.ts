import { pino, type Logger, type LevelWithSilent } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { MIN_SECRET_LENGTH, REDACTED } from '../http/redact.js';

/**
 * Returns a function that replaces every occurrence of the given secrets in a string with `***`.
 *
 * Each secret is matched as written, JSON-escaped (as it appears inside a JSON log line) and
 * URL-encoded (as it appears in a query string), longest first. Secrets shorter than 4
 * characters are ignored (like `scrubSecrets`, which this extends with the JSON-escaped form).
 *
 * @example
 * ```ts
 * import { secretScrubber } from '@tributary/core';
 * const scrub = secretScrubber([process.env.EIA_API_KEY ?? '']);
 * console.error(scrub(String(err)));
 * ```
 */
export function secretScrubber(secrets: readonly string[]): (text: string) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
    forms.add(encodeURIComponent(secret));
    forms.add(encodeURIComponent(secret).replace(/%20/g, '+'));
  }
  if (forms.size === 0) return (text) => text;
  const pattern = new RegExp(
    [...forms]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('|'),
    'g',
  );
  return (text) => (typeof text === 'string' ? text.replace(pattern, REDACTED) : text);
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Name of the root logger. Default `'tributary'`. */
  name?: string;
  /** Minimum level. Default: `$TRIBUTARY_LOG_LEVEL`, else `'info'`. */
  level?: LevelWithSilent;
  /**
   * `'pretty'` (human-readable, via pino-pretty), `'json'` (one JSON object per line) or `'auto'`:
   * pretty when the destination is a terminal, JSON otherwise. Default `'auto'`.
   */
  format?: 'pretty' | 'json' | 'auto';
  /** Values scrubbed from every line before it is written (API keys, passwords). Default none. */
  secrets?: readonly string[];
  /**
   * Where lines go. Default `process.stderr`, so that the `stdout` sink's output stays clean.
   * Anything with a `write(string)` method works (tests pass an array collector).
   */
  destination?: { write(line: string): unknown; isTTY?: boolean };
}

/**
 * Creates the pino logger of a pipeline run, with secrets scrubbed from every line.
 *
 * Lines go to stderr by default. In `'auto'` format they are pretty-printed when stderr is a
 * terminal and JSON otherwise. Every line (message, bound fields, serialized errors and their
 * stacks) is scrubbed of the given secrets after formatting, so a key that leaks into an error
 * message or a URL never reaches the output. Use `logger.child({ source })` for one logger per source.
 *
 * @example
 * ```ts
 * import { createLogger } from '@tributary/core';
 * const log = createLogger({ level: 'debug', secrets: [process.env.API_KEY ?? ''] });
 * log.child({ source: 'air' }).info({ records: 3 }, 'cycle done');
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && destination.isTTY === true);
  const scrub = secretScrubber(options.secrets ?? []);
  const prettify = pretty
    ? prettyFactory({ colorize: destination.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : undefined;
  const stream = {
    write(line: string): void {
      destination.write(scrub(prettify ? prettify(line) : line));
    },
  };
  const envLevel = process.env.TRIBUTARY_LOG_LEVEL as LevelWithSilent | undefined;
  return pino(
    {
      name: options.name ?? 'tributary',
      level: options.level ?? envLevel ?? 'info',
      base: undefined,
      redact: {
        paths: ['password', '*.password', 'apiKey', '*.apiKey', 'headers.authorization', '*.headers.authorization'],
        censor: REDACTED,
      },
    },
    stream,
  );
}

/**
 * A logger that writes nothing (for tests and library use without logs).
 *
 * @example
 * ```ts
 * import { silentLogger, PipelineRunner } from '@tributary/core';
 * new PipelineRunner({ pipeline, plugins, logger: silentLogger() });
 * ```
 */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
