import { expect } from 'chai';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { startStubServer, type StubServer } from '../../core/src/testing/stubServer.js';
import { makeFaultProject, passThroughPlugin, runCli, type Project } from './helpers.js';

/** A stream schema that differs from READING_SCHEMA, for "one topic, two schemas". */
const OTHER_SCHEMA = { type: 'record', name: 'Price', namespace: 'faults', fields: [{ name: 'area', type: 'string' }, { name: 'eur', type: 'double' }] };

/**
 * One malformed pipeline file: its text (`STUB` is replaced by the stub server's URL; the plugin is
 * `../../items.js`), the path inside the file the error must name, and a piece of the message.
 */
interface Case {
  kind: string;
  yaml: string;
  path: string;
  message: RegExp;
}

const SOURCE = `
  air:
    plugin: ../../items.js
    config: { baseUrl: "STUB" }
    topic: air.readings
    schedule: { every: 100ms }`;

/** A valid pipeline with `extra` lines appended to the source `air` and `top` lines at the top level. */
const withSource = (extra: string, top = ''): string => `name: faults-config\nsources:${SOURCE}\n${extra}${top ? `\n${top}` : ''}\n`;

const CASES: readonly Case[] = [
  { kind: 'YAML syntax error', yaml: `name: faults-config\nsources:\n  air: { plugin: ../../items.js, topic: [unclosed\n`, path: '(root)', message: /YAML syntax error/ },
  { kind: 'duplicate YAML key', yaml: `name: a\nname: b\nsources:${SOURCE}\n`, path: '(root)', message: /unique/i },
  { kind: 'unknown top-level key', yaml: `nmae: faults-config\nsources:${SOURCE}\n`, path: 'nmae', message: /unknown key "nmae" \(did you mean "name"\?\)/ },
  { kind: 'unknown source key', yaml: withSource('    shedule: once'), path: 'sources.air.shedule', message: /unknown key "shedule"/ },
  { kind: 'wrong type', yaml: withSource('    enabled: "yes"'), path: 'sources.air.enabled', message: /expected true or false/ },
  {
    kind: 'unknown plugin package',
    yaml: `name: faults-config\nsources:\n  air:\n    plugin: "@tributary/plugin-does-not-exist"\n    topic: air.readings\n    schedule: once\n`,
    path: 'sources.air.plugin',
    message: /not installed/,
  },
  {
    kind: 'plugin file missing',
    yaml: `name: faults-config\nsources:\n  air:\n    plugin: ./missing-plugin.js\n    topic: air.readings\n    schedule: once\n`,
    path: 'sources.air.plugin',
    message: /plugin file not found/,
  },
  {
    kind: 'bad cron expression',
    yaml: `name: faults-config\nsources:\n  air:\n    plugin: ../../items.js\n    config: { baseUrl: "STUB" }\n    topic: air.readings\n    schedule: { cron: "61 * * * *" }\n`,
    path: 'sources.air.schedule.cron',
    message: /cron/,
  },
  {
    kind: 'bad time zone',
    yaml: `name: faults-config\nsources:\n  air:\n    plugin: ../../items.js\n    config: { baseUrl: "STUB" }\n    topic: air.readings\n    schedule: { cron: "*/5 * * * *", timezone: CEST }\n`,
    path: 'sources.air.schedule.timezone',
    message: /IANA time zone/,
  },
  {
    kind: 'missing environment variable',
    yaml: `name: faults-config\nsources:\n  air:\n    plugin: ../../items.js\n    config: { baseUrl: "STUB", apiKey: "\${FAULTS_UNSET_VARIABLE}" }\n    topic: air.readings\n    schedule: once\n`,
    path: 'sources.air.config.apiKey',
    message: /environment variable FAULTS_UNSET_VARIABLE is not set/,
  },
  {
    kind: 'one topic, two schemas',
    yaml: withSource('', `  prices:\n    plugin: ../../other.js\n    config: { baseUrl: "STUB" }\n    topic: air.readings\n    schedule: once`).replace('\n\n', '\n'),
    path: 'sources.prices.topic',
    message: /different Avro schema/,
  },
  { kind: 'bad duration', yaml: withSource('    resilience: { timeout: soon }'), path: 'sources.air.resilience.timeout', message: /duration/ },
  {
    kind: 'group names an unknown source',
    yaml: `name: faults-config\nsources:\n  air:\n    plugin: ../../items.js\n    config: { baseUrl: "STUB" }\n    topic: air.readings\ngroups:\n  g:\n    sources: [air, airr]\n    schedule: once\n`,
    path: 'groups.g.sources[1]',
    message: /unknown source "airr"/,
  },
  { kind: 'negative number', yaml: withSource('    resilience: { retry: { maxRetries: -1 } }'), path: 'sources.air.resilience.retry.maxRetries', message: /non-negative integer/ },
  { kind: 'unknown sink type', yaml: withSource('', 'sink: { type: s3, bucket: x }'), path: 'sink.type', message: /file|stdout|kafka/ },
  { kind: 'key field not in the schema', yaml: withSource('    key: station_id'), path: 'sources.air.key', message: /key field "station_id" is not a field of the schema/ },
  { kind: 'plugin options invalid', yaml: withSource('').replace('config: { baseUrl: "STUB" }', 'config: { baseUrl: "STUB", pages: 0 }'), path: 'sources.air.config.pages', message: /faults-pass-through/ },
  { kind: 'plugin option unknown', yaml: withSource('').replace('config: { baseUrl: "STUB" }', 'config: { baseUrl: "STUB", pagez: 2 }'), path: 'sources.air.config.pagez', message: /unknown key "pagez" \(did you mean "pages"\?\)/ },
  { kind: 'bad topic name', yaml: withSource('').replace('topic: air.readings', 'topic: "air readings"'), path: 'sources.air.topic', message: /Kafka topic name/ },
  {
    kind: 'unknown stream',
    yaml: withSource('').replace('topic: air.readings', 'streams: { itemz: { topic: air.readings } }'),
    path: 'sources.air.streams.itemz',
    message: /unknown stream "itemz"/,
  },
  {
    kind: 'two values that contradict',
    yaml: withSource('    resilience: { retry: { initialDelay: 10s, maxDelay: 5s } }'),
    path: 'sources.air.resilience.retry.maxDelay',
    message: /must be at least initialDelay/,
  },
  { kind: 'port out of range', yaml: withSource('', 'metrics: { port: 70000 }'), path: 'metrics.port', message: /port/ },
  {
    kind: 'backfill window upside down',
    yaml: withSource('').replace('schedule: { every: 100ms }', 'schedule: { backfill: { from: 2024-02-01, to: 2024-01-01 } }'),
    path: 'sources.air.schedule.backfill.to',
    message: /later than backfill.from/,
  },
  { kind: 'no sources', yaml: `name: faults-config\nsources: {}\n`, path: 'sources', message: /source/ },
  { kind: 'unknown file sink codec', yaml: withSource('', 'sink: { type: file, codec: zstd }'), path: 'sink.codec', message: /deflate/ },
];

