import { NonRetriableError } from './TributaryError.js';
import { brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.config');

/** One problem found in a configuration file. */
export interface ConfigIssue {
  /** Dotted path inside the file, e.g. `sources.air.resilience.retry.maxRetries`. */
  path: string;
  /** What was wrong and what was expected. */
  message: string;
}

/**
 * A configuration file (pipeline, plugin options) is invalid. Names the file and, for each
 * problem, the path inside it. Not retriable.
 */
export class ConfigError extends NonRetriableError {
  readonly file: string | undefined;
  readonly issues: readonly ConfigIssue[];

  constructor(file: string | undefined, issues: ConfigIssue[], options: { cause?: unknown } = {}) {
    const head = file ? `invalid configuration in ${file}` : 'invalid configuration';
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`);
    super([head + ':', ...lines].join('\n'), { code: 'ERR_CONFIG', cause: options.cause });
    this.name = 'ConfigError';
    this.file = file;
    this.issues = issues;
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link ConfigError}. */
export function isConfigError(err: unknown): err is ConfigError {
  return hasBrand(err, BRAND);
}
