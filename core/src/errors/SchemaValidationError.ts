import { NonRetriableError, brand, hasBrand } from './TributaryError.js';

const BRAND = Symbol.for('tributary.error.schema');

/** A record does not match its stream's Avro schema. Records with this error are dead-lettered. */
export class SchemaValidationError extends NonRetriableError {
  /** Dotted path of the first bad field, e.g. `measurement.value`. */
  readonly field: string;
  /** Name of the schema the record was checked against. */
  readonly schema: string;

  constructor(schema: string, field: string, reason: string) {
    super(`record does not match schema ${schema}: ${field || '(record)'}: ${reason}`, { code: 'ERR_SCHEMA' });
    this.name = 'SchemaValidationError';
    this.schema = schema;
    this.field = field;
    brand(this, BRAND);
  }
}

/** True when `err` is a {@link SchemaValidationError}. */
export function isSchemaValidationError(err: unknown): err is SchemaValidationError {
  return hasBrand(err, BRAND);
}
