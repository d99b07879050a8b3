import { expect } from 'chai';
import { readdir } from 'node:fs/promises';
import { main } from '../../src/cli/cli.js';
import { fakeIo, makeProject, PLUGIN_JS } from '../cli/helpers.js';

const PIPELINE = `
name: flags-test
metrics: { enabled: false }
sources:
  air:
    plugin: ./plugin.js
    config: { count: 2 }
    topic: air.readings
    schedule: once
`;

describe('cli: --state-dir and --sink kafka', () => {
  let project: Awaited<ReturnType<typeof makeProject>>;
  afterEach(async () => project?.cleanup());

  it('--state-dir keeps the checkpoints in the given directory (relative to the working directory)', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE });
    const io = fakeIo({}, project.dir);
    expect(await main(['run', project.path('pipeline.yaml'), '--once', '--sink', 'stdout', '--log-level', 'silent', '--state-dir', 'elsewhere/state'], io)).to.equal(0);
    expect(await readdir(project.path('elsewhere/state'))).to.deep.equal(['air.json']);
    expect(await readdir(project.dir)).to.not.include('.tributary');
  });

  it('--sink kafka without brokers is a usage error naming --brokers and KAFKA_BROKERS; nothing runs', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE });
    const io = fakeIo({}, project.dir);
    expect(await main(['run', project.path('pipeline.yaml'), '--once', '--sink', 'kafka', '--log-level', 'silent'], io)).to.equal(2);
    expect(io.err()).to.include('--sink kafka needs the brokers').and.include('KAFKA_BROKERS');
    expect(io.out()).to.equal('');
  });

  it('--sink kafka checks the brokers like the pipeline file would', async () => {
    project = await makeProject({ 'plugin.js': PLUGIN_JS, 'pipeline.yaml': PIPELINE });
    const io = fakeIo({ KAFKA_BROKERS: 'not a broker' }, project.dir);
    expect(await main(['validate', project.path('pipeline.yaml')], io)).to.equal(0);
    const run = fakeIo({ KAFKA_BROKERS: 'not a broker' }, project.dir);
    expect(await main(['run', project.path('pipeline.yaml'), '--once', '--sink', 'kafka', '--log-level', 'silent'], run)).to.equal(2);
    expect(run.err()).to.include('sink.brokers');
  });
});
