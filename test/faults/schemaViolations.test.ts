import { expect } from 'chai';
import { startStubServer, type StubServer } from '../../core/src/testing/stubServer.js';
import { logLines, makeFaultProject, readDeadLetters, readTopic, runCli, type Project } from './helpers.js';

/** A measurement with a long, an enum, a double, a nested record and an optional field. */
const SCHEMA = {
  type: 'record',
  name: 'Measurement',
  namespace: 'faults',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'count', type: 'long' },
    { name: 'level', type: { type: 'enum', name: 'Level', symbols: ['LOW', 'HIGH'] } },
    { name: 'reading', type: 'double' },
    { name: 'location', type: { type: 'record', name: 'Location', fields: [{ name: 'station', type: 'string' }, { name: 'lat', type: 'double' }] } },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
};

const good = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  count: 7,
  level: 'LOW',
  reading: 1.5,
  location: { station: 'NL01', lat: 52.1 },
  note: null,
  ...extra,
});

/** Bad records: what is wrong, the field path the dead letter must name, and a piece of its reason. */
const BAD: readonly { id: string; what: string; value: Record<string, unknown>; field: string; reason: RegExp }[] = [
  { id: 'bad-missing', what: 'missing field', value: (({ count: _c, ...rest }) => rest)(good('bad-missing')), field: 'count', reason: /missing required field/ },
  { id: 'bad-type', what: 'wrong type', value: good('bad-type', { reading: 'high' }), field: 'reading', reason: /expected double, got string "high"/ },
  {
    id: 'bad-long',
    what: 'out-of-range long (beyond 64 bits)',
    value: good('bad-long', { count: { $bigint: '18446744073709551616' } }),
    field: 'count',
    reason: /out of range for long: 18446744073709551616n does not fit in 64 bits/,
  },
  {
    id: 'bad-unsafe-long',
    what: 'out-of-range long (a JSON number beyond 2^53)',
    value: good('bad-unsafe-long', { count: 1e20 }),
    field: 'count',
    reason: /out of range for long/,
  },
  { id: 'bad-enum', what: 'bad enum symbol', value: good('bad-enum', { level: 'MEDIUM' }), field: 'level', reason: /not one of the enum symbols \[LOW, HIGH\] \(got string "MEDIUM"\)/ },
  {
    id: 'bad-nested',
    what: 'wrong type in a nested record',
    value: good('bad-nested', { location: { station: 42, lat: 52.1 } }),
    field: 'location.station',
    reason: /expected string, got/,
  },
  { id: 'bad-null', what: 'null in a required field', value: good('bad-null', { reading: null }), field: 'reading', reason: /expected double, got null/ },
];

describe('fault injection: records that violate their schema (file sink)', function () {
  this.timeout(30_000);
  let stub: StubServer | undefined;
  let project: Project | undefined;
  afterEach(async () => {
    await stub?.close();
    await project?.cleanup();
    stub = undefined;
    project = undefined;
  });

  it('a bad record is dead-lettered to <dir>/<topic>.dlq.jsonl with code ERR_SCHEMA, the field path and the reason; every good record still arrives; the run succeeds', async () => {
    const goods = [
      good('good-1'),
      good('good-2', { level: 'HIGH', note: 'calibrated' }),
      good('good-3', { count: { $bigint: '9007199254740993' } }), // a long beyond 2^53 as a bigint: valid
      good('good-4', { count: -3, reading: 0 }),
    ];
    // bad and good records interleaved, over two pages
    const pages = [
      [goods[0], BAD[0]!.value, BAD[1]!.value, goods[1], BAD[2]!.value],
      [BAD[3]!.value, goods[2], BAD[4]!.value, BAD[5]!.value, goods[3], BAD[6]!.value],
    ];
    stub = await startStubServer({ routes: [{ path: '/items', json: (req) => ({ items: pages[Number(req.query.page) - 1] }) }] });
    project = await makeFaultProject(
      {
        'pipeline.yaml': `
name: faults-schema
metrics: { enabled: false }
sources:
  meter:
    plugin: ./items.js
    config: { baseUrl: "${stub.url}", pages: 2 }
    topic: meter.measurements
    schedule: once
`,
      },
      SCHEMA,
      'id',
    );
    const run = await runCli(['run', project.path('pipeline.yaml'), '--once', '--log-format', 'json', '--summary', 'json', '--no-progress'], { cwd: project.dir });
    expect(run.code, run.stderr).to.equal(0);

    // every good record, in order
    const records = await readTopic(project.path('out/meter.measurements'));
    expect(records.map((r) => r.id)).to.deep.equal(['good-1', 'good-2', 'good-3', 'good-4']);
    expect(records[1]).to.include({ level: 'HIGH', note: 'calibrated' });
    expect(String(records[2]!.count)).to.equal('9007199254740993');

    // every bad record, with its reason
    const letters = await readDeadLetters(project.path('out'), 'meter.measurements');
    expect(letters.map((l) => l.value.id)).to.deep.equal(BAD.map((b) => b.id));
    for (const [i, bad] of BAD.entries()) {
      const letter = letters[i]!;
      expect(letter, bad.what).to.include({ topic: 'meter.measurements', source: 'meter', code: 'ERR_SCHEMA', field: bad.field });
      expect(letter.reason, bad.what).to.match(bad.reason);
      expect(letter.reason, bad.what).to.include(bad.field);
      expect(letter.timestamp).to.be.a('number');
    }
    // 64-bit values survive as decimal strings
    expect(letters[2]!.value.count).to.equal('18446744073709551616');

    // counted and logged
    const summary = JSON.parse(run.stderr.slice(run.stderr.lastIndexOf('\n{\n'))) as { topics: Record<string, { records: number; deadLetters: number }> };
    expect(summary.topics['meter.measurements']).to.include({ records: goods.length, deadLetters: BAD.length });
    const warned = logLines(run.stderr).filter((l) => l.level === 40 && /ERR_SCHEMA|does not match schema/.test(JSON.stringify(l)));
    expect(warned.length).to.be.at.least(1);
  });
});
