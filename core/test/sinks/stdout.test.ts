import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { StdoutSink } from '../../src/sinks/stdout.js';
import { toJsonSafe } from '../../src/sinks/json.js';

function capture(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return {
    stream,
    lines: () =>
      Buffer.concat(chunks)
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('sinks/StdoutSink', () => {
  it('writes one JSON line per record with topic, key, timestamp, headers and value; bigints as strings, bytes as base64', async () => {
    const out = capture();
    const sink = new StdoutSink({ stream: out.stream });
    await sink.start([]);
    await sink.write([
      { topic: 't', key: 'k', value: { n: 9007199254740993n, raw: Buffer.from('hi'), when: new Date(0) }, timestamp: 5, headers: { 'tributary-source': 's' } },
      { topic: 't', key: null, value: { n: 1 }, timestamp: 6, headers: {} },
    ]);
    await sink.writeDeadLetters([{ topic: 't', source: 's', code: 'ERR_SCHEMA', field: 'n', reason: 'bad', value: { n: 'x' }, timestamp: 7 }]);
    await sink.flush();
    await sink.close();
    const lines = out.lines();
    expect(lines[0]).to.deep.equal({
      topic: 't',
      key: 'k',
      timestamp: 5,
      headers: { 'tributary-source': 's' },
      value: { n: '9007199254740993', raw: 'aGk=', when: '1970-01-01T00:00:00.000Z' },
    });
    expect(lines[1]).to.deep.include({ key: null, value: { n: 1 } });
    expect(lines[2]).to.deep.equal({ deadLetter: { topic: 't', source: 's', code: 'ERR_SCHEMA', field: 'n', reason: 'bad', value: { n: 'x' }, timestamp: 7 } });
  });

  it('leaves dead letters out when asked to', async () => {
    const out = capture();
    const sink = new StdoutSink({ stream: out.stream, deadLetters: false });
    await sink.writeDeadLetters([{ topic: 't', source: 's', code: 'X', reason: 'r', value: null, timestamp: 1 }]);
    await sink.write([{ topic: 't', key: null, value: {}, timestamp: 1, headers: {} }]);
    expect(out.lines()).to.have.length(1);
  });

  it('waits for a full stream to drain (back-pressure)', async () => {
    const stream = new PassThrough({ highWaterMark: 16 });
    const sink = new StdoutSink({ stream });
    let resolved = false;
    const write = sink.write([{ topic: 't', key: null, value: { text: 'x'.repeat(1000) }, timestamp: 1, headers: {} }]).then(() => (resolved = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(resolved).to.equal(false);
    stream.resume();
    await write;
    expect(resolved).to.equal(true);
  });

  it('toJsonSafe handles maps, sets, cycles, non-finite numbers and undefined fields', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(toJsonSafe({ m: new Map([['k', 1n]]), s: new Set([1]), x: undefined, inf: Infinity, c: cyclic })).to.deep.equal({
      m: { k: '1' },
      s: [1],
      inf: 'Infinity',
      c: { a: 1, self: '[Circular]' },
    });
  });
});
