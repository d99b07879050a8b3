/**
 * Tributary's HTTP client (the one handed to collector plugins) and the redaction helpers that
 * keep secrets out of its errors, logs and metrics.
 * @packageDocumentation
 */
export {
  HttpClient,
  DEFAULT_USER_AGENT,
  DEFAULT_MAX_BODY_BYTES,
  type HttpClientOptions,
  type HttpClientLogger,
  type HttpRequestOptions,
  type HttpRequest,
  type HttpResponse,
  type QueryValue,
  type ExpectStatus,
  type WithEmptyOn,
} from './client.js';
export { redactUrl, scrubSecrets, DEFAULT_REDACT_NAMES, REDACTED, MIN_SECRET_LENGTH } from './redact.js';
