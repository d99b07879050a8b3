/**
 * What to do after a failed produce request: retry the same records (the broker is down, a
 * leader moved, a request timed out), start a new producer session first (the broker lost the
 * idempotent producer's state), or give up (the broker will never accept these records).
 */

/** @internal How the sink reacts to a failed send. */
export type SendFailure = 'retry' | 'reset' | 'fatal';

/** Broker error types (Kafka protocol names) that retrying the same records cannot fix. */
const FATAL_TYPES = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_REQUIRED_ACKS',
  'INVALID_TIMESTAMP',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_VERSION',
  'UNSUPPORTED_COMPRESSION_TYPE',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'POLICY_VIOLATION',
]);

/** Broker error types after which the producer needs a new producer id before retrying. */
const RESET_TYPES = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING']);

const FATAL_NAMES = new Set(['KafkaJSSASLAuthenticationError', 'KafkaJSInvalidVarIntError', 'KafkaJSInvalidLongError']);

/**
 * @internal Classifies a send error from any transport. Wrapping errors (kafkajs'
 * `KafkaJSNumberOfRetriesExceeded`, errors with a `cause`) are unwrapped to the broker's own
 * error. Tributary errors marked `retriable: false` (bad configuration) are fatal; anything
 * unknown is retried, since records must never be dropped on a guess.
 */
export function classifySendError(err: unknown): SendFailure {
  const seen = new Set<unknown>();
  let current: unknown = err;
  let verdict: SendFailure = 'retry';
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const e = current as { type?: unknown; name?: unknown; code?: unknown; retriable?: unknown; cause?: unknown; originalError?: unknown };
    const type = typeof e.type === 'string' ? e.type : undefined;
    if (type !== undefined && FATAL_TYPES.has(type)) return 'fatal';
    if (type !== undefined && RESET_TYPES.has(type)) verdict = 'reset';
    if (typeof e.name === 'string' && FATAL_NAMES.has(e.name)) return 'fatal';
    if (typeof e.code === 'string' && e.code.startsWith('ERR_') && e.retriable === false) return 'fatal';
    current = e.originalError ?? e.cause;
  }
  return verdict;
}

/** @internal The innermost message of a wrapped error, for logs. */
export function rootMessage(err: unknown): string {
  const seen = new Set<unknown>();
  let current: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const e = current as { message?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof e.message === 'string' && e.message) message = e.message;
    current = e.originalError ?? e.cause;
  }
  return message;
}
