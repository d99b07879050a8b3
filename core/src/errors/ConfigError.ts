import { NonRetriableError } from './TributaryError.js';
import { brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.config');

/** One problem found in a configuration file. */
export interface ConfigIssue {
  /** Dotted path inside the file, e.g. `sources.air.resilience.retry.maxRetries`; `''` for the whole file. */
  path: string;
  /** What was wrong and what was expected. */
  message: string;
  /** 1-based line in the file where the problem is, when known. */
  line?: number;
  /** 1-based column in the file where the problem is, when known. */
  column?: number;
}

/**
 * A configuration file (pipeline, plugin options) is invalid. Names the file and, for each
 * problem, the path inside it (and the line, when known). Not retriable.
 *
 * The message lists every issue on its own line:
 * ```text
 * invalid configuration in /srv/energy/pipeline.yaml (2 problems):
 *   - sources.air.resilience.retry.maxRetries (pipeline.yaml:14:23): expected a non-negative integer, got "three"
 *   - groups.crypto.sources[1]: unknown source "krakken" (sources: binance, kraken)
 * ```
 *
 * @example
 * ```ts
 * import { isConfigError, loadPipeline } from '@tributary/core';
 * try { await loadPipeline('pipeline.yaml'); }
 * catch (err) { if (isConfigError(err)) for (const i of err.issues) console.error(i.path, i.line, i.message); }
 * ```
 */
export class ConfigError extends NonRetriableError {
  readonly file: string | undefined;
  readonly issues: readonly ConfigIssue[];

  constructor(file: string | undefined, issues: ConfigIssue[], options: { cause?: unknown } = {}) {
    const count = issues.length === 1 ? '' : ` (${issues.length} problems)`;
    const head = file ? `invalid configuration in ${file}${count}` : `invalid configuration${count}`;
    const base = file ? baseName(file) : undefined;
    const lines = issues.map((i) => {
      const where = i.line !== undefined ? ` (${base ?? 'line'}:${i.line}${i.column !== undefined ? `:${i.column}` : ''})` : '';
      return `  - ${i.path || '(root)'}${where}: ${i.message}`;
    });
    super([head + ':', ...lines].join('\n'), { code: 'ERR_CONFIG', cause: options.cause });
    this.name = 'ConfigError';
    this.file = file;
    this.issues = issues;
    brand(this, BRAND);
  }
}

function baseName(file: string): string {
  const parts = file.split(/[\\/]/);
  return parts[parts.length - 1] || file;
}

/** True when `err` is a {@link ConfigError}. */
export function isConfigError(err: unknown): err is ConfigError {
  return hasBrand(err, BRAND);
}
