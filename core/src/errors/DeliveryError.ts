import { TributaryError, brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.delivery');

/** Options of {@link DeliveryError}. */
export interface DeliveryErrorOptions {
  /** The sink, e.g. `kafka`. */
  sink: string;
  /** How many records were not (or not confirmed to be) delivered. */
  undelivered: number;
  /** The topic, when the failure concerns one. */
  topic?: string;
  /** Whether writing the same records again may succeed. Default `true`. */
  retriable?: boolean;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Records were not delivered: the broker rejected them for good (a record too large, no
 * permission), or the sink closed before they were acknowledged (`close()` ran out of time
 * while the broker was unreachable). `undelivered` says how many; none of them was confirmed,
 * so a pipeline does not commit their source checkpoints and collects them again on the next
 * run.
 *
 * Code `ERR_UNDELIVERED`. Retriable unless the broker rejected the records themselves.
 *
 * @example
 * ```ts
 * import { isDeliveryError } from '@tributary/core';
 * try { await sink.close(); } catch (err) { if (isDeliveryError(err)) console.error(`${err.undelivered} records lost`); }
 * ```
 */
export class DeliveryError extends TributaryError {
  readonly sink: string;
  readonly undelivered: number;
  readonly topic: string | undefined;

  constructor(message: string, options: DeliveryErrorOptions) {
    super(message, { code: 'ERR_UNDELIVERED', retriable: options.retriable ?? true, cause: options.cause });
    this.name = 'DeliveryError';
    this.sink = options.sink;
    this.undelivered = options.undelivered;
    this.topic = options.topic;
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link DeliveryError}. */
export function isDeliveryError(err: unknown): err is DeliveryError {
  return hasBrand(err, BRAND);
}
