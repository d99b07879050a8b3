import { expect } from 'chai';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isConfigError, type ConfigError, type ConfigIssue } from '../../src/errors/ConfigError.js';
import { loadPipeline, parsePipeline } from '../../src/pipeline/config/load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pipelines = path.resolve(here, '../fixtures/pipelines');
const file = path.join(pipelines, 'broken.yaml');

function failure(text: string, env: Record<string, string> = {}, overrides?: Record<string, unknown>): ConfigError {
  try {
    parsePipeline(text, { file, env, ...(overrides ? { overrides } : {}) });
  } catch (err) {
    expect(isConfigError(err), String(err)).to.equal(true);
    return err as ConfigError;
  }
  expect.fail('expected a ConfigError');
}

/** Asserts that the error names the file and has an issue at exactly `at` whose message contains `fragment`. */
function expectIssue(err: ConfigError, at: string, fragment: string, line?: number): ConfigIssue {
  expect(err.code).to.equal('ERR_CONFIG');
  expect(err.file).to.equal(file);
  expect(err.message).to.include('broken.yaml');
  const issue = err.issues.find((i) => i.path === at && i.message.includes(fragment));
  expect(issue, `no issue at ${at} with "${fragment}" in:\n${err.message}`).to.not.equal(undefined);
  expect(err.message).to.include(`  - ${at} (broken.yaml:`);
  if (line !== undefined) expect(issue!.line).to.equal(line);
  return issue!;
}

const source = (lines: string) => `sources:
  air:
    plugin: ./plugins/air.js
    topic: air.measurements
${lines}`;

