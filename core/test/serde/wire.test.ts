import { expect } from 'chai';
import { isSchemaValidationError } from '../../src/errors/SchemaValidationError.js';
import { compileSchema, fingerprint64 } from '../../src/serde/avro.js';
import {
  decodeConfluent,
  decodeSingleObject,
  decodeStringKey,
  detectWireFormat,
  encodeConfluent,
  encodeSingleObject,
  encodeStringKey,
  singleObjectEncoder,
} from '../../src/serde/wire.js';
import { plain } from './helpers.js';

const hex = (b: Buffer) => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');

describe('serde/wire', () => {
  const str = compileSchema('string');

  it('Confluent framing: magic 0, big-endian schema id, Avro body', () => {
    expect(hex(encodeConfluent(7, str, 'hi'))).to.equal('00 00 00 00 07 04 68 69');
    expect(hex(encodeConfluent(0x01020304, str, ''))).to.equal('00 01 02 03 04 00');
    const { schemaId, body } = decodeConfluent(Buffer.from('0001020304046869', 'hex'));
    expect(schemaId).to.equal(0x01020304);
    expect(str.fromBuffer(body)).to.equal('hi');
  });

  it('single-object encoding: C3 01, little-endian CRC-64-AVRO fingerprint, Avro body', () => {
    const fp = fingerprint64('string');
    // Fingerprint of "string" from the Avro test vectors: -8142146995180207161 (as a signed long).
    expect(fp).to.equal(BigInt.asUintN(64, -8142146995180207161n));
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(fp);
    const buf = encodeSingleObject(fp, str, 'hi');
    expect(hex(buf.subarray(0, 2))).to.equal('c3 01');
    expect(buf.subarray(2, 10).equals(le)).to.equal(true);
    expect(hex(buf.subarray(10))).to.equal('04 68 69');
    const decoded = decodeSingleObject(buf);
    expect(decoded.fingerprint).to.equal(fp);
    expect(str.fromBuffer(decoded.body)).to.equal('hi');
  });

  it('detects the framing from the first bytes', () => {
    expect(detectWireFormat(encodeConfluent(1, str, 'x'))).to.equal('confluent');
    expect(detectWireFormat(encodeSingleObject(5n, str, 'x'))).to.equal('single-object');
    expect(detectWireFormat(Buffer.from('{"a":1}'))).to.equal(undefined);
    expect(detectWireFormat(Buffer.from([0, 0, 0]))).to.equal(undefined);
    expect(detectWireFormat(Buffer.from([0xc3, 0x01, 0]))).to.equal(undefined);
  });

  it('refuses malformed frames with ERR_WIRE_FORMAT', () => {
    expect(() => decodeConfluent(Buffer.from('{"a":1}'))).to.throw(/not a Confluent-framed Avro message \(starts with 7b 22 61 22, 7 bytes; looks like JSON\)/);
    expect(() => decodeSingleObject(Buffer.from([0xc3, 0x01, 1]))).to.throw(/not a single-object-encoded/);
    expect(() => decodeConfluent(Buffer.alloc(0))).to.throw(/empty message/);
    expect(() => encodeConfluent(-1, str, 'x')).to.throw(/invalid schema id -1/);
    expect(() => encodeSingleObject(2n ** 64n, str, 'x')).to.throw(/invalid fingerprint/);
  });

  it('validates before encoding', () => {
    const type = compileSchema({ type: 'record', name: 'R', fields: [{ name: 'n', type: 'int' }] });
    let caught: unknown;
    try {
      encodeConfluent(1, type, { n: 'one' });
    } catch (err) {
      caught = err;
    }
    expect(isSchemaValidationError(caught)).to.equal(true);
    expect((caught as Error).message).to.equal('record does not match schema R: n: expected int, got string "one"');
  });

  it('rejects a non-record where every field has a default (which encoding alone would accept)', () => {
    const type = compileSchema({
      type: 'record',
      name: 'Outer',
      fields: [{ name: 'inner', type: { type: 'record', name: 'Inner', fields: [{ name: 'x', type: 'int', default: 1 }] } }],
    });
    expect(() => encodeConfluent(1, type, { inner: 5 })).to.throw(/inner: expected record Inner, got number 5/);
    expect(() => encodeConfluent(1, type, 'x')).to.throw(/expected record Outer/);
    expect(plain(type.fromBuffer(decodeConfluent(encodeConfluent(1, type, { inner: {} })).body))).to.deep.equal({ inner: { x: 1 } });
  });

  it('grows its buffer for large values and never reuses returned buffers', () => {
    const enc = singleObjectEncoder(9n, str);
    const big = 'x'.repeat(2_000_000);
    const first = enc.encode(big);
    const second = enc.encode('small');
    expect(str.fromBuffer(decodeSingleObject(first).body)).to.equal(big);
    expect(str.fromBuffer(decodeSingleObject(second).body)).to.equal('small');
    expect(decodeSingleObject(second).fingerprint).to.equal(9n);
    expect(second.length).to.equal(10 + 1 + 5);
  });

  it('string keys are plain UTF-8', () => {
    expect(hex(encodeStringKey('DE-LU')!)).to.equal('44 45 2d 4c 55');
    expect(encodeStringKey(null)).to.equal(null);
    expect(encodeStringKey(undefined)).to.equal(null);
    expect(decodeStringKey(encodeStringKey('zürich'))).to.equal('zürich');
    expect(decodeStringKey(null)).to.equal(null);
  });
});
