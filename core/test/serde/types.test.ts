import { expect } from 'chai';
import { defineSchema, type AvroSchema, type InferAvro, type InferAvroInput } from '../../src/serde/types.js';

/** True when A and B are the same type (not merely assignable). */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when its type argument is `true`. */
function assertType<T extends true>(): T | undefined {
  return undefined;
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
    { name: 'objForm', type: { type: 'string' } },
    { name: 'e', type: { type: 'enum', name: 'Level', symbols: ['LOW', 'HIGH'] } },
    { name: 'arr', type: { type: 'array', items: 'int' } },
    { name: 'm', type: { type: 'map', values: ['null', 'string'] } },
    { name: 'fx', type: { type: 'fixed', name: 'Hash', size: 4 } },
    { name: 'opt', type: ['null', 'string'], default: null },
    { name: 'multi', type: ['null', 'string', 'int'] },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'tsMicros', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } },
    { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    { name: 'id', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'timeOfDay', type: { type: 'int', logicalType: 'time-millis' } },
    {
      name: 'nested',
      type: {
        type: 'record',
        name: 'Point',
        fields: [
          { name: 'x', type: 'double' },
          { name: 'y', type: 'double', default: 0 },
        ],
      },
    },
    { name: 'again', type: ['null', 'Point'], default: null },
    { name: 'qualified', type: 'test.serde.Level' },
    { name: 'points', type: { type: 'array', items: 'Point' } },
  ],
});

type Everything = InferAvro<typeof everything>;
type Expected = {
  n: null;
  b: boolean;
  i: number;
  l: number;
  f: number;
  d: number;
  by: Buffer;
  s: string;
  objForm: string;
  e: 'LOW' | 'HIGH';
  arr: number[];
  m: Record<string, string | null>;
  fx: Buffer;
  opt: string | null;
  multi: string | number | null;
  ts: number;
  tsMicros: number;
  day: string;
  price: string;
  id: string;
  timeOfDay: number;
  nested: { x: number; y: number };
  again: { x: number; y: number } | null;
  qualified: 'LOW' | 'HIGH';
  points: { x: number; y: number }[];
};

// The assertions below are checked by the type checker (`tsc -p core/tsconfig.test.json`): a
// wrong inference makes a plain line fail, and an `@ts-expect-error` line that no longer errors
// fails too.
assertType<Equals<Everything, Expected>>();
// @ts-expect-error a long is not a string
assertType<Equals<InferAvro<'long'>, string>>();
// @ts-expect-error the enum is not widened to string
assertType<Equals<Everything['e'], string>>();
// @ts-expect-error an optional union keeps its null branch
assertType<Equals<Everything['opt'], string>>();

assertType<Equals<InferAvro<'long', bigint>, bigint>>();
assertType<Equals<InferAvro<readonly ['null', 'long']>, number | null>>();
assertType<Equals<InferAvro<{ type: 'fixed'; name: 'D'; size: 8; logicalType: 'decimal'; precision: 4 }>, string>>();
// A logical type on the wrong underlying type is ignored, as the Avro specification says.
assertType<Equals<InferAvro<{ type: 'string'; logicalType: 'timestamp-millis' }>, string>>();
assertType<Equals<InferAvro<'com.example.Unknown'>, unknown>>();

type EverythingIn = InferAvroInput<typeof everything>;
assertType<Equals<EverythingIn['ts'], number | Date>>();
assertType<Equals<EverythingIn['day'], string | Date>>();
assertType<Equals<EverythingIn['price'], string | number | bigint>>();
assertType<Equals<EverythingIn['l'], number | bigint>>();
// Fields with a default may be left out when writing, but not when reading.
assertType<Equals<Pick<EverythingIn, 'opt'>, { opt?: string | null }>>();
assertType<Equals<EverythingIn['nested'], { x: number; y?: number }>>();
// @ts-expect-error a field without a default is required when writing
assertType<Equals<Pick<EverythingIn, 's'>, { s?: string }>>();

// Recursive named types resolve lazily.
const list = defineSchema({
  type: 'record',
  name: 'Node',
  fields: [
    { name: 'value', type: 'int' },
    { name: 'next', type: ['null', 'Node'], default: null },
  ],
});
type Node = InferAvro<typeof list>;
const node: Node = { value: 1, next: { value: 2, next: null } };
// @ts-expect-error the nested node's value is an int
const badNode: Node = { value: 1, next: { value: 'two', next: null } };

// defineSchema rejects what is not an Avro schema.
// @ts-expect-error `items` is missing
defineSchema({ type: 'array' });
// @ts-expect-error `symbols` must be strings
defineSchema({ type: 'enum', name: 'E', symbols: [1, 2] });

describe('serde/types', () => {
  it('defineSchema returns its argument unchanged', () => {
    const schema: AvroSchema = { type: 'array', items: 'string' };
    expect(defineSchema(schema)).to.equal(schema);
    expect(everything.fields).to.have.length(25);
  });

  it('record values typed by InferAvro are plain objects', () => {
    expect(node.next?.value).to.equal(2);
    expect(badNode.value).to.equal(1);
  });
});