describe('pipeline config: validation errors', () => {
  it('YAML syntax error: names the file and the line', async () => {
    let err: ConfigError | undefined;
    try {
      await loadPipeline(path.join(pipelines, 'bad-syntax.yaml'));
    } catch (e) {
      err = e as ConfigError;
    }
    expect(isConfigError(err)).to.equal(true);
    expect(err!.file).to.equal(path.join(pipelines, 'bad-syntax.yaml'));
    expect(err!.issues).to.have.length(1);
    expect(err!.issues[0]!.message).to.match(/^YAML syntax error: /);
    expect(err!.issues[0]!.line).to.be.a('number');
    expect(err!.message).to.include(`bad-syntax.yaml:${err!.issues[0]!.line}`);
  });

  it('YAML syntax error from an unquoted ${VAR} inside { }: a hint to quote it', () => {
    const err = failure('sources:\n  air: { plugin: ${PLUGIN} }\n');
    expect(err.issues).to.have.length(1);
    expect(err.issues[0]!.line).to.equal(2);
    expect(err.message).to.include('a ${VAR} reference must be quoted');
  });

  it('a missing file and an empty file', async () => {
    const missing = path.join(pipelines, 'no-such-pipeline.yaml');
    const err = await loadPipeline(missing).then(() => undefined, (e: unknown) => e as ConfigError);
    expect(err!.file).to.equal(missing);
    expect(err!.message).to.include('no-such-pipeline.yaml');
    expect(err!.issues[0]!.message).to.equal('the file does not exist');
    expect(failure('# nothing here\n').issues[0]!.message).to.include('the file is empty');
  });

  it('unknown key at the top level, with a suggestion', () => {
    const err = failure(`nmae: hub\n${source('    schedule: once')}`);
    const issue = expectIssue(err, 'nmae', 'unknown key "nmae" (did you mean "name"?)', 1);
    expect(issue.message).to.include('allowed: name, defaults, sources, groups, sink, stateDir, metrics, shutdown');
  });

  it('unknown key in a source', () => {
    expectIssue(failure(source('    schedule: once\n    shedule: once')), 'sources.air.shedule', 'unknown key "shedule" (did you mean "schedule"?)', 6);
  });

  it('unknown key in a resilience layer', () => {
    const err = failure(source('    schedule: once\n    resilience:\n      retry: { maxRetries: 2, initalDelay: 2s }'));
    expectIssue(err, 'sources.air.resilience.retry.initalDelay', 'did you mean "initialDelay"?', 7);
  });

  it('unknown key in resilience itself', () => {
    expectIssue(failure(source('    schedule: once\n    resilience: { retries: 3 }')), 'sources.air.resilience.retries', 'unknown key "retries"');
  });

  it('wrong type: says what was expected and what was found', () => {
    const err = failure(source('    schedule: once\n    resilience:\n      retry: { maxRetries: three }'));
    const issue = expectIssue(err, 'sources.air.resilience.retry.maxRetries', 'expected a non-negative integer, got "three"', 7);
    expect(issue.message).to.equal('expected a non-negative integer, got "three"');
  });

  it('negative number', () => {
    const err = failure(source('    schedule: once\n    resilience:\n      circuitBreaker: { failureThreshold: -1 }'));
    expectIssue(err, 'sources.air.resilience.circuitBreaker.failureThreshold', 'expected a positive integer, got -1');
  });

  it('number out of range', () => {
    expectIssue(failure(source('    schedule: once\nmetrics: { port: 99999 }')), 'metrics.port', 'expected a port number 0-65535, got 99999', 6);
  });

  it('bad duration', () => {
    const err = failure(source('    schedule: { every: 15 minutes }\n    resilience: { timeout: -5, cache: { ttl: soon } }'));
    expectIssue(err, 'sources.air.schedule.every', 'expected a positive duration such as 500ms, 30s, 15m, 24h or 60d', 5);
    expectIssue(err, 'sources.air.schedule.every', 'got "15 minutes"');
    expectIssue(err, 'sources.air.resilience.timeout', 'got -5');
    expectIssue(err, 'sources.air.resilience.cache.ttl', 'got "soon"');
  });

  it('bad cron expression (values out of range, wrong number of fields)', () => {
    const err = failure(`sources:
  a: { plugin: ./plugins/air.js, topic: a, schedule: { cron: "61 * * * *" } }
  b: { plugin: ./plugins/air.js, topic: b, schedule: { cron: "* * *" } }
`);
    expectIssue(err, 'sources.a.schedule.cron', 'expected a cron expression with 5 fields', 2);
    expectIssue(err, 'sources.a.schedule.cron', 'expected range 0-59');
    expectIssue(err, 'sources.b.schedule.cron', 'found 3 fields', 3);
  });

  it('bad time zone', () => {
    expectIssue(failure(source('    schedule: { cron: "0 * * * *", timezone: Mars/Olympus }')), 'sources.air.schedule.timezone', 'expected an IANA time zone');
  });

  it('unknown schedule form', () => {
    const err = failure(`sources:
  a: { plugin: ./plugins/air.js, topic: a, schedule: { hourly: true } }
  b: { plugin: ./plugins/air.js, topic: b, schedule: weekly }
  c: { plugin: ./plugins/air.js, topic: c, schedule: { every: 1m, cron: "* * * * *" } }
`);
    expectIssue(err, 'sources.a.schedule', 'expected a schedule: once, { every: 15m }, { cron:', 2);
    expectIssue(err, 'sources.b.schedule', 'got "weekly"', 3);
    expectIssue(err, 'sources.c.schedule', 'expected a schedule', 4);
  });

  it('bad backfill window', () => {
    const err = failure(source('    schedule: { backfill: { from: yesterday, chunk: 0 } }'));
    expectIssue(err, 'sources.air.schedule.backfill.from', 'expected a date (2024-01-01)');
    expectIssue(err, 'sources.air.schedule.backfill.chunk', 'expected a positive duration');
    const order = failure(source('    schedule: { backfill: { from: 2024-06-01, to: 2024-01-01 } }'));
    expectIssue(order, 'sources.air.schedule.backfill.to', 'must be later than backfill.from');
  });

  it('missing schedule, and a schedule on a grouped source', () => {
    const err = failure(`sources:
  a: { plugin: ./plugins/air.js, topic: a }
  b: { plugin: ./plugins/air.js, topic: b, schedule: once }
  c: { plugin: ./plugins/air.js, topic: c }
groups:
  g: { sources: [b, c], schedule: { every: 1m } }
`);
    expectIssue(err, 'sources.a.schedule', 'required key is missing (expected a schedule', 2);
    expectIssue(err, 'sources.b.schedule', 'runs on the group\'s schedule', 3);
    expect(err.issues.filter((i) => i.path === 'sources.c.schedule')).to.deep.equal([]);
  });

  it('missing topic, and topic together with streams', () => {
    const err = failure(`sources:
  a: { plugin: ./plugins/air.js, schedule: once }
  b: { plugin: ./plugins/air.js, schedule: once, topic: b, streams: { measurements: { topic: b } } }
  c: { plugin: ./plugins/air.js, schedule: once, topic: "bad topic!" }
`);
    expectIssue(err, 'sources.a.topic', 'required key is missing', 2);
    expectIssue(err, 'sources.b.topic', 'use either topic/key', 3);
    expectIssue(err, 'sources.c.topic', 'expected a Kafka topic name', 4);
  });

  it('missing environment variable: names the variable', () => {
    const err = failure(source('    schedule: once\n    config:\n      apiKey: ${AIR_QUALITY_KEY}'));
    expectIssue(err, 'sources.air.config.apiKey', 'environment variable AIR_QUALITY_KEY is not set', 7);
  });

  it('malformed variable reference', () => {
    expectIssue(failure(source('    schedule: once\n    config:\n      apiKey: ${AIR KEY}')), 'sources.air.config.apiKey', 'malformed variable reference "${AIR KEY}"');
  });

  it('group naming an unknown source', () => {
    const err = failure(`sources:
  kraken: { plugin: ./plugins/air.js, topic: k }
  binance: { plugin: ./plugins/air.js, topic: b }
groups:
  crypto: { mode: first-available, sources: [binance, krakken], schedule: { every: 1m } }
`);
    expectIssue(err, 'groups.crypto.sources[1]', 'unknown source "krakken" (did you mean "kraken"?); sources: kraken, binance', 5);
  });

  it('quorum larger than the group, and quorum without mode quorum', () => {
    const err = failure(`sources:
  a: { plugin: ./plugins/air.js, topic: a }
  b: { plugin: ./plugins/air.js, topic: b }
  c: { plugin: ./plugins/air.js, topic: c, enabled: false }
groups:
  g: { mode: quorum, sources: [a, b, c], quorum: 3, schedule: { every: 1m } }
  h: { mode: all, sources: [], quorum: 1, schedule: { every: 1m } }
`);
    expectIssue(err, 'groups.g.quorum', 'expected at most 2 (the number of enabled sources in the group), got 3', 6);
    expectIssue(err, 'groups.h.quorum', 'quorum only applies to mode: quorum');
    expectIssue(err, 'groups.h.sources', 'expected at least one source id');
  });

  it('a source in two groups, listed twice, or a group id that is a source id', () => {
    const err = failure(`sources:
  a: { plugin: ./plugins/air.js, topic: a }
  b: { plugin: ./plugins/air.js, topic: b }
groups:
  g1: { sources: [a, a], schedule: once }
  b: { sources: [a, b], schedule: once }
`);
    expectIssue(err, 'groups.g1.sources[1]', 'listed twice');
    expectIssue(err, 'groups.b.sources[0]', 'already in group "g1"');
    expectIssue(err, 'groups.b', 'is also a source id');
  });

  it('unknown sink type and invalid kafka settings', () => {
    expectIssue(failure(source('    schedule: once\nsink: { type: kafak }')), 'sink.type', 'expected one of "file", "stdout", "kafka", got "kafak"');
    const err = failure(
      source(`    schedule: once
sink:
  type: kafka
  brokers: [localhost:9092, "kafka-2"]
  wireFormat: registry
  compression: brotli
  sasl: { mechanism: plain, username: svc }
  batch: { maxRecords: 0 }`),
    );
    expectIssue(err, 'sink.brokers[1]', 'expected a broker address host:port');
    expectIssue(err, 'sink.wireFormat', 'wireFormat registry needs sink.schemaRegistry.url');
    expectIssue(err, 'sink.compression', 'expected one of "none", "gzip", "snappy", "lz4", "zstd", got "brotli"');
    expectIssue(err, 'sink.sasl.password', 'required key is missing');
    expectIssue(err, 'sink.batch.maxRecords', 'expected a positive integer, got 0');
  });

  it('conflicting values that were both set', () => {
    const err = failure(source('    schedule: once\n    resilience:\n      retry: { initialDelay: 10s, maxDelay: 5s }\n      timed: { warnAfter: 1m, criticalAfter: 30s }'));
    expectIssue(err, 'sources.air.resilience.retry.maxDelay', 'maxDelay (5s) must be at least initialDelay (10s)', 7);
    expectIssue(err, 'sources.air.resilience.timed.criticalAfter', 'criticalAfter (30s) must be at least warnAfter (1m)', 8);
  });

  it('an override that cannot be applied, and an invalid override value', () => {
    const err = failure(source('    schedule: once'), {}, { 'sources.air.topic.deeper': 1, 'metrics.port': 'high' });
    expect(err.issues.find((i) => i.path === 'sources.air.topic.deeper')!.message).to.include('override cannot be applied');
    const port = err.issues.find((i) => i.path === 'metrics.port')!;
    expect(port.message).to.equal('expected a port number 0-65535, got "high"');
    expect(port.line).to.equal(undefined);
  });

  it('collects every issue of the file at once, sorted by line', () => {
    const err = failure(`nmae: x
sources:
  air:
    plugin: 12
    topic: air
    schedule: { every: never }
    enabled: maybe
groups:
  g: { sources: [nope], schedule: once }
metrics: { port: -1 }
`);
    expect(err.issues.map((i) => i.path)).to.deep.equal(['nmae', 'sources.air.plugin', 'sources.air.schedule.every', 'sources.air.enabled', 'groups.g.sources[0]', 'metrics.port']);
    expect(err.issues.map((i) => i.line)).to.deep.equal([1, 4, 6, 7, 9, 10]);
    expect(err.message.split('\n')[0]).to.equal(`invalid configuration in ${file} (6 problems):`);
  });

  it('never shows a value that came from the environment', () => {
    const secret = 'Zq-SECRET-4417';
    const short = 'abc';
    const err = failure(
      `sources:
  air:
    plugin: \${PLUGIN_SECRET}
    topic: "\${TOPIC_SECRET}"
    schedule: { every: "\${INTERVAL_SECRET}" }
    enabled: \${ENABLED_SECRET}
    resilience:
      retry:
        maxRetries: \${RETRIES_SECRET}
        jitter: \${JITTER_SECRET}
metrics: { port: "\${PORT_SHORT}", host: "x" }
sink: { type: kafka, brokers: "\${BROKERS_SECRET}" }
`,
      {
        PLUGIN_SECRET: '',
        TOPIC_SECRET: `bad topic ${secret}`,
        INTERVAL_SECRET: secret,
        ENABLED_SECRET: secret,
        RETRIES_SECRET: secret,
        JITTER_SECRET: secret,
        PORT_SHORT: short,
        BROKERS_SECRET: `${secret}:notaport`,
      },
    );
    expect(err.message).not.to.include(secret);
    expect(err.message).not.to.include(`"${short}"`);
    expect(JSON.stringify(err.issues)).not.to.include(secret);
    expectIssue(err, 'sources.air.topic', 'got ${TOPIC_SECRET}');
    expectIssue(err, 'sources.air.schedule.every', 'got ${INTERVAL_SECRET}');
    expectIssue(err, 'sources.air.enabled', 'expected true or false, got ${ENABLED_SECRET}');
    expectIssue(err, 'sources.air.resilience.retry.maxRetries', 'got ${RETRIES_SECRET}');
    expectIssue(err, 'sources.air.resilience.retry.jitter', 'got ${JITTER_SECRET}');
    expectIssue(err, 'metrics.port', 'got ${PORT_SHORT}');
    expectIssue(err, 'sources.air.plugin', 'got ${PLUGIN_SECRET}');
  });
});
