import { expect } from 'chai';
import avro from 'avsc';
import { isSchemaValidationError, type SchemaValidationError } from '../../src/errors/SchemaValidationError.js';
import { compileSchema, schemaNameOf, validateRecord } from '../../src/serde/avro.js';
import { defineSchema, type AvroSchema, type InferAvroInput } from '../../src/serde/types.js';
import { plain } from './helpers.js';

/** Zig-zag varint of a 64-bit integer, straight from the Avro specification. */
function referenceLong(n: bigint): Buffer {
  let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

function failure(fn: () => unknown): SchemaValidationError {
  try {
    fn();
  } catch (err) {
    if (isSchemaValidationError(err)) return err;
    throw err;
  }
  throw new Error('expected a SchemaValidationError');
}

const everything = defineSchema({
  type: 'record',
  name: 'Everything',
  namespace: 'test.serde',
  fields: [
    { name: 'n', type: 'null' },
    { name: 'b', type: 'boolean' },
    { name: 'i', type: 'int' },
    { name: 'l', type: 'long' },
    { name: 'f', type: 'float' },
    { name: 'd', type: 'double' },
    { name: 'by', type: 'bytes' },
    { name: 's', type: 'string' },
    { name: 'e', type: { type: 'enum', name: 'Level', symbols: ['LOW', 'HIGH'] } },
    { name: 'arr', type: { type: 'array', items: 'int' } },
    { name: 'm', type: { type: 'map', values: ['null', 'string'] } },
    { name: 'fx', type: { type: 'fixed', name: 'Hash', size: 4 } },
    { name: 'opt', type: ['null', 'string'], default: null },
    { name: 'optLong', type: ['null', 'long'], default: null },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'tsMicros', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } },
    { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    { name: 'fixedPrice', type: { type: 'fixed', name: 'Dec8', size: 8, logicalType: 'decimal', precision: 18, scale: 4 } },
    { name: 'id', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'timeOfDay', type: { type: 'int', logicalType: 'time-millis' } },
    {
      name: 'nested',
      type: { type: 'record', name: 'Point', fields: [{ name: 'x', type: 'double' }, { name: 'y', type: 'double', default: 0 }] },
    },
    { name: 'points', type: { type: 'array', items: 'Point' } },
  ],
});

const sample: InferAvroInput<typeof everything> = {
  n: null,
  b: true,
  i: -42,
  l: 2n ** 62n + 1n,
  f: 1.5,
  d: Math.PI,
  by: Buffer.from([0, 1, 2, 255]),
  s: 'grüße',
  e: 'HIGH',
  arr: [1, 2, 3],
  m: { a: 'x', b: null },
  fx: Buffer.from('abcd'),
  opt: 'here',
  optLong: -(2n ** 63n),
  ts: new Date('2026-01-02T03:04:05.678Z'),
  tsMicros: 1_767_323_045_678_901,
  day: new Date('2026-02-28T23:59:59Z'),
  price: '-1234.5',
  fixedPrice: 12.5,
  id: '123e4567-e89b-12d3-a456-426614174000',
  timeOfDay: 3_600_000,
  nested: { x: 1.25 },
  points: [{ x: 1, y: 2 }],
};

