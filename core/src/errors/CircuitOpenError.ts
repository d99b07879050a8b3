import { TributaryError, brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.circuit-open');

/**
 * Thrown by `circuitBreaker` when the circuit is open (or half-open with no trial slot free).
 * Not retriable: retrying at once would be rejected again; `retryAfterMs` says when a trial
 * becomes possible.
 */
export class CircuitOpenError extends TributaryError {
  /** Name of the breaker that rejected the call. */
  readonly breaker: string;
  /** Milliseconds until the next trial call is let through (0 when half-open and busy). */
  readonly retryAfterMs: number;

  constructor(breaker: string, retryAfterMs: number) {
    super(`circuit "${breaker}" is open; next trial in ${Math.max(0, Math.round(retryAfterMs))} ms`, {
      code: 'ERR_CIRCUIT_OPEN',
      retriable: false,
    });
    this.name = 'CircuitOpenError';
    this.breaker = breaker;
    this.retryAfterMs = Math.max(0, retryAfterMs);
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link CircuitOpenError}. */
export function isCircuitOpenError(err: unknown): err is CircuitOpenError {
  return hasBrand(err, BRAND);
}
