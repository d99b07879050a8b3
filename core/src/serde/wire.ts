import type { Type } from 'avsc';
import { NonRetriableError } from '../errors/TributaryError.js';
import { SchemaValidationError } from '../errors/SchemaValidationError.js';
import { findProblem, needsFullCheck, schemaNameOf } from './avro.js';

/** The two framings Tributary reads and writes. */
export type WireFormat = 'confluent' | 'single-object';

/** First byte of the Confluent framing. */
export const CONFLUENT_MAGIC = 0x00;
/** Length of the Confluent header: magic byte + 4-byte big-endian schema id. */
export const CONFLUENT_HEADER_SIZE = 5;
/** First two bytes of Avro single-object encoding. */
export const SINGLE_OBJECT_MAGIC: readonly [number, number] = [0xc3, 0x01];
/** Length of the single-object header: 2 magic bytes + 8-byte little-endian fingerprint. */
export const SINGLE_OBJECT_HEADER_SIZE = 10;

/**
 * Which framing a message uses, from its first bytes: `confluent` (`00` + schema id), or
 * `single-object` (`C3 01` + fingerprint); `undefined` for anything else.
 *
 * @example
 * ```ts
 * import { detectWireFormat } from '@tributary/core';
 * detectWireFormat(Buffer.from([0, 0, 0, 0, 7, 2])); // 'confluent'
 * ```
 */
export function detectWireFormat(buf: Uint8Array): WireFormat | undefined {
  if (buf.length >= CONFLUENT_HEADER_SIZE && buf[0] === CONFLUENT_MAGIC) return 'confluent';
  if (buf.length >= SINGLE_OBJECT_HEADER_SIZE && buf[0] === SINGLE_OBJECT_MAGIC[0] && buf[1] === SINGLE_OBJECT_MAGIC[1]) return 'single-object';
  return undefined;
}

const INITIAL_SCRATCH = 1024;
const MAX_KEPT_SCRATCH = 1024 * 1024;

/**
 * @internal Encodes values behind a fixed header into a reusable scratch buffer, then copies the
 * used bytes out: one allocation per value (the result). Validates first (see `encode`).
 */
export class FramedEncoder {
  private scratch: Buffer;
  private readonly headerSize: number;
  private readonly fullCheck: boolean;
  readonly schemaName: string;

  constructor(
    private readonly type: Type,
    header: Uint8Array,
    private readonly rejectUndeclaredFields = false,
  ) {
    this.headerSize = header.length;
    this.scratch = Buffer.allocUnsafe(INITIAL_SCRATCH);
    this.scratch.set(header, 0);
    this.schemaName = schemaNameOf(type);
    this.fullCheck = rejectUndeclaredFields || needsFullCheck(type);
  }

  /**
   * Checks `value` and encodes it. A value that does not fit the schema throws a
   * `SchemaValidationError` with the path of the first bad field; nothing is written.
   */
  encode(value: unknown): Buffer {
    // Encoding checks every value it writes and throws on the first bad one; the detailed error
    // is then built by `validate`. Schemas where that is not enough are checked in full first.
    if (this.fullCheck && !this.type.isValid(value, { noUndeclaredFields: this.rejectUndeclaredFields })) this.validate(value);
    let end: number;
    try {
      end = this.type.encode(value, this.scratch, this.headerSize);
      while (end < 0) {
        // Too small: grow to fit (encode returned minus the number of missing bytes) and retry.
        const grown = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.scratch.length - end + 64));
        this.scratch.copy(grown, 0, 0, this.headerSize);
        this.scratch = grown;
        end = this.type.encode(value, this.scratch, this.headerSize);
      }
    } catch (err) {
      this.validate(value);
      throw new SchemaValidationError(this.schemaName, '', (err as Error).message);
    }
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    if (this.scratch.length > MAX_KEPT_SCRATCH) {
      // One huge value should not keep a huge buffer alive.
      const small = Buffer.allocUnsafe(INITIAL_SCRATCH);
      this.scratch.copy(small, 0, 0, this.headerSize);
      this.scratch = small;
    }
    return out;
  }

  /** Throws the `SchemaValidationError` of the first problem of `value`, if any. */
  validate(value: unknown): void {
    const problem = findProblem(this.type, value, this.rejectUndeclaredFields);
    if (problem) throw new SchemaValidationError(this.schemaName, problem.field, problem.reason);
  }
}

function confluentHeader(schemaId: number): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0xffffffff) {
    throw new NonRetriableError(`invalid schema id ${schemaId}: expected an integer in 0..2^32-1`, { code: 'ERR_WIRE_FORMAT' });
  }
  const header = Buffer.alloc(CONFLUENT_HEADER_SIZE);
  header[0] = CONFLUENT_MAGIC;
  header.writeUInt32BE(schemaId, 1);
  return header;
}

function singleObjectHeader(fingerprint: bigint): Buffer {
  if (fingerprint < 0n || fingerprint > 0xffffffffffffffffn) {
    throw new NonRetriableError('invalid fingerprint: expected an unsigned 64-bit integer', { code: 'ERR_WIRE_FORMAT' });
  }
  const header = Buffer.alloc(SINGLE_OBJECT_HEADER_SIZE);
  header[0] = SINGLE_OBJECT_MAGIC[0];
  header[1] = SINGLE_OBJECT_MAGIC[1];
  header.writeBigUInt64LE(fingerprint, 2);
  return header;
}

