import { expect } from 'chai';
import { startStubServer, type StubRequest, type StubServer } from '../../core/src/testing/stubServer.js';
import { allFiles, makeFaultProject, metricsUrl, readTopic, runCli, scrape, startCli, stopChild, type CliRun, type Project } from './helpers.js';

/** Secrets with characters that change when URL-encoded or JSON-escaped. */
const QUERY_KEY = 'qk-S3cr3t/4f9a+b=c';
const HEADER_KEY = 'hk-Xy7$Secret-99z';
const PASSWORD = 'pw-"Sasl"\\Pa55-w0rd';
const SECRETS = { FAULTS_QUERY_KEY: QUERY_KEY, FAULTS_HEADER_KEY: HEADER_KEY, FAULTS_SASL_PASSWORD: PASSWORD };

/** Every form in which a secret could leak: as is, URL-encoded (both ways), JSON-escaped. */
function forms(secret: string): string[] {
  return [...new Set([secret, encodeURIComponent(secret), new URLSearchParams({ x: secret }).toString().slice(2), JSON.stringify(secret).slice(1, -1)])];
}

/** Where each secret form occurs in a text, as `name: form` strings (empty when nowhere). */
function leaks(text: string | Buffer): string[] {
  const out: string[] = [];
  for (const [name, secret] of Object.entries(SECRETS)) for (const f of forms(secret)) if (text.includes(f)) out.push(`${name}: ${f}`);
  return out;
}

/** JSON with bigints as strings. */
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

