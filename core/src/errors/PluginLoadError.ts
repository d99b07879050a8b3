import { NonRetriableError, brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.plugin');

/**
 * A plugin could not be loaded or is not a valid Tributary plugin: the package or file was not found,
 * the module exports no plugin, its metadata is wrong (name, semver version, core range) or it does
 * not support the installed `@tributary/core`. The message says what is wrong, with the specifier as
 * written in the pipeline file and the file it resolved to. Code `ERR_PLUGIN`; not retriable.
 *
 * @example
 * ```ts
 * import { isPluginLoadError, loadPlugin } from '@tributary/core';
 * try { await loadPlugin('@tributary/plugin-luchtmeetnet', { fromDir: process.cwd() }); }
 * catch (err) { if (isPluginLoadError(err)) console.error(err.specifier, err.message); }
 * ```
 */
export class PluginLoadError extends NonRetriableError {
  /** The specifier as written (package name or relative path), when known. */
  readonly specifier: string | undefined;
  /** The plugin's name (from its definition), when known. */
  readonly plugin: string | undefined;
  /** The file the specifier resolved to, when it got that far. */
  readonly file: string | undefined;

  constructor(message: string, options: { specifier?: string; plugin?: string; file?: string; cause?: unknown } = {}) {
    super(message, { code: 'ERR_PLUGIN', cause: options.cause });
    this.name = 'PluginLoadError';
    this.specifier = options.specifier;
    this.plugin = options.plugin;
    this.file = options.file;
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link PluginLoadError}. */
export function isPluginLoadError(err: unknown): err is PluginLoadError {
  return hasBrand(err, BRAND);
}
