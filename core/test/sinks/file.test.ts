import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import avro from 'avsc';
import { FileSink } from '../../src/sinks/file.js';
import { createSink, registerSinkFactory } from '../../src/sinks/index.js';
import { MemorySink } from '../../src/sinks/memory.js';
import type { Envelope, TopicSpec } from '../../src/pipeline/types.js';
import { compileSchema } from '../../src/serde/avro.js';
import { tempDir } from '../runtime/helpers.js';

const PRICE = {
  type: 'record',
  name: 'Price',
  namespace: 'energy',
  fields: [
    { name: 'zone', type: 'string' },
    { name: 'eur', type: 'double' },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
} as const;

const spec = (topic: string): TopicSpec => ({ topic, schema: PRICE as unknown as Record<string, unknown>, source: 'entsoe', stream: 'prices' });

function env(topic: string, i: number): Envelope {
  return { topic, key: `Z${i}`, value: { zone: `Z${i}`, eur: i + 0.5, at: new Date(Date.UTC(2025, 0, 1, i)), note: i % 2 ? 'odd' : null }, timestamp: 0, headers: {} };
}

function decode(path: string): Promise<{ values: unknown[]; codec: string; schema: unknown }> {
  return new Promise((resolve, reject) => {
    const values: unknown[] = [];
    let codec = '';
    let schema: unknown;
    avro
      .createFileDecoder(path)
      .on('metadata', (type: avro.Type, c: string) => {
        codec = c;
        schema = type.schema();
      })
      .on('data', (v: unknown) => values.push(v))
      .on('error', reject)
      .on('end', () => resolve({ values, codec, schema }));
  });
}

async function avroFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.avro')).sort();
}

describe('sinks/FileSink', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(() => tmp.cleanup());

  for (const codec of ['null', 'deflate'] as const) {
    it(`writes Avro object container files per topic that avsc decodes back (codec ${codec})`, async () => {
      const sink = new FileSink({ dir: tmp.dir, codec, runId: 'run1', compile: (s) => compileSchema(s as never) });
      await sink.start([spec('prices'), spec('prices.backup')]);
      await sink.write([env('prices', 1), env('prices', 2), env('prices.backup', 3)]);
      await sink.write([env('prices', 4)]);
      await sink.close();
      expect(await avroFiles(join(tmp.dir, 'prices'))).to.deep.equal(['run1-0001.avro']);
      const { values, codec: written, schema } = await decode(join(tmp.dir, 'prices', 'run1-0001.avro'));
      expect(written).to.equal(codec);
      expect((schema as { name: string }).name).to.equal('energy.Price');
      expect(values).to.have.length(3);
      // the plain decoder (no logical types) reads timestamp-millis as the underlying long
      expect(values[0]).to.deep.include({ zone: 'Z1', eur: 1.5, at: Date.UTC(2025, 0, 1, 1), note: 'odd' });
      expect(values[1]).to.deep.include({ zone: 'Z2', note: null });
      const backup = await decode(join(tmp.dir, 'prices.backup', 'run1-0001.avro'));
      expect(backup.values).to.have.length(1);
    });
  }

  it('rotates to a new file after maxRecordsPerFile records; each file is complete on its own', async () => {
    const sink = new FileSink({ dir: tmp.dir, runId: 'r', maxRecordsPerFile: 2, flushEveryMs: 0 });
    await sink.start([spec('p')]);
    await sink.write([1, 2, 3, 4, 5].map((i) => env('p', i)));
    await sink.close();
    const files = await avroFiles(join(tmp.dir, 'p'));
    expect(files).to.deep.equal(['r-0001.avro', 'r-0002.avro', 'r-0003.avro']);
    const counts = await Promise.all(files.map(async (f) => (await decode(join(tmp.dir, 'p', f))).values.length));
    expect(counts).to.deep.equal([2, 2, 1]);
    expect(sink.files().p).to.have.length(3);
  });

  it('data written by write() is readable before close() (each write is a whole block)', async () => {
    const sink = new FileSink({ dir: tmp.dir, runId: 'live' });
    await sink.start([spec('p')]);
    await sink.write([env('p', 1)]);
    const mid = await decode(join(tmp.dir, 'p', 'live-0001.avro'));
    expect(mid.values).to.have.length(1);
    await sink.write([env('p', 2)]);
    await sink.flush();
    expect((await decode(join(tmp.dir, 'p', 'live-0001.avro'))).values).to.have.length(2);
    await sink.close();
  });

  it('starts a new file per run instead of appending to an older one', async () => {
    for (const runId of ['a', 'b']) {
      const sink = new FileSink({ dir: tmp.dir, runId });
      await sink.start([spec('p')]);
      await sink.write([env('p', 1)]);
      await sink.close();
    }
    expect(await avroFiles(join(tmp.dir, 'p'))).to.deep.equal(['a-0001.avro', 'b-0001.avro']);
  });

  it('writes dead letters as JSON lines per topic, bigints as strings', async () => {
    const sink = new FileSink({ dir: tmp.dir });
    await sink.start([spec('p')]);
    await sink.writeDeadLetters([
      { topic: 'p', source: 's', code: 'ERR_SCHEMA', field: 'eur', reason: 'expected double', value: { eur: 'x', big: 12n as unknown }, timestamp: 1 },
      { topic: 'p', source: 's', code: 'ERR_SCHEMA', reason: 'second', value: {}, timestamp: 2 },
    ]);
    await sink.close();
    const lines = (await readFile(join(tmp.dir, 'p.dlq.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).to.have.length(2);
    expect(lines[0]).to.deep.equal({ topic: 'p', source: 's', code: 'ERR_SCHEMA', field: 'eur', reason: 'expected double', value: { eur: 'x', big: '12' }, timestamp: 1 });
  });

  it('rejects unknown topics, a topic announced with two schemas, and writes after close', async () => {
    const other = { ...spec('p'), schema: { type: 'record', name: 'Other', fields: [] } };
    const sink2 = new FileSink({ dir: tmp.dir });
    let err: unknown;
    try {
      await sink2.start([spec('p'), other]);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/topic "p" receives records of two different schemas/);
    const sink3 = new FileSink({ dir: tmp.dir });
    await sink3.start([spec('p')]);
    let unknown: unknown;
    await sink3.write([env('nope', 1)]).catch((e: unknown) => (unknown = e));
    expect(String(unknown)).to.match(/unknown topic "nope"/);
    await sink3.close();
    let closed: unknown;
    await sink3.write([env('p', 1)]).catch((e: unknown) => (closed = e));
    expect(String(closed)).to.match(/after close/);
    expect(() => new FileSink({ dir: '' })).to.throw(TypeError);
  });

  it('createSink builds file and stdout sinks from their config', async () => {
    const file = await createSink({ type: 'file', dir: tmp.dir, codec: 'null', flushEveryMs: 0 });
    expect(file.name).to.equal('file');
    expect((file as FileSink).dir).to.equal(tmp.dir);
    const stdout = await createSink({ type: 'stdout' });
    expect(stdout.name).to.equal('stdout');
    let err: unknown;
    await createSink({ type: 'nope' } as never).catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/unknown sink type "nope"/);
  });
});

describe('sinks/createSink hooks', () => {
  it('registerSinkFactory overrides a type until the returned function restores it', async () => {
    const custom = new MemorySink();
    const restore = registerSinkFactory('stdout', () => custom);
    try {
      expect(await createSink({ type: 'stdout' })).to.equal(custom);
    } finally {
      restore();
    }
    expect((await createSink({ type: 'stdout' })).name).to.equal('stdout');
  });
});
