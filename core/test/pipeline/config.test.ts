import { expect } from 'chai';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDuration, parseByteSize, parseDuration } from '../../src/pipeline/config/durations.js';
import { substituteString } from '../../src/pipeline/config/env.js';
import { loadPipeline, parsePipeline } from '../../src/pipeline/config/load.js';
import { PIPELINE_DEFAULTS, RESILIENCE_DEFAULTS, RESILIENCE_LAYER_DEFAULTS, SINGLE_STREAM } from '../../src/pipeline/config/normalize.js';
import { pipelineJsonSchema } from '../../src/pipeline/config/schema.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pipelines = path.resolve(here, '../fixtures/pipelines');
const file = path.join(pipelines, 'inline.yaml');
const ENV = { AIR_API_KEY: 'sk-live-4c1d9e', KAFKA_PASSWORD: 'hunter2-kafka-pw' };

function parse(text: string, env: Record<string, string> = {}, overrides?: Record<string, unknown>) {
  return parsePipeline(text, { file, env, ...(overrides ? { overrides } : {}) });
}

const one = (extra = '') => `
sources:
  air:
    plugin: ./plugins/air.js
    topic: air.measurements
    schedule: { every: 15m }
${extra}`;

describe('pipeline config: loading', () => {
  it('loads a complete pipeline file with every section', async () => {
    const config = await loadPipeline(path.join(pipelines, 'energy-hub.yaml'), { env: ENV });
    expect(config.file).to.equal(path.join(pipelines, 'energy-hub.yaml'));
    expect(config.name).to.equal('energy-hub');
    expect(Object.keys(config.sources)).to.deep.equal(['air', 'air-utrecht', 'grid', 'prices-a', 'prices-b', 'archived']);

    const air = config.sources.air!;
    expect(air.id).to.equal('air');
    expect(air.plugin).to.equal('./plugins/air.js');
    expect(air.config).to.deep.equal({ latitude: 52.1, longitude: 5.1, apiKey: 'sk-live-4c1d9e' });
    expect(air.schedule).to.deep.equal({ kind: 'every', intervalMs: 900_000 }); // from defaults.schedule
    expect(air.streams).to.deep.equal({ [SINGLE_STREAM]: { topic: 'air.measurements' } });
    expect(air.enabled).to.equal(true);
    expect(air.resilience).to.deep.equal({
      timeoutMs: 20_000,
      retry: { maxRetries: 5, initialDelayMs: 1_000, factor: 2, maxDelayMs: 60_000, jitter: 'full' },
      circuitBreaker: { failureThreshold: 5, successThreshold: 2, resetTimeoutMs: 60_000, halfOpenMaxConcurrent: 1 },
      throttle: { initialDelayMs: 500, minDelayMs: 100, maxDelayMs: 60_000, speedUpAfter: 10, speedUpFactor: 0.9, rateLimitFactor: 2, errorFactor: 1.5, maxConcurrent: 2 },
      cache: { ttlMs: 86_400_000 },
      staleFallback: { maxAgeMs: 86_400_000 },
      timed: { warnAfterMs: 10_000, criticalAfterMs: 60_000 },
    });

    expect(config.sources['air-utrecht']!.schedule).to.deep.equal({ kind: 'cron', expression: '*/5 * * * *', timezone: 'Europe/Amsterdam' });
    const grid = config.sources.grid!;
    expect(grid.schedule).to.deep.equal({
      kind: 'backfill',
      from: Date.UTC(2024, 0, 1),
      to: Date.UTC(2024, 6, 1),
      chunkMs: 30 * 86_400_000,
      concurrency: 3,
      then: { kind: 'every', intervalMs: 3_600_000 },
    });
    expect(grid.resilience.circuitBreaker).to.equal(undefined);
    expect(grid.resilience.timeoutMs).to.equal(undefined);
    expect(grid.streams).to.deep.equal({ load: { topic: 'grid.load' } });

    expect(config.sources['prices-a']!.droppedStreams).to.deep.equal(['load']);
    expect(config.sources['prices-a']!.schedule).to.deep.equal({ kind: 'every', intervalMs: 60_000 }); // the group's
    expect(config.sources.archived!.enabled).to.equal(false);
    expect(config.groups).to.deep.equal({
      prices: { id: 'prices', mode: 'quorum', sources: ['prices-a', 'prices-b'], quorum: 2, schedule: { kind: 'every', intervalMs: 60_000 } },
    });

    expect(config.sink).to.deep.equal({
      type: 'kafka',
      brokers: ['localhost:9092'],
      clientId: 'tributary-energy-hub',
      client: 'kafkajs',
      wireFormat: 'registry',
      schemaRegistry: { url: 'http://localhost:8081', compatibility: 'BACKWARD' },
      sasl: { mechanism: 'scram-sha-256', username: 'tributary', password: 'hunter2-kafka-pw' },
      compression: 'none',
      batch: { maxRecords: 500, lingerMs: 20 },
      buffer: { maxRecords: 10_000, maxBytes: 32 * 1024 * 1024 },
      exactlyOnce: false,
      transactionTimeoutMs: 60_000,
      topics: { 'air.measurements': { partitions: 3, config: { 'retention.ms': '604800000' } } },
      deadLetterSuffix: '.dlq',
    });
    expect(config.stateDir).to.equal(path.join(pipelines, 'state'));
    expect(config.metrics).to.deep.equal({ enabled: true, host: '127.0.0.1', port: 0 });
    expect(config.shutdown).to.deep.equal({ timeoutMs: 10_000 });
    expect(config.secrets).to.have.members(['sk-live-4c1d9e', 'hunter2-kafka-pw']);
  });

  it('reads sink.transactionTimeout (a duration) into transactionTimeoutMs and names it when it is bad', () => {
    const kafka = (extra: string) => parse(one(`sink:\n  type: kafka\n  brokers: [k:9092]\n  wireFormat: single-object\n  exactlyOnce: true\n${extra}`));
    const ok = kafka('  transactionTimeout: 2m\n');
    expect(ok.sink.type === 'kafka' && ok.sink.transactionTimeoutMs).to.equal(120_000);
    const dflt = kafka('');
    expect(dflt.sink.type === 'kafka' && dflt.sink.transactionTimeoutMs).to.equal(60_000);
    expect(() => kafka('  transactionTimeout: 0s\n')).to.throw(/sink\.transactionTimeout[\s\S]*positive duration/);
  });

  it('fills in every default for a minimal file', async () => {
    const config = await loadPipeline(path.join(pipelines, 'minimal.yaml'), { env: {} });
    expect(config.name).to.equal('minimal');
    expect(config.sources.air!.schedule).to.deep.equal({ kind: 'once' });
    expect(config.sources.air!.resilience).to.deep.equal(RESILIENCE_DEFAULTS);
    expect(RESILIENCE_DEFAULTS).to.deep.equal({
      timeoutMs: 30_000,
      retry: { maxRetries: 3, initialDelayMs: 2_000, factor: 2, maxDelayMs: 60_000, jitter: 'equal' },
      circuitBreaker: { failureThreshold: 5, successThreshold: 2, resetTimeoutMs: 60_000, halfOpenMaxConcurrent: 1 },
      timed: { warnAfterMs: 30_000, criticalAfterMs: 60_000 },
    });
    expect(config.groups).to.deep.equal({});
    expect(config.sink).to.deep.equal({ type: 'file', dir: path.join(pipelines, 'out'), codec: 'deflate', flushEveryMs: 1_000 });
    expect(config.stateDir).to.equal(path.join(pipelines, '.tributary/state'));
    expect(config.metrics).to.deep.equal(PIPELINE_DEFAULTS.metrics);
    expect(config.shutdown).to.deep.equal({ timeoutMs: 30_000 });
    expect(config.secrets).to.deep.equal([]);
  });

  it('turns optional layers on with `true` and default-on layers off with `false`', () => {
    const config = parse(one(), {}, {
      'sources.air.resilience': { timeout: false, retry: false, circuitBreaker: false, timed: false, throttle: true, cache: true, staleFallback: true },
    });
    expect(config.sources.air!.resilience).to.deep.equal({
      throttle: RESILIENCE_LAYER_DEFAULTS.throttle,
      cache: { ttlMs: 300_000 },
      staleFallback: { maxAgeMs: 86_400_000 },
    });
  });

  it('merges defaults.resilience under each source, key by key', () => {
    const config = parse(`
defaults:
  resilience:
    retry: { maxRetries: 7, factor: 3 }
    cache: { ttl: 10m }
sources:
  a: { plugin: ./plugins/air.js, topic: a, schedule: once, resilience: { retry: { factor: 1.5 } } }
  b: { plugin: ./plugins/air.js, topic: b, schedule: once, resilience: { cache: false, retry: true } }
`);
    expect(config.sources.a!.resilience.retry).to.include({ maxRetries: 7, factor: 1.5, initialDelayMs: 2_000 });
    expect(config.sources.a!.resilience.cache).to.deep.equal({ ttlMs: 600_000 });
    expect(config.sources.b!.resilience.retry).to.include({ maxRetries: 7, factor: 3 });
    expect(config.sources.b!.resilience.cache).to.equal(undefined);
  });

  it('moves a default that conflicts with a value that was set (retry.maxDelay below a long initialDelay)', () => {
    const config = parse(one(), {}, { 'sources.air.resilience': { retry: { initialDelay: '2m' }, timed: { warnAfter: '90s' } } });
    expect(config.sources.air!.resilience.retry).to.include({ initialDelayMs: 120_000, maxDelayMs: 120_000 });
    expect(config.sources.air!.resilience.timed).to.deep.equal({ warnAfterMs: 90_000, criticalAfterMs: 90_000 });
  });

  it('applies a default quorum of a majority of the enabled members', () => {
    const config = parse(`
sources:
  a: { plugin: ./plugins/air.js, topic: t }
  b: { plugin: ./plugins/air.js, topic: t }
  c: { plugin: ./plugins/air.js, topic: t }
  d: { plugin: ./plugins/air.js, topic: t, enabled: false }
groups:
  g: { mode: quorum, sources: [a, b, c, d], schedule: { every: 1m } }
`);
    expect(config.groups.g!.quorum).to.equal(2);
    expect(config.groups.g!.mode).to.equal('quorum');
  });

  it('accepts a metrics switch, stdout and file sinks, and a comma-separated broker string', () => {
    expect(parse(one('metrics: false')).metrics.enabled).to.equal(false);
    expect(parse(one('sink: { type: stdout }')).sink).to.deep.equal({ type: 'stdout' });
    expect(parse(one('sink: { type: file, dir: /var/lib/tributary, codec: "null", flushEvery: 5s }')).sink).to.deep.equal({
      type: 'file',
      dir: '/var/lib/tributary',
      codec: 'null',
      flushEveryMs: 5_000,
    });
    const kafka = parse(one('sink: { type: kafka, brokers: "${BROKERS}" }'), { BROKERS: 'k1:9092, k2:9092' }).sink;
    expect(kafka.type === 'kafka' && kafka.brokers).to.deep.equal(['k1:9092', 'k2:9092']);
    expect(kafka.type === 'kafka' && kafka.wireFormat).to.equal('single-object');
  });

  it('applies overrides by dotted path before validation', () => {
    const config = parse(one('metrics: { port: 9464 }'), {}, { 'metrics.port': 0, sink: { type: 'stdout' }, 'sources.air.enabled': false, name: 'override-test' });
    expect(config.metrics.port).to.equal(0);
    expect(config.sink).to.deep.equal({ type: 'stdout' });
    expect(config.sources.air!.enabled).to.equal(false);
    expect(config.name).to.equal('override-test');
  });

  it('ignores top-level x- keys, a place for anchors', () => {
    const config = parse(`
x-defaults: &common
  plugin: ./plugins/air.js
  schedule: once
sources:
  air:
    <<: *common
    topic: air
`);
    expect(config.sources.air!.plugin).to.equal('./plugins/air.js');
    expect(config.sources.air!.schedule).to.deep.equal({ kind: 'once' });
  });

  it('supports YAML anchors and merge keys', () => {
    const config = parse(`
sources:
  amsterdam: &air
    plugin: ./plugins/air.js
    config: { latitude: 52.37, longitude: 4.9, apiKey: "\${AIR_KEY}" }
    topic: air.measurements
    schedule: { every: 15m }
  utrecht:
    <<: *air
    config: { latitude: 52.09, longitude: 5.12 }
`, { AIR_KEY: 'ak-merge-7d3a' });
    expect(config.sources.utrecht!.plugin).to.equal('./plugins/air.js');
    expect(config.sources.utrecht!.schedule).to.deep.equal({ kind: 'every', intervalMs: 900_000 });
    expect(config.sources.utrecht!.streams).to.deep.equal({ [SINGLE_STREAM]: { topic: 'air.measurements' } });
    expect(config.sources.utrecht!.config).to.deep.equal({ latitude: 52.09, longitude: 5.12 });
    expect(config.sources.amsterdam!.config.apiKey).to.equal('ak-merge-7d3a');
  });
});