describe('fault injection: malformed pipeline files', function () {
  this.timeout(90_000);
  let stub: StubServer | undefined;
  let project: Project | undefined;
  after(async () => {
    await stub?.close();
    await project?.cleanup();
  });

  it(`a table of ${CASES.length} kinds: run and validate each exit 2 with an error naming the file and the path inside it; nothing runs (no output, no state, no request)`, async () => {
    stub = await startStubServer({ routes: [{ path: '/items', json: { items: [] } }] });
    project = await makeFaultProject({ 'other.js': passThroughPlugin(OTHER_SCHEMA, 'area') });
    for (const [i, c] of CASES.entries()) {
      const dir = project.path(`cases/${String(i + 1).padStart(2, '0')}`);
      await mkdir(dir, { recursive: true });
      await writeFile(`${dir}/pipeline.yaml`, c.yaml.replaceAll('STUB', stub.url));
    }
    expect(process.env.FAULTS_UNSET_VARIABLE).to.equal(undefined);

    const problems: string[] = [];
    const check = async (c: Case, i: number): Promise<void> => {
      const dir = project!.path(`cases/${String(i + 1).padStart(2, '0')}`);
      const file = `${dir}/pipeline.yaml`;
      for (const args of [['validate', file], ['run', file, '--no-metrics', '--log-format', 'json']]) {
        const res = await runCli(args, { cwd: dir });
        const where = `${c.kind} (${args[0]}): exit ${res.code}\n${res.stderr}`;
        if (res.code !== 2) problems.push(`${where}\n  expected exit code 2`);
        if (!res.stderr.includes(file)) problems.push(`${where}\n  the error does not name the file ${file}`);
        // "  - sources.air.shedule (pipeline.yaml:8:5): unknown key ..."
        const listed = res.stderr.split('\n').filter((l) => l.startsWith(`  - ${c.path} (pipeline.yaml:`));
        if (listed.length === 0) problems.push(`${where}\n  the error does not name the path ${c.path} with its line`);
        else if (!listed.some((l) => c.message.test(l))) problems.push(`${where}\n  the message of ${c.path} does not match ${c.message}`);
        if (res.stdout !== '') problems.push(`${where}\n  stdout is not empty: ${res.stdout}`);
      }
      const left = (await readdir(dir)).filter((f) => f !== 'pipeline.yaml');
      if (left.length > 0) problems.push(`${c.kind}: the run left ${left.join(', ')} next to the pipeline file`);
    };
    // four at a time
    const queue = [...CASES.entries()];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await check(next[1], next[0]);
      }),
    );
    expect(problems, problems.join('\n\n')).to.deep.equal([]);
    expect(stub.count(), 'requests to the API').to.equal(0);
    expect((await readdir(project.dir)).sort()).to.deep.equal(['cases', 'items.js', 'node_modules', 'other.js', 'plugin.js']);
  });
});
