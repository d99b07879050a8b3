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
export { SourcesFailedError, isSourcesFailedError, type SourceFailure } from './SourcesFailedError.js';
export { NetworkError, isNetworkError, type NetworkErrorOptions } from './NetworkError.js';
export { PluginLoadError, isPluginLoadError } from './PluginLoadError.js';
export {
  SchemaCompatibilityError,
  isSchemaCompatibilityError,
  parseIncompatibilities,
  type SchemaIncompatibility,
  type SchemaCompatibilityErrorOptions,
} from './SchemaCompatibilityError.js';
export { DeliveryError, isDeliveryError, type DeliveryErrorOptions } from './DeliveryError.js';
