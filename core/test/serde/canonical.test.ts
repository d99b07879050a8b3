import { expect } from 'chai';
import { canonicalForm, crc64Avro, fingerprint64 } from '../../src/serde/avro.js';
import type { AvroSchema } from '../../src/serde/types.js';

// Test vectors of the Avro specification's Parsing Canonical Form and 64-bit Rabin fingerprint,
// from share/test/data/schema-tests.txt of Apache Avro (fingerprints as signed Java longs).
const VECTORS: [input: string, canonical: string, fingerprint?: string][] = [
  ['"null"', '"null"', '7195948357588979594'],
  ['{"type":"null"}', '"null"'],
  ['"boolean"', '"boolean"', '-6970731678124411036'],
  ['{"type":"boolean"}', '"boolean"'],
  ['"int"', '"int"', '8247732601305521295'],
  ['{"type":"int"}', '"int"'],
  ['"long"', '"long"', '-3434872931120570953'],
  ['{"type":"long"}', '"long"'],
  ['"float"', '"float"', '5583340709985441680'],
  ['{"type":"float"}', '"float"'],
  ['"double"', '"double"', '-8181574048448539266'],
  ['{"type":"double"}', '"double"'],
  ['"bytes"', '"bytes"', '5746618253357095269'],
  ['{"type":"bytes"}', '"bytes"'],
  ['"string"', '"string"', '-8142146995180207161'],
  ['{"type":"string"}', '"string"'],
  ['[  ]', '[]', '-1241056759729112623'],
  ['[ "int"  ]', '["int"]', '-5232228896498058493'],
  ['[ "int" , {"type":"boolean"} ]', '["int","boolean"]', '5392556393470105090'],
  ['{"fields":[], "type":"record", "name":"foo"}', '{"name":"foo","type":"record","fields":[]}', '-4824392279771201922'],
  ['{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}', '{"name":"x.y.foo","type":"record","fields":[]}', '5916914534497305771'],
  ['{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}', '{"name":"a.b.foo","type":"record","fields":[]}', '-4616218487480524110'],
  ['{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}', '{"name":"foo","type":"record","fields":[]}', '-4824392279771201922'],
  ['{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}', '{"name":"foo","type":"record","fields":[]}', '-4824392279771201922'],
  ['{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}', '{"name":"foo","type":"record","fields":[]}', '-4824392279771201922'],
  [
    '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
    '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
    '7843277075252814651',
  ],
  [
    '{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},\n {"order":"descending","name":"f2","doc":"Hello","type":"int"}],\n "type":"record", "name":"foo"\n}',
    '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
    '-4860222112080293046',
  ],
  ['{"type":"enum", "name":"foo", "symbols":["A1"]}', '{"name":"foo","type":"enum","symbols":["A1"]}', '-6342190197741309591'],
  [
    '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
    '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
    '-4448647247586288245',
  ],
  ['{"name":"foo","type":"fixed","size":15}', '{"name":"foo","type":"fixed","size":15}', '1756455273707447556'],
  [
    '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
    '{"name":"x.y.z.foo","type":"fixed","size":32}',
    '-3064184465700546786',
  ],
  ['{ "items":{"type":"null"}, "type":"array"}', '{"type":"array","items":"null"}', '-589620603366471059'],
  ['{ "values":"string", "type":"map"}', '{"type":"map","values":"string"}', '-8732877298790414990'],
  [
    '{"name":"PigValue","type":"record", "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
    '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
    '-1759257747318642341',
  ],
];

describe('serde/canonical form and fingerprints', () => {
  for (const [input, canonical, fingerprint] of VECTORS) {
    it(`${input.replace(/\s+/g, ' ').slice(0, 70)}`, () => {
      const schema = JSON.parse(input) as AvroSchema;
      expect(canonicalForm(schema)).to.equal(canonical);
      if (fingerprint) {
        expect(BigInt.asIntN(64, fingerprint64(schema))).to.equal(BigInt(fingerprint));
        expect(BigInt.asIntN(64, crc64Avro(canonical))).to.equal(BigInt(fingerprint));
      }
    });
  }

  it('fingerprints are unsigned 64-bit values', () => {
    const fp = fingerprint64('long');
    expect(fp).to.equal(BigInt.asUintN(64, -3434872931120570953n));
    expect(fp > 0n && fp < 2n ** 64n).to.equal(true);
  });

  it('strips logical types and defaults, and qualifies nested names and references', () => {
    const schema: AvroSchema = {
      type: 'record',
      name: 'Outer',
      namespace: 'a.b',
      doc: 'ignored',
      fields: [
        { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' }, default: 0 },
        { name: 'inner', type: { type: 'record', name: 'Inner', fields: [{ name: 'e', type: { type: 'enum', name: 'c.E', symbols: ['X'] } }] } },
        { name: 'again', type: ['null', 'Inner'], default: null },
        { name: 'e2', type: 'c.E' },
        { name: 'price', type: { type: 'fixed', name: 'Dec', size: 8, logicalType: 'decimal', precision: 10, scale: 2 } },
      ],
    };
    expect(canonicalForm(schema)).to.equal(
      '{"name":"a.b.Outer","type":"record","fields":[' +
        '{"name":"at","type":"long"},' +
        '{"name":"inner","type":{"name":"a.b.Inner","type":"record","fields":[{"name":"e","type":{"name":"c.E","type":"enum","symbols":["X"]}}]}},' +
        '{"name":"again","type":["null","a.b.Inner"]},' +
        '{"name":"e2","type":"c.E"},' +
        '{"name":"price","type":{"name":"a.b.Dec","type":"fixed","size":8}}]}',
    );
  });

  it('schemas that differ only in docs share a fingerprint; a changed field does not', () => {
    const a: AvroSchema = { type: 'record', name: 'R', fields: [{ name: 'x', type: 'int', doc: 'one' }] };
    const b: AvroSchema = { type: 'record', name: 'R', doc: 'two', fields: [{ name: 'x', type: { type: 'int' } }] };
    const c: AvroSchema = { type: 'record', name: 'R', fields: [{ name: 'x', type: 'long' }] };
    expect(fingerprint64(a)).to.equal(fingerprint64(b));
    expect(fingerprint64(a)).not.to.equal(fingerprint64(c));
  });

  it('keeps non-ASCII names as UTF-8', () => {
    expect(canonicalForm({ type: 'enum', name: 'E', symbols: ['Ä'] })).to.equal('{"name":"E","type":"enum","symbols":["Ä"]}');
  });
});
