export { TributaryError, NonRetriableError, isTributaryError } from './TributaryError.js';
export {
  HttpError,
  isHttpError,
  isRetriableStatus,
  isClientError,
  statusOf,
  retryAfterOf,
  parseRetryAfter,
  type HttpErrorOptions,
} from './HttpError.js';
export { CircuitOpenError, isCircuitOpenError } from './CircuitOpenError.js';
export { TimeoutError, isTimeoutError } from './TimeoutError.js';
export { ConfigError, isConfigError, type ConfigIssue } from './ConfigError.js';
export { SchemaValidationError, isSchemaValidationError } from './SchemaValidationError.js';
export { ResponseError, isResponseError } from './ResponseError.js';
export { isRetriable } from './retriable.js';
