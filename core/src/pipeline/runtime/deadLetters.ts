import { isSchemaValidationError } from '../../errors/SchemaValidationError.js';
import { toJsonSafe } from '../../sinks/json.js';
import type { DeadLetter } from '../types.js';
import { codeOf } from './resilience.js';

/** Topic of dead letters whose record named no known stream (so no topic is known). */
export const UNROUTED_TOPIC = '_unrouted';

/**
 * Builds the dead letter of a record that cannot be delivered: the topic it was meant for, the
 * source, a stable code (`ERR_SCHEMA` for a schema mismatch, `ERR_UNKNOWN_STREAM`, `ERR_BAD_RECORD`,
 * or the error's own code), the bad field when known, the reason, and the record as JSON-safe data.
 * `scrub` removes secrets from the reason.
 *
 * @example
 * ```ts
 * import { toDeadLetter } from '@tributary/core';
 * const letter = toDeadLetter({ topic: 'prices', source: 'eia', value: record, error: err });
 * ```
 */
export function toDeadLetter(input: {
  topic: string;
  source: string;
  value: unknown;
  error: unknown;
  /** The shard of the source that produced the record, for a source split into shards. */
  shard?: number | undefined;
  timestamp?: number;
  scrub?: (text: string) => string;
}): DeadLetter {
  const scrub = input.scrub ?? ((t: string) => t);
  const err = input.error;
  const letter: DeadLetter = {
    topic: input.topic,
    source: input.source,
    code: codeOf(err),
    reason: scrub(err instanceof Error ? err.message : String(err)),
    value: scrubValue(toJsonSafe(input.value), scrub),
    timestamp: input.timestamp ?? Date.now(),
  };
  if (isSchemaValidationError(err) && err.field) letter.field = err.field;
  if (input.shard !== undefined) letter.shard = input.shard;
  return letter;
}

/** Scrubs every string inside a JSON-safe value (secrets echoed by an API into a record). */
function scrubValue(value: unknown, scrub: (text: string) => string): unknown {
  if (typeof value === 'string') return scrub(value);
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, scrub));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[scrub(k)] = scrubValue(v, scrub);
    return out;
  }
  return value;
}