describe('pipeline config: environment variables', () => {
  it('substitutes ${VAR}, ${VAR:-default} (unset or empty) and the $${ escape', () => {
    const config = parse(
      one(`    config:
      apiKey: \${AIR_KEY}
      region: \${REGION:-NL}
      empty: "\${EMPTY:-fallback}"
      note: "costs $5, template $\${station}"
      url: https://api.example.org/\${VERSION}/stations`),
      { AIR_KEY: 'ak-2f7e1b9c', EMPTY: '', VERSION: 'v2' },
    );
    expect(config.sources.air!.config).to.deep.equal({
      apiKey: 'ak-2f7e1b9c',
      region: 'NL',
      empty: 'fallback',
      note: 'costs $5, template ${station}',
      url: 'https://api.example.org/v2/stations',
    });
    // a default is written in the file, so it is not a secret; env values are
    expect(config.secrets).to.have.members(['ak-2f7e1b9c']);
  });

  it('converts a whole reference to a number or boolean only where one is expected', () => {
    const config = parse(one(`    enabled: \${ON}
    config: { password: "\${PASS}" }
metrics: { port: "\${PORT:-9100}", host: "\${HOST}" }`), {
      ON: 'false',
      PASS: '12345',
      HOST: '0.0.0.0',
    });
    expect(config.sources.air!.enabled).to.equal(false);
    expect(config.metrics.port).to.equal(9100);
    expect(config.metrics.host).to.equal('0.0.0.0');
    expect(config.sources.air!.config.password).to.equal('12345');
  });

  it('lists as secrets every environment value longer than 3 characters, and credentials written in the file', () => {
    const config = parse(
      one(`    config: { token: literal-token-123 }
sink:
  type: kafka
  brokers: [localhost:9092]
  sasl: { mechanism: plain, username: svc, password: written-in-file }
  schemaRegistry: { url: "https://reg:\${REG_PW}@registry.example.org" }`),
      { REG_PW: 'pw9', UNUSED: 'never-used-value' },
    );
    expect(config.secrets).to.include('written-in-file');
    expect(config.secrets).to.include('literal-token-123');
    expect(config.secrets).not.to.include('pw9'); // 3 characters: too short to scrub safely
    expect(config.secrets).not.to.include('never-used-value');
  });

  it('leaves out of the secrets environment values used only as numbers or booleans', () => {
    const config = parse(one(`    enabled: \${ON}
    config: { apiKey: "\${KEY}", latitude: "\${LAT}" }
metrics: { port: "\${PORT}", host: "\${HOST}" }`), { ON: 'true', KEY: 'ak-93be71c0', LAT: '52.0907', PORT: '9464', HOST: 'metrics.internal' });
    expect(config.metrics.port).to.equal(9464);
    expect(config.secrets).to.include.members(['ak-93be71c0', 'metrics.internal', '52.0907']); // plugin options: decided by resolvePipeline
    expect(config.secrets).not.to.include('9464');
    expect(config.secrets).not.to.include('true');
  });

  it('substituteString reports missing and malformed references', () => {
    expect(substituteString('a ${X} b', { X: '1' })).to.include({ value: 'a 1 b', whole: false });
    expect(substituteString('${X}', { X: '1' }).whole).to.equal(true);
    expect(substituteString('${X}', {}).missing).to.deep.equal(['X']);
    expect(substituteString('${bad name}', {}).malformed).to.deep.equal(['${bad name}']);
    expect(substituteString('${OPEN', {}).malformed).to.deep.equal(['${OPEN']);
    expect(substituteString('$$${X}', { X: 'v' }).value).to.equal('$${X}');
  });
});

