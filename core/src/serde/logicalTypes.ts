/**
 * @internal Custom avsc types: a long that holds the full 64-bit range, and the logical types
 * Tributary understands (timestamp-millis, timestamp-micros, date, decimal, uuid).
 */
import avro from 'avsc';
import type { Type } from 'avsc';

/** How `long` values are decoded: `'auto'` = number when exact, bigint beyond ±(2^53 - 1); `'bigint'` = always bigint. */
export type LongMode = 'auto' | 'bigint';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

// One scratch area for encoding a varint, plus a view of every possible length, so that writing
// a long allocates nothing. avsc copies the returned bytes into its output at once.
const SCRATCH = Buffer.alloc(10);
const VIEWS: Buffer[] = Array.from({ length: 10 }, (_, i) => SCRATCH.subarray(0, i + 1));

/** Zig-zag varint of a safe integer, into the scratch area. */
function varintOfNumber(n: number): Buffer {
  if (n >= -0x40000000 && n < 0x40000000) {
    let z = ((n << 1) ^ (n >> 31)) >>> 0;
    let i = 0;
    while (z >= 0x80) {
      SCRATCH[i++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    SCRATCH[i] = z;
    return VIEWS[i]!;
  }
  // Beyond 30 bits: keep the arithmetic exact (2|n| + 1 may not be a double when |n| > 2^52).
  let m: number;
  let sign: number;
  if (n >= 0) {
    m = n;
    sign = 0;
  } else {
    m = -n - 1;
    sign = 1;
  }
  SCRATCH[0] = ((m % 64) * 2 + sign) | 0x80;
  m = Math.floor(m / 64);
  let i = 1;
  while (m >= 0x80) {
    SCRATCH[i++] = (m % 0x80) | 0x80;
    m = Math.floor(m / 0x80);
  }
  SCRATCH[i] = m;
  return VIEWS[i]!;
}

function varintOfBigint(n: bigint): Buffer {
  let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  let i = 0;
  while (z >= 0x80n) {
    SCRATCH[i++] = Number(z & 0x7fn) | 0x80;
    z >>= 7n;
  }
  SCRATCH[i] = Number(z);
  return VIEWS[i]!;
}

function readVarint(buf: Buffer, mode: LongMode): number | bigint {
  const len = buf.length;
  if (len <= 7 && mode === 'auto') {
    // At most 49 bits: exact in a double.
    let z = 0;
    let mul = 1;
    for (let i = 0; i < len; i++) {
      z += (buf[i]! & 0x7f) * mul;
      mul *= 128;
    }
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
  let z = 0n;
  for (let i = len - 1; i >= 0; i--) z = (z << 7n) | BigInt(buf[i]! & 0x7f);
  z = BigInt.asUintN(64, z);
  const v = z & 1n ? -((z + 1n) >> 1n) : z >> 1n;
  if (mode === 'auto' && v >= SAFE_MIN && v <= SAFE_MAX) return Number(v);
  return v;
}

/** True for a value a `long` can hold: a safe integer number or a bigint within 64 bits. */
export function isLongValue(val: unknown): val is number | bigint {
  if (typeof val === 'number') return Number.isSafeInteger(val);
  if (typeof val === 'bigint') return val >= INT64_MIN && val <= INT64_MAX;
  return false;
}

function longFromJson(val: unknown, mode: LongMode): number | bigint {
  let big: bigint;
  if (typeof val === 'bigint') big = val;
  else if (typeof val === 'number' && Number.isInteger(val)) {
    if (mode === 'auto') return val;
    big = BigInt(val);
  } else if (typeof val === 'string' && /^-?\d+$/.test(val)) big = BigInt(val);
  else throw new Error(`invalid long: ${String(val)}`);
  if (mode === 'auto' && big >= SAFE_MIN && big <= SAFE_MAX) return Number(big);
  return big;
}

function createLongType(mode: LongMode): Type {
  return avro.types.LongType.__with(
    {
      fromBuffer: (buf: Buffer) => readVarint(buf, mode),
      toBuffer: (val: number | bigint) => (typeof val === 'number' ? varintOfNumber(val) : varintOfBigint(val)),
      fromJSON: (val: unknown) => longFromJson(val, mode),
      toJSON: (val: number | bigint) =>
        typeof val === 'number' || (val >= SAFE_MIN && val <= SAFE_MAX) ? Number(val) : val.toString(),
      isValid: isLongValue,
      compare: (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0),
    },
    true,
  );
}

/** The shared long types, one per mode (avsc types are immutable and can be shared). */
export const LONG_TYPES: Record<LongMode, Type> = {
  auto: createLongType('auto'),
  bigint: createLongType('bigint'),
};

// ---------------------------------------------------------------------------------------------
// Logical types

type LogicalSchema = { logicalType: string; precision?: number; scale?: number; type: unknown };

/**
 * Base of our logical types: `_toValue` throws an Error that explains what is wrong (avsc turns
 * it into a failed check; `explain` recovers the text for validation messages).
 */
abstract class ExplainedLogicalType extends avro.types.LogicalType {
  /** Why `val` cannot be written, or undefined when it can. */
  explain(val: unknown): string | undefined {
    try {
      this._toValue(val);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
  /** What this type accepts, for error messages. */
  abstract readonly expected: string;
}

function describeValue(val: unknown): string {
  if (val === undefined) return 'undefined';
  if (val === null) return 'null';
  if (typeof val === 'string') return `string ${JSON.stringify(val.length > 60 ? val.slice(0, 57) + '...' : val)}`;
  if (typeof val === 'bigint') return `bigint ${val}n`;
  if (typeof val === 'number' || typeof val === 'boolean') return `${typeof val} ${String(val)}`;
  if (Buffer.isBuffer(val)) return `Buffer of ${val.length} bytes`;
  if (val instanceof Date) return `Date ${Number.isNaN(val.getTime()) ? 'Invalid Date' : val.toISOString()}`;
  if (Array.isArray(val)) return `array of ${val.length}`;
  return typeof val === 'object' ? 'object' : typeof val;
}

export { describeValue };

function underlyingName(type: Type): string {
  return (type as unknown as { underlyingType: Type }).underlyingType.typeName;
}

/** `timestamp-millis` / `timestamp-micros` on a long: numbers (epoch ms / µs); writes accept `Date`. */
class TimestampType extends ExplainedLogicalType {
  readonly expected: string;
  private readonly perMs: number;

  constructor(schema: LogicalSchema, opts?: unknown) {
    super(schema as never, opts);
    if (underlyingName(this) !== 'long') throw new Error(`${schema.logicalType} needs an underlying long`);
    this.perMs = schema.logicalType === 'timestamp-micros' ? 1000 : 1;
    this.expected = `${schema.logicalType} (epoch ${this.perMs === 1 ? 'milliseconds' : 'microseconds'} as an integer, or a Date)`;
  }

  protected override _fromValue(val: number): number {
    return val;
  }

  protected override _toValue(val: unknown): number {
    if (typeof val === 'number') {
      if (Number.isSafeInteger(val)) return val;
      throw new Error(`expected ${this.expected}, got ${describeValue(val)}`);
    }
    if (val instanceof Date) {
      const t = val.getTime();
      if (Number.isNaN(t)) throw new Error('invalid Date');
      return t * this.perMs;
    }
    throw new Error(`expected ${this.expected}, got ${describeValue(val)}`);
  }

  protected override _resolve(type: Type): ((v: unknown) => unknown) | undefined {
    if (type instanceof TimestampType) {
      const factor = this.perMs / type.perMs;
      return factor === 1 ? (v) => v : factor > 1 ? (v) => (v as number) * factor : (v) => Math.floor((v as number) * factor);
    }
    if (avro.Type.isType(type, 'long', 'abstract:long', 'int')) return (v) => Number(v);
    return undefined;
  }
}

const MS_PER_DAY = 86_400_000;

/** `date` on an int: `YYYY-MM-DD` strings (UTC calendar day); writes accept `Date`. */
class DateType extends ExplainedLogicalType {
  readonly expected = 'date (a "YYYY-MM-DD" string or a Date)';

  constructor(schema: LogicalSchema, opts?: unknown) {
    super(schema as never, opts);
    if (underlyingName(this) !== 'int') throw new Error('date needs an underlying int');
  }

  protected override _fromValue(days: number): string {
    return new Date(days * MS_PER_DAY).toISOString().slice(0, 10);
  }

  protected override _toValue(val: unknown): number {
    if (typeof val === 'string') {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(val);
      if (m) {
        const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
        const back = new Date(t).toISOString().slice(0, 10);
        if (back === val) return t / MS_PER_DAY;
      }
      throw new Error(`expected ${this.expected}, got ${describeValue(val)}`);
    }
    if (val instanceof Date) {
      const t = val.getTime();
      if (Number.isNaN(t)) throw new Error('invalid Date');
      return Math.floor(t / MS_PER_DAY);
    }
    throw new Error(`expected ${this.expected}, got ${describeValue(val)}`);
  }

  protected override _resolve(type: Type): ((v: unknown) => unknown) | undefined {
    if (type instanceof DateType) return (v) => v;
    if (avro.Type.isType(type, 'int')) return (v) => this._fromValue(v as number);
    return undefined;
  }
}

const DECIMAL_RE = /^([+-])?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * `decimal` on bytes or fixed: lossless decimal strings with exactly `scale` fraction digits.
 * Writes accept strings, numbers and bigints, but never round: a value with more fraction digits
 * than `scale`, or more digits than `precision`, is rejected.
 */
class DecimalType extends ExplainedLogicalType {
  readonly expected: string;
  private readonly precision: number;
  private readonly scale: number;
  private readonly size: number | undefined;

  constructor(schema: LogicalSchema, opts?: unknown) {
    super(schema as never, opts);
    const under = (this as unknown as { underlyingType: Type & { size?: number } }).underlyingType;
    if (under.typeName !== 'bytes' && under.typeName !== 'fixed') throw new Error('decimal needs bytes or fixed');
    const precision = schema.precision;
    const scale = schema.scale ?? 0;
    if (!Number.isInteger(precision) || (precision as number) < 1) throw new Error('decimal needs a positive integer precision');
    if (!Number.isInteger(scale) || scale < 0 || scale > (precision as number)) throw new Error('decimal scale must be within 0..precision');
    this.precision = precision as number;
    this.scale = scale;
    this.size = under.typeName === 'fixed' ? under.size : undefined;
    if (this.size !== undefined && 2n ** BigInt(this.size * 8 - 1) <= 10n ** BigInt(this.precision) - 1n) {
      // The Avro specification rejects a precision that does not fit the fixed size.
      throw new Error(`decimal precision ${this.precision} does not fit in fixed(${this.size})`);
    }
    this.expected = `decimal(${this.precision},${this.scale}) (a decimal string, number or bigint)`;
  }

  /** Unscaled integer of a decimal string, exact, or an error. */
  private unscaled(val: unknown): bigint {
    let text: string;
    if (typeof val === 'string') text = val.trim();
    else if (typeof val === 'number' && Number.isFinite(val)) text = String(val);
    else if (typeof val === 'bigint') text = val.toString();
    else throw new Error(`expected ${this.expected}, got ${describeValue(val)}`);
    const m = DECIMAL_RE.exec(text);
    if (!m) throw new Error(`expected ${this.expected}, got ${describeValue(val)}`);
    const exp = m[4] ? Number(m[4]) : 0;
    let digits = (m[2] ?? '') + (m[3] ?? '');
    let fraction = (m[3] ?? '').length - exp; // digits after the point
    if (fraction < 0) {
      digits += '0'.repeat(-fraction);
      fraction = 0;
    }
    if (fraction > this.scale) {
      const extra = digits.slice(digits.length - (fraction - this.scale));
      if (/[^0]/.test(extra)) {
        throw new Error(`${describeValue(val)} has more than ${this.scale} fraction digits (decimal scale ${this.scale}; round it first)`);
      }
      digits = digits.slice(0, digits.length - (fraction - this.scale));
      fraction = this.scale;
    }
    digits += '0'.repeat(this.scale - fraction);
    const unscaled = BigInt(digits);
    if (unscaled.toString().length > this.precision && unscaled !== 0n) {
      throw new Error(`${describeValue(val)} has more than ${this.precision} digits (decimal precision ${this.precision})`);
    }
    return m[1] === '-' ? -unscaled : unscaled;
  }

  protected override _toValue(val: unknown): Buffer {
    const n = this.unscaled(val);
    // Two's complement, big-endian: minimal length for bytes, sign-extended to the fixed size.
    let len = this.size ?? 1;
    if (this.size === undefined) {
      while (n < -(1n << BigInt(len * 8 - 1)) || n >= 1n << BigInt(len * 8 - 1)) len++;
    }
    return Buffer.from(BigInt.asUintN(len * 8, n).toString(16).padStart(len * 2, '0'), 'hex');
  }

  protected override _fromValue(buf: Buffer): string {
    if (buf.length === 0) return this.format(0n);
    const n = BigInt.asIntN(buf.length * 8, BigInt('0x' + buf.toString('hex')));
    return this.format(n);
  }

  private format(n: bigint): string {
    const neg = n < 0n;
    let digits = (neg ? -n : n).toString();
    if (this.scale === 0) return (neg ? '-' : '') + digits;
    digits = digits.padStart(this.scale + 1, '0');
    return `${neg ? '-' : ''}${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}`;
  }

  protected override _resolve(type: Type): ((v: unknown) => unknown) | undefined {
    if (type instanceof DecimalType && type.scale === this.scale) return (v) => v;
    return undefined;
  }
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** `uuid` on a string: the canonical 8-4-4-4-12 hexadecimal form is checked when writing. */
class UuidType extends ExplainedLogicalType {
  readonly expected = 'uuid (a string like "123e4567-e89b-12d3-a456-426614174000")';

  constructor(schema: LogicalSchema, opts?: unknown) {
    super(schema as never, opts);
    if (underlyingName(this) !== 'string') throw new Error('uuid needs an underlying string');
  }

  protected override _fromValue(val: string): string {
    return val;
  }

  protected override _toValue(val: unknown): string {
    if (typeof val === 'string' && UUID_RE.test(val)) return val;
    throw new Error(`expected ${this.expected}, got ${describeValue(val)}`);
  }

  protected override _resolve(type: Type): ((v: unknown) => unknown) | undefined {
    if (avro.Type.isType(type, 'string', 'logical:uuid')) return (v) => v;
    return undefined;
  }
}

/** Logical types registered with avsc; any other logical type falls back to its underlying type. */
export const LOGICAL_TYPES = {
  'timestamp-millis': TimestampType,
  'timestamp-micros': TimestampType,
  date: DateType,
  decimal: DecimalType,
  uuid: UuidType,
} as const;

/** True when `type` is one of our logical types (it can explain a rejected value). */
export function isExplainedType(type: unknown): type is ExplainedLogicalType {
  return type instanceof ExplainedLogicalType;
}
