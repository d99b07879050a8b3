/**
 * @internal Option checks shared by the operators: a bad option throws a `ConfigError` that names
 * the operator (`where`), the option's path and what was expected.
 */
import { ConfigError } from '../../errors/ConfigError.js';

/** @internal A short description of a bad value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/** @internal The `ConfigError` for one bad option. */
export function optionError(where: string, path: string, expected: string, got: unknown): ConfigError {
  return new ConfigError(undefined, [{ path, message: `${where}: expected ${expected}, got ${describeValue(got)}` }]);
}

/** @internal Throws {@link optionError} unless `ok`. */
export function check(ok: boolean, where: string, path: string, expected: string, got: unknown): void {
  if (!ok) throw optionError(where, path, expected, got);
}

/** @internal A positive integer option, or its default. */
export function positiveInt(value: number | undefined, fallback: number, where: string, path: string): number {
  if (value === undefined) return fallback;
  check(typeof value === 'number' && Number.isInteger(value) && value > 0, where, path, 'a positive integer', value);
  return value;
}

/** @internal A duration option in milliseconds (>= 0), or its default. */
export function nonNegativeMs(value: number | undefined, fallback: number, where: string, path: string): number {
  if (value === undefined) return fallback;
  check(typeof value === 'number' && Number.isFinite(value) && value >= 0, where, path, 'a finite number of milliseconds >= 0', value);
  return value;
}
