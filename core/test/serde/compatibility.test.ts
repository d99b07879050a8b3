import { expect } from 'chai';
import { SchemaCompatibilityError, parseIncompatibilities } from '../../src/errors/SchemaCompatibilityError.js';
import { explainIncompatibility } from '../../src/serde/compatibility.js';
import { defineSchema } from '../../src/serde/types.js';

const v1 = defineSchema({
  type: 'record',
  name: 'Quote',
  fields: [
    { name: 'symbol', type: 'string' },
    { name: 'side', type: { type: 'enum', name: 'Side', symbols: ['BUY', 'SELL'] } },
    { name: 'venue', type: { type: 'record', name: 'Venue', fields: [{ name: 'mic', type: 'string' }] } },
  ],
});

describe('serde/compatibility', () => {
  it('parses Confluent verbose messages and skips the bookkeeping ones', () => {
    const parsed = parseIncompatibilities([
      'Incompatibility{type:READER_FIELD_MISSING_DEFAULT_VALUE, location:/fields/1, message:nickname, reader:{"type":"record"}, writer:{"type":"record"}}',
      'Incompatibility{type:TYPE_MISMATCH, location:/fields/0/type, message:reader type: INT not compatible with writer type: STRING, reader:{}, writer:{}}',
      '{oldSchemaVersion: 2}',
      "{oldSchema: '{\"type\":\"record\"}'}",
      "{compatibility: 'BACKWARD'}",
      'something else entirely',
    ]);
    expect(parsed.map((p) => [p.type, p.location, p.detail])).to.deep.equal([
      ['READER_FIELD_MISSING_DEFAULT_VALUE', '/fields/1', 'nickname'],
      ['TYPE_MISMATCH', '/fields/0/type', 'reader type: INT not compatible with writer type: STRING'],
      ['INCOMPATIBLE', undefined, 'something else entirely'],
    ]);
  });

  it('prefers the registry explanation, then the local one, and keeps the registry text', () => {
    const local = [{ type: 'TYPE_MISMATCH', location: '/fields/0/type', detail: 'x', description: 'd' }];
    const withReasons = new SchemaCompatibilityError({
      subject: 's',
      level: 'BACKWARD',
      messages: ['Incompatibility{type:MISSING_ENUM_SYMBOLS, location:/fields/1/type/symbols, message:[SELL], reader:{}, writer:{}}'],
      incompatibilities: local,
    });
    expect(withReasons.message).to.contain('MISSING_ENUM_SYMBOLS at /fields/1/type/symbols ([SELL])');
    const unstructured = new SchemaCompatibilityError({ subject: 's', messages: ['409 incompatible: [b at /fields/1]'], incompatibilities: local });
    expect(unstructured.message).to.contain('TYPE_MISMATCH at /fields/0/type (x)').and.contain('(registry: 409 incompatible: [b at /fields/1])');
    expect(new SchemaCompatibilityError({ reason: 'because' }).message).to.equal('schemas are not compatible: because');
  });

  it('BACKWARD: a new required field, a changed type, a removed enum symbol, nested', () => {
    const next = defineSchema({
      type: 'record',
      name: 'Quote',
      fields: [
        { name: 'symbol', type: 'int' },
        { name: 'side', type: { type: 'enum', name: 'Side', symbols: ['BUY'] } },
        { name: 'venue', type: { type: 'record', name: 'Venue', fields: [{ name: 'mic', type: 'string' }, { name: 'lei', type: 'string' }] } },
        { name: 'ok', type: 'string', default: '' },
      ],
    });
    const found = explainIncompatibility(next, v1, 'BACKWARD');
    expect(found.map((f) => [f.type, f.location, f.detail])).to.deep.equal([
      ['TYPE_MISMATCH', '/fields/0/type', 'symbol: reader type int cannot read writer type string'],
      ['MISSING_ENUM_SYMBOLS', '/fields/1/type/symbols', 'side: SELL'],
      ['READER_FIELD_MISSING_DEFAULT_VALUE', '/fields/2/type/fields/1', 'venue.lei'],
    ]);
  });

  it('FORWARD checks old readers against new data; FULL checks both; widening is fine', () => {
    const dropped = defineSchema({ ...v1, fields: [v1.fields[1], v1.fields[2]] });
    expect(explainIncompatibility(dropped, v1, 'BACKWARD')).to.deep.equal([]);
    const forward = explainIncompatibility(dropped, v1, 'FORWARD_TRANSITIVE');
    expect(forward.map((f) => [f.type, f.detail])).to.deep.equal([['READER_FIELD_MISSING_DEFAULT_VALUE', 'symbol']]);
    expect(forward[0]!.description).to.contain('old readers reading new data');
    expect(explainIncompatibility(dropped, v1, 'FULL')).to.have.length(1);
    expect(explainIncompatibility(dropped, v1, 'NONE')).to.deep.equal([]);
    const wider = defineSchema({ type: 'record', name: 'N', fields: [{ name: 'n', type: 'long' }] });
    const narrow = defineSchema({ type: 'record', name: 'N', fields: [{ name: 'n', type: 'int' }] });
    expect(explainIncompatibility(wider, narrow, 'BACKWARD')).to.deep.equal([]);
    expect(explainIncompatibility(narrow, wider, 'BACKWARD')[0]).to.deep.include({ type: 'TYPE_MISMATCH', location: '/fields/0/type' });
  });
});