describe('serde/avro', () => {
  describe('compileSchema', () => {
    it('round-trips every type, logical types included', () => {
      const type = compileSchema(everything);
      const back = plain(type.fromBuffer(type.toBuffer(sample)));
      expect(back).to.deep.equal({
        ...sample,
        l: 2n ** 62n + 1n,
        ts: Date.parse('2026-01-02T03:04:05.678Z'),
        day: '2026-02-28',
        price: '-1234.50',
        fixedPrice: '12.5000',
        nested: { x: 1.25, y: 0 },
      });
    });

    it('caches compiled types by schema', () => {
      const a = compileSchema({ type: 'array', items: 'string' });
      expect(compileSchema({ type: 'array', items: 'string' })).to.equal(a);
      expect(compileSchema({ type: 'array', items: 'string' }, { longs: 'bigint' })).not.to.equal(a);
    });

    it('longs cover the whole 64-bit range with the exact Avro encoding', () => {
      const type = compileSchema('long');
      const values: bigint[] = [0n, 1n, -1n, 63n, -64n, 64n, -65n, 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 52n + 1n, -(2n ** 52n) - 1n];
      values.push(2n ** 53n - 1n, -(2n ** 53n - 1n), 2n ** 53n, -(2n ** 53n), 2n ** 62n + 1n, 2n ** 63n - 1n, -(2n ** 63n));
      let seed = 12345;
      for (let i = 0; i < 300; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const bits = BigInt(seed % 64);
        const v = (BigInt(seed) * 7919n * 2n ** bits) % 2n ** 63n;
        values.push(seed % 2 ? v : -v);
      }
      for (const v of values) {
        const safe = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);
        const input = safe ? Number(v) : v;
        const buf = type.toBuffer(input);
        expect(buf.equals(referenceLong(v)), `encoding of ${v}`).to.equal(true);
        expect(type.fromBuffer(buf), `decoding of ${v}`).to.equal(input);
        if (safe) expect(type.toBuffer(v).equals(buf), `bigint input ${v}`).to.equal(true);
      }
    });

    it('decodes every long as a bigint with longs: "bigint"', () => {
      const type = compileSchema({ type: 'record', name: 'L', fields: [{ name: 'v', type: 'long', default: 3 }] }, { longs: 'bigint' });
      expect(plain(type.fromBuffer(type.toBuffer({ v: 5 })))).to.deep.equal({ v: 5n });
      expect(plain(type.fromBuffer(type.toBuffer({})))).to.deep.equal({ v: 3n });
      expect(plain(type.fromBuffer(type.toBuffer({ v: -(2n ** 63n) })))).to.deep.equal({ v: -(2n ** 63n) });
    });

    it('reads data written with a standard long and an int (promotion)', () => {
      const ours = compileSchema('long');
      const plain = avro.Type.forSchema('long');
      expect(ours.fromBuffer(plain.toBuffer(-123456789))).to.equal(-123456789);
      const widened = ours.createResolver(avro.Type.forSchema('int'));
      expect(ours.fromBuffer(avro.Type.forSchema('int').toBuffer(-7), widened)).to.equal(-7);
      // And a standard reader reads ours.
      expect(plain.fromBuffer(ours.toBuffer(2 ** 40))).to.equal(2 ** 40);
    });

    it('timestamps accept Date and epoch numbers; micros reads millis data', () => {
      const millis = compileSchema({ type: 'long', logicalType: 'timestamp-millis' });
      const micros = compileSchema({ type: 'long', logicalType: 'timestamp-micros' });
      const at = new Date('2026-05-01T00:00:00.123Z');
      expect(millis.fromBuffer(millis.toBuffer(at))).to.equal(at.getTime());
      expect(millis.fromBuffer(millis.toBuffer(at.getTime()))).to.equal(at.getTime());
      expect(micros.fromBuffer(micros.toBuffer(at))).to.equal(at.getTime() * 1000);
      expect(micros.fromBuffer(millis.toBuffer(at), micros.createResolver(millis))).to.equal(at.getTime() * 1000);
      // The encoding is the plain long of the epoch value.
      expect(millis.toBuffer(at).equals(referenceLong(BigInt(at.getTime())))).to.equal(true);
    });

    it('dates are YYYY-MM-DD strings encoded as days since 1970-01-01', () => {
      const date = compileSchema({ type: 'int', logicalType: 'date' });
      expect(date.toBuffer('1970-01-02').equals(Buffer.from([2]))).to.equal(true);
      expect(date.fromBuffer(date.toBuffer('1969-12-31'))).to.equal('1969-12-31');
      expect(date.fromBuffer(date.toBuffer('2024-02-29'))).to.equal('2024-02-29');
      expect(date.isValid('2026-02-29')).to.equal(false);
      expect(date.isValid('26-02-01')).to.equal(false);
    });

    it('decimals are exact strings: two complement big-endian unscaled integers', () => {
      const dec = compileSchema({ type: 'bytes', logicalType: 'decimal', precision: 6, scale: 2 });
      // 1.23 -> unscaled 123 -> 0x7b, length-prefixed (zig-zag 1 -> 0x02).
      expect(dec.toBuffer('1.23').equals(Buffer.from([0x02, 0x7b]))).to.equal(true);
      // -1.28 -> -128 -> 0x80 in one byte; 1.28 -> 128 needs 0x00 0x80.
      expect(dec.toBuffer('-1.28').equals(Buffer.from([0x02, 0x80]))).to.equal(true);
      expect(dec.toBuffer('1.28').equals(Buffer.from([0x04, 0x00, 0x80]))).to.equal(true);
      for (const [input, out] of [
        ['0', '0.00'],
        ['-0.05', '-0.05'],
        ['9999.99', '9999.99'],
        ['1.5e2', '150.00'],
        ['12.300', '12.30'],
      ] as const) {
        expect(dec.fromBuffer(dec.toBuffer(input)), input).to.equal(out);
      }
      expect(dec.fromBuffer(dec.toBuffer(0.1))).to.equal('0.10');
      expect(dec.fromBuffer(dec.toBuffer(42n))).to.equal('42.00');
      const fixed = compileSchema({ type: 'fixed', name: 'D', size: 3, logicalType: 'decimal', precision: 6, scale: 0 });
      expect(fixed.toBuffer('-2').equals(Buffer.from([0xff, 0xff, 0xfe]))).to.equal(true);
      expect(fixed.fromBuffer(fixed.toBuffer('999999'))).to.equal('999999');
    });

    it('decimals never round', () => {
      const type = compileSchema({ type: 'record', name: 'P', fields: [{ name: 'v', type: { type: 'bytes', logicalType: 'decimal', precision: 4, scale: 2 } }] });
      expect(failure(() => validateRecord(type, { v: '1.234' })).message).to.contain('more than 2 fraction digits');
      expect(failure(() => validateRecord(type, { v: 0.1 + 0.2 })).message).to.contain('more than 2 fraction digits');
      expect(failure(() => validateRecord(type, { v: '123.45' })).message).to.contain('more than 4 digits');
      expect(failure(() => validateRecord(type, { v: 'abc' })).message).to.contain('expected decimal(4,2)');
      expect(() => validateRecord(type, { v: '12.340' })).not.to.throw();
    });

    it('uuids are checked when writing', () => {
      const type = compileSchema({ type: 'string', logicalType: 'uuid' });
      expect(type.isValid('123E4567-E89B-12D3-A456-426614174000')).to.equal(true);
      expect(failure(() => validateRecord(type, 'not-a-uuid')).message).to.contain('expected uuid');
    });

    it('rejects unions whose branches a value cannot tell apart', () => {
      expect(() => compileSchema(['null', 'long', 'double'])).to.throw(/long and double.*number/);
      expect(() =>
        compileSchema({
          type: 'record',
          name: 'R',
          fields: [{ name: 'what', type: [{ type: 'record', name: 'A', fields: [] }, { type: 'record', name: 'B', fields: [] }] }],
        }),
      ).to.throw(/union at what has branches A and B/);
      expect(() => compileSchema(['string', { type: 'enum', name: 'E', symbols: ['X'] }])).to.throw(/ERR|string/);
      // Readers of foreign data may compile them (values then come wrapped).
      const wrapped = compileSchema(['null', 'int', 'double'], { strict: false });
      expect(plain(wrapped.fromBuffer(Buffer.from([0x02, 0x06])))).to.deep.equal({ int: 3 });
    });

    it('rejects invalid schemas with a clear error', () => {
      expect(() => compileSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'Nope' }] })).to.throw(
        /invalid Avro schema R: undefined type name: Nope/,
      );
      expect(() => compileSchema({ type: 'string', logicalType: 'timestamp-millis' })).to.throw(/needs an underlying long/);
      expect(() => compileSchema({ type: 'bytes', logicalType: 'decimal' } as AvroSchema)).to.throw(/precision/);
      // A reader of foreign data falls back to the underlying type, as the specification says.
      expect(compileSchema({ type: 'string', logicalType: 'timestamp-millis' }, { strict: false }).fromBuffer(Buffer.from([2, 0x41]))).to.equal('A');
    });

    it('names schemas for error messages', () => {
      expect(schemaNameOf(compileSchema(everything))).to.equal('test.serde.Everything');
      expect(schemaNameOf(compileSchema({ type: 'array', items: 'long' }))).to.equal('array<long>');
      expect(schemaNameOf(compileSchema(['null', 'string']))).to.equal('null | string');
    });
  });

  describe('validateRecord', () => {
    const type = compileSchema(everything);
    const valid = () => structuredClone({ ...sample, by: undefined, fx: undefined }) as Record<string, unknown>;
    const bad = (patch: Record<string, unknown>, rest: Record<string, unknown> = {}) =>
      failure(() => validateRecord(type, { ...valid(), by: sample.by, fx: sample.fx, ...patch, ...rest }));

    it('accepts a valid record', () => {
      expect(() => validateRecord(type, sample)).not.to.throw();
    });

    it('names the schema, the field and the reason for a wrong type', () => {
      const err = bad({ l: 'abc' });
      expect(err.code).to.equal('ERR_SCHEMA');
      expect(err.schema).to.equal('test.serde.Everything');
      expect(err.field).to.equal('l');
      expect(err.message).to.equal('record does not match schema test.serde.Everything: l: expected long, got string "abc"');
    });

    it('reports a missing required field', () => {
      const v = valid();
      delete v.s;
      const err = failure(() => validateRecord(type, { ...v, by: sample.by, fx: sample.fx }));
      expect(err.field).to.equal('s');
      expect(err.message).to.contain('s: missing required field');
    });

    it('reports longs out of range', () => {
      expect(bad({ l: 2 ** 60 }).message).to.contain('l: out of range for long');
      expect(bad({ l: 2n ** 63n }).message).to.contain('l: out of range for long: 9223372036854775808n does not fit in 64 bits');
      expect(bad({ l: 1.5 }).message).to.contain('l: expected long, got number 1.5');
      expect(bad({ i: 2 ** 31 }).message).to.contain('i: out of range for int');
    });

    it('reports a bad enum symbol with the allowed symbols', () => {
      const err = bad({ e: 'MID' });
      expect(err.field).to.equal('e');
      expect(err.message).to.contain('not one of the enum symbols [LOW, HIGH] (got string "MID")');
    });

    it('gives the path of nested record fields, array items and map values', () => {
      expect(bad({ nested: { x: 'far' } }).field).to.equal('nested.x');
      expect(bad({ points: [{ x: 1 }, { x: 2, y: null }] }).field).to.equal('points[1].y');
      expect(bad({ arr: [1, 2, 'three'] }).message).to.contain('arr[2]: expected int, got string "three"');
      expect(bad({ m: { ok: 'x', 'odd key': 5 } }).field).to.equal('m["odd key"]');
    });

    it('reports the FIRST bad field in schema order', () => {
      expect(bad({ s: 1, e: 'MID', nested: null }).field).to.equal('s');
    });

    it('explains unions, fixed sizes, records and logical types', () => {
      expect(bad({ opt: 5 }).message).to.contain('opt: expected null | string, got number 5');
      expect(bad({ fx: Buffer.from('abc') }).message).to.contain('fx: expected fixed test.serde.Hash of 4 bytes, got Buffer of 3 bytes');
      expect(bad({ nested: 'here' }).message).to.contain('nested: expected record test.serde.Point, got string "here"');
      expect(bad({ ts: '2026-01-01' }).message).to.contain('ts: expected timestamp-millis (epoch milliseconds as an integer, or a Date)');
      expect(bad({ ts: new Date('nope') }).message).to.contain('ts: invalid Date');
      expect(bad({ day: '2026-13-01' }).message).to.contain('day: expected date');
    });

    it('can reject undeclared fields', () => {
      expect(() => validateRecord(type, { ...sample, extra: 1 })).not.to.throw();
      const err = failure(() => validateRecord(type, { ...sample, extra: 1 }, { rejectUndeclaredFields: true }));
      expect(err.message).to.contain('undeclared field "extra"');
    });

    it('rejects a value that is not a record', () => {
      expect(failure(() => validateRecord(type, null)).message).to.contain('(record): expected record test.serde.Everything, got null');
      expect(failure(() => validateRecord(type, 'x', { schemaName: 'prices' })).schema).to.equal('prices');
    });
  });
});