describe('fault injection: secrets given through the environment', function () {
  this.timeout(60_000);
  let stub: StubServer | undefined;
  let project: Project | undefined;
  let run: CliRun | undefined;
  afterEach(async () => {
    await stopChild(run);
    await stub?.close();
    await project?.cleanup();
    run = undefined;
    stub = undefined;
    project = undefined;
  });

  it('an API key (query string and header) and a SASL password never appear in logs, errors, metrics, the summary, dead letters, output files or recorded fixtures, even when the API echoes them in its answers', async () => {
    /** What an API that echoes its keys would put into a message. */
    const echoKeys = (req: StubRequest): string => `request ${req.url} with key ${req.query.api_key}, header ${String(req.headers['x-api-key'])}`;
    /** The same with the password too (in text bodies). */
    const echo = (req: StubRequest): string => `${echoKeys(req)}, password ${String(req.headers['x-service-password'])}`;
    stub = await startStubServer({
      routes: [
        {
          path: '/items',
          headers: { 'content-type': 'application/json' },
          body: (req) =>
            JSON.stringify({
              debug: echo(req),
              items: [
                { station: 'NL01', value: 1.5, cycle: Number(req.query.cycle), page: 1, window: null },
                // a record that fails its schema, with the echoed secrets in its value: dead-lettered
                { station: 'NL02', value: echo(req), cycle: Number(req.query.cycle), page: 1, window: null },
              ],
            }),
          faults: (req, n) => {
            if (n === 1) return { kind: 'status', status: 401, body: { error: `invalid api key ${req.query.api_key}`, header: req.headers['x-api-key'] } };
            if (n === 2) return { kind: 'status', status: 500, body: echo(req) };
            if (n === 3) return { kind: 'malformed', body: `${echo(req)} {not json` };
            if (n === 4) return { kind: 'status', status: 503, retryAfter: 0, body: `<html>${echo(req)}</html>`, headers: { 'content-type': 'text/html' } };
            return undefined;
          },
        },
      ],
    });
    project = await makeFaultProject({
      'pipeline.yaml': `
name: faults-secrets
sources:
  api:
    plugin: ./items.js
    config:
      baseUrl: "${stub.url}"
      apiKey: \${FAULTS_QUERY_KEY}
      headerKey: \${FAULTS_HEADER_KEY}
      password: \${FAULTS_SASL_PASSWORD}
    topic: secret.readings
    schedule: { every: 50ms }
    resilience: { retry: false, circuitBreaker: false }
sink:
  type: kafka
  brokers: [127.0.0.1:1]
  sasl: { mechanism: scram-sha-512, username: tributary, password: "\${FAULTS_SASL_PASSWORD}" }
`,
      'bad.yaml': `
name: faults-secrets-bad
sources:
  api:
    plugin: ./items.js
    config: { baseUrl: "${stub.url}", apiKey: "\${FAULTS_QUERY_KEY}", pages: "\${FAULTS_SASL_PASSWORD}" }
    topic: secret.readings
    schedule: once
sink:
  type: kafka
  brokers: [127.0.0.1:1]
  sasl: { mechanism: scram-sha-512, username: tributary, password: "\${FAULTS_SASL_PASSWORD}" }
  clientId: "\${FAULTS_HEADER_KEY}"
`,
    });
    const env = { ...SECRETS };
    const texts: { what: string; text: string }[] = [];

    // 1. a continuous run at trace level (file sink instead of Kafka): 401, 500, non-JSON, 503, then data
    run = startCli(['run', project.path('pipeline.yaml'), '--out', 'out', '--metrics-port', '0', '--log-level', 'trace', '--log-format', 'json', '--summary', 'json'], {
      cwd: project.dir,
      env,
    });
    const base = await metricsUrl(run);
    await stub.until(() => stub!.count('/items') >= 7, 15_000);
    const metrics = await scrape(base);
    const health = await (await fetch(`${base}/healthz`)).text();
    texts.push({ what: '/metrics', text: metrics.text }, { what: '/healthz', text: health });
    run.child.kill('SIGTERM');
    expect(await run.exited, run.stderr().slice(-3000)).to.equal(0);
    texts.push({ what: 'run stderr', text: run.stderr() }, { what: 'run stdout', text: run.stdout() });
    // the faults happened and were reported
    expect(run.stderr()).to.match(/HTTP 401/);
    expect(run.stderr()).to.match(/HTTP 500/);
    expect(run.stderr()).to.match(/ERR_BAD_JSON|not valid JSON/);
    expect(run.stderr()).to.match(/api_key=\*\*\*/);
    expect(metrics.value('tributary_errors_total', { source: 'api', code: 'ERR_HTTP' })).to.equal(3);
    expect(metrics.value('tributary_dead_letters_total', { source: 'api' })).to.be.above(0);
    // the secrets did reach the API
    const first = stub.requests[0]!;
    expect(first.query.api_key).to.equal(QUERY_KEY);
    expect(first.headers['x-api-key']).to.equal(HEADER_KEY);
    expect(first.headers['x-service-password']).to.equal(PASSWORD);

    // 2. one cycle to stdout at debug level
    const stdoutRun = await runCli(['run', project.path('pipeline.yaml'), '--once', '--sink', 'stdout', '--log-level', 'debug', '--log-format', 'json'], { cwd: project.dir, env });
    expect(stdoutRun.code, stdoutRun.stderr).to.equal(0);
    expect(stdoutRun.stdout).to.match(/"station":"NL01"/);
    texts.push({ what: 'stdout run stderr', text: stdoutRun.stderr }, { what: 'stdout run stdout', text: stdoutRun.stdout });

    // 3. record fixtures, then replay them
    const recorded = await runCli(['record', project.path('pipeline.yaml'), '--to', 'fixtures', '--out', 'out-recorded', '--log-level', 'debug', '--log-format', 'json'], {
      cwd: project.dir,
      env,
    });
    expect(recorded.code, recorded.stderr).to.equal(0);
    texts.push({ what: 'record stderr', text: recorded.stderr }, { what: 'record stdout', text: recorded.stdout });
    const replayed = await runCli(['run', project.path('pipeline.yaml'), '--once', '--replay', 'fixtures', '--out', 'out-replayed', '--log-level', 'debug', '--log-format', 'json'], {
      cwd: project.dir,
      env,
    });
    expect(replayed.code, replayed.stderr).to.equal(0);
    expect(replayed.stderr).to.match(/recorded responses served/);
    texts.push({ what: 'replay stderr', text: replayed.stderr }, { what: 'replay stdout', text: replayed.stdout });

    // 4. a configuration error about values that came from the environment
    for (const command of ['validate', 'run']) {
      const invalid = await runCli([command, project.path('bad.yaml')], { cwd: project.dir, env });
      expect(invalid.code).to.equal(2);
      expect(invalid.stderr).to.match(/sources\.api\.config\.pages/);
      expect(invalid.stderr).to.include('${FAULTS_SASL_PASSWORD}');
      texts.push({ what: `${command} bad.yaml stderr`, text: invalid.stderr }, { what: `${command} bad.yaml stdout`, text: invalid.stdout });
    }

    // every output byte: texts, and every file the runs wrote (raw bytes, and Avro files decoded)
    const found: string[] = [];
    for (const { what, text } of texts) for (const l of leaks(text)) found.push(`${what} contains ${l}`);
    const files = await allFiles(project.dir);
    const written = files.map((f) => f.path.slice(project!.dir.length + 1));
    expect(written.some((p) => /^out\/secret\.readings\/.+\.avro$/.test(p)), written.join('\n')).to.equal(true);
    expect(written).to.include('out/secret.readings.dlq.jsonl');
    expect(written.some((p) => p.startsWith('fixtures/'))).to.equal(true);
    for (const file of files) for (const l of leaks(file.content)) found.push(`${file.path} contains ${l}`);
    for (const dir of ['out', 'out-recorded', 'out-replayed']) {
      const records = await readTopic(project.path(`${dir}/secret.readings`));
      expect(records.length, `records in ${dir}`).to.be.above(0);
      for (const l of leaks(json(records))) found.push(`decoded records of ${dir} contain ${l}`);
    }
    expect(found, found.join('\n')).to.deep.equal([]);
  });
});
