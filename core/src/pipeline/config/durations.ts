/**
 * Durations and byte sizes as written in pipeline files: `500ms`, `30s`, `15m`, `24h`, `60d`,
 * combinations such as `1h30m`, and plain numbers (milliseconds / bytes).
 */

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_PART = /(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d|w)/y;

/**
 * Parses a duration into milliseconds; `undefined` when the text is not a duration.
 *
 * Accepts a non-negative number (milliseconds), a numeric string (milliseconds), or one or more
 * `<number><unit>` parts with units `ms`, `s`, `m`, `h`, `d`, `w` (`500ms`, `1.5s`, `15m`, `1h30m`,
 * `60d`). Negative values, unknown units and empty strings are rejected. The result is rounded to
 * a whole millisecond.
 *
 * @example
 * ```ts
 * import { parseDuration } from '@tributary/core';
 * parseDuration('1h30m'); // 5_400_000
 * parseDuration(250);     // 250
 * parseDuration('soon');  // undefined
 * ```
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text));
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    pos = DURATION_PART.lastIndex;
    while (text[pos] === ' ') pos++;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/**
 * Formats milliseconds as the shortest duration text that `parseDuration` reads back exactly.
 *
 * @example
 * ```ts
 * import { formatDuration } from '@tributary/core';
 * formatDuration(5_400_000); // '1h30m'
 * formatDuration(1500);      // '1s500ms'
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return String(ms);
  if (ms === 0) return '0ms';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1]] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: 1_024,
  mib: 1_048_576,
  gib: 1_073_741_824,
};

/**
 * Parses a byte size: a non-negative integer (bytes) or `<number><unit>` with units `B`, `kB`,
 * `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB` (powers of 1024), case-insensitive;
 * `undefined` when the text is not a size.
 *
 * @example
 * ```ts
 * import { parseByteSize } from '@tributary/core';
 * parseByteSize('64MiB'); // 67_108_864
 * ```
 */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i.exec(value);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}
