import { isCircuitOpenError } from './CircuitOpenError.js';
import { isClientError } from './HttpError.js';

/**
 * Whether an error is worth retrying: not a `CircuitOpenError`, not an HTTP 4xx client error
 * (other than 408/425/429), and not marked `retriable: false`. Works on errors of any origin.
 */
export function isRetriable(err: unknown): boolean {
  if (isCircuitOpenError(err)) return false;
  if (isClientError(err)) return false;
  if (typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === false) return false;
  return true;
}