describe('pipeline config: durations and sizes', () => {
  it('parses durations', () => {
    expect(parseDuration('500ms')).to.equal(500);
    expect(parseDuration('30s')).to.equal(30_000);
    expect(parseDuration('15m')).to.equal(900_000);
    expect(parseDuration('24h')).to.equal(86_400_000);
    expect(parseDuration('60d')).to.equal(5_184_000_000);
    expect(parseDuration('1h30m')).to.equal(5_400_000);
    expect(parseDuration('1.5s')).to.equal(1_500);
    expect(parseDuration(250)).to.equal(250);
    expect(parseDuration('250')).to.equal(250);
    for (const bad of ['', 'soon', '15 minutes', '-5s', '5x', 's', -1, Number.NaN, null, true]) expect(parseDuration(bad), String(bad)).to.equal(undefined);
  });

  it('formats durations that parse back', () => {
    for (const ms of [0, 1, 1_500, 60_000, 5_400_000, 90_061_001]) expect(parseDuration(formatDuration(ms))).to.equal(ms);
    expect(formatDuration(5_400_000)).to.equal('1h30m');
  });

  it('parses byte sizes', () => {
    expect(parseByteSize('64MiB')).to.equal(67_108_864);
    expect(parseByteSize('1kB')).to.equal(1_000);
    expect(parseByteSize(4096)).to.equal(4096);
    expect(parseByteSize('lots')).to.equal(undefined);
  });
});

describe('pipeline config: JSON schema', () => {
  it('describes the file for editors', () => {
    const schema = pipelineJsonSchema() as { type: string; properties: Record<string, { description?: string }>; required: string[] };
    expect(schema.type).to.equal('object');
    expect(Object.keys(schema.properties)).to.include.members(['name', 'sources', 'groups', 'sink', 'metrics', 'shutdown', 'defaults', 'stateDir']);
    expect(schema.required).to.deep.equal(['sources']);
    expect(schema.properties.sink!.description).to.match(/Default/);
  });
});