/** @internal A FramedEncoder for the Confluent framing. */
export function confluentEncoder(schemaId: number, type: Type, rejectUndeclaredFields = false): FramedEncoder {
  return new FramedEncoder(type, confluentHeader(schemaId), rejectUndeclaredFields);
}

/** @internal A FramedEncoder for single-object encoding. */
export function singleObjectEncoder(fingerprint: bigint, type: Type, rejectUndeclaredFields = false): FramedEncoder {
  return new FramedEncoder(type, singleObjectHeader(fingerprint), rejectUndeclaredFields);
}

/**
 * Encodes a value in the Confluent wire format: magic byte `0`, the schema id as 4 big-endian
 * bytes, then the Avro binary body. Validates the value first (`SchemaValidationError`). For
 * many values of one schema, a `Serializer` is faster.
 *
 * @example
 * ```ts
 * import { compileSchema, encodeConfluent } from '@tributary/core';
 * encodeConfluent(7, compileSchema('string'), 'hi'); // <Buffer 00 00 00 00 07 04 68 69>
 * ```
 */
export function encodeConfluent(schemaId: number, type: Type, value: unknown): Buffer {
  return confluentEncoder(schemaId, type).encode(value);
}

/**
 * Splits a Confluent-framed message into its schema id and Avro body (a view, not a copy).
 * Throws a `NonRetriableError` with code `ERR_WIRE_FORMAT` when the framing is wrong.
 *
 * @example
 * ```ts
 * import { decodeConfluent } from '@tributary/core';
 * decodeConfluent(Buffer.from([0, 0, 0, 0, 7, 4, 0x68, 0x69])); // { schemaId: 7, body: <Buffer 04 68 69> }
 * ```
 */
export function decodeConfluent(buf: Buffer): { schemaId: number; body: Buffer } {
  if (buf.length < CONFLUENT_HEADER_SIZE || buf[0] !== CONFLUENT_MAGIC) {
    throw new NonRetriableError(`not a Confluent-framed Avro message (${describeStart(buf)})`, { code: 'ERR_WIRE_FORMAT' });
  }
  return { schemaId: buf.readUInt32BE(1), body: buf.subarray(CONFLUENT_HEADER_SIZE) };
}

/**
 * Encodes a value in Avro single-object encoding: `C3 01`, the schema's CRC-64-AVRO fingerprint
 * as 8 little-endian bytes (see `fingerprint64`), then the Avro binary body. Validates the value
 * first (`SchemaValidationError`).
 *
 * @example
 * ```ts
 * import { compileSchema, encodeSingleObject, fingerprint64 } from '@tributary/core';
 * encodeSingleObject(fingerprint64('string'), compileSchema('string'), 'hi'); // <Buffer c3 01 ... 04 68 69>
 * ```
 */
export function encodeSingleObject(fingerprint: bigint, type: Type, value: unknown): Buffer {
  return singleObjectEncoder(fingerprint, type).encode(value);
}

/**
 * Splits a single-object-encoded message into the writer schema's fingerprint (unsigned bigint)
 * and the Avro body (a view). Throws `ERR_WIRE_FORMAT` when the framing is wrong.
 *
 * @example
 * ```ts
 * import { decodeSingleObject } from '@tributary/core';
 * const { fingerprint, body } = decodeSingleObject(message);
 * ```
 */
export function decodeSingleObject(buf: Buffer): { fingerprint: bigint; body: Buffer } {
  if (buf.length < SINGLE_OBJECT_HEADER_SIZE || buf[0] !== SINGLE_OBJECT_MAGIC[0] || buf[1] !== SINGLE_OBJECT_MAGIC[1]) {
    throw new NonRetriableError(`not a single-object-encoded Avro message (${describeStart(buf)})`, { code: 'ERR_WIRE_FORMAT' });
  }
  return { fingerprint: buf.readBigUInt64LE(2), body: buf.subarray(SINGLE_OBJECT_HEADER_SIZE) };
}

/** @internal "starts with 7b 22 61, 12 bytes" for error messages. */
export function describeStart(buf: Uint8Array): string {
  if (buf.length === 0) return 'empty message';
  const hex = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  const looksJson = buf[0] === 0x7b || buf[0] === 0x5b;
  return `starts with ${hex}, ${buf.length} bytes${looksJson ? '; looks like JSON' : ''}`;
}

/**
 * Encodes a record key. Keys are plain UTF-8 strings by default (no framing, no schema), so that
 * partitioning and compaction work on the readable key in any client; `null` stays `null`.
 *
 * @example
 * ```ts
 * import { encodeStringKey } from '@tributary/core';
 * encodeStringKey('DE-LU'); // <Buffer 44 45 2d 4c 55>
 * ```
 */
export function encodeStringKey(key: string | null | undefined): Buffer | null {
  return key == null ? null : Buffer.from(key, 'utf8');
}

/**
 * Decodes a key written by {@link encodeStringKey}.
 *
 * @example
 * ```ts
 * import { decodeStringKey } from '@tributary/core';
 * decodeStringKey(Buffer.from('DE-LU')); // 'DE-LU'
 * ```
 */
export function decodeStringKey(buf: Uint8Array | null | undefined): string | null {
  return buf == null ? null : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8');
}
