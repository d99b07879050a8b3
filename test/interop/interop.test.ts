/**
 * Interoperability: consumers written in other languages, with other people's libraries, read
 * what Tributary produces.
 *
 * - Python: confluent-kafka (librdkafka) + fastavro, and Confluent's own AvroDeserializer.
 * - Java: Apache Kafka's kafka-clients + Apache Avro (GenericDatumReader, BinaryMessageDecoder).
 *
 * Both wire formats are produced with `Serializer` through the kafkajs transport: the Confluent
 * framing with a real schema registry (Apicurio, Confluent-compatible API), and Avro
 * single-object encoding with the writer schema published to a compacted schema topic
 * (`KafkaSchemaStore`) and also written to a file. Every consumed record must decode to exactly
 * the produced values. Needs Java 17+, Maven and Python 3.9+ with venv; the broker and registry
 * come from the shared fixture (test/support/kafka.ts). See README.md.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findJava } from '../kafka/harness.mjs';
import { ensureKafka, requireRegistry } from '../support/kafka.js';
import { createKafkajsTransport } from '../../core/src/kafka/kafkajs.js';
import { KafkaSchemaStore } from '../../core/src/kafka/schemaTopic.js';
import type { KafkaAdmin, KafkaProducer, KafkaTransport } from '../../core/src/kafka/transport.js';
import { SchemaRegistryClient } from '../../core/src/serde/registry.js';
import { Serializer } from '../../core/src/serde/Serializer.js';
import { encodeStringKey } from '../../core/src/serde/wire.js';
import { makeRecords, readingSchema, type InteropRecord } from './records.js';
import { ensureJavaConsumer, ensurePythonEnv, findPython, INTEROP_DIR, parseLines, run, type ConsumedLine, type RunResult } from './setup.js';

const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
const RECORDS = 60;
const CONSUMER_TIMEOUT_MS = 60_000;

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Values grouped by key, in the order they appear (Kafka keeps the order per key). */
function valuesByKey(pairs: { key: string | null | undefined; value: unknown }[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const { key, value } of pairs) (out[String(key)] ??= []).push(value);
  return out;
}

/** The header bytes of a single-object message for this fingerprint, as hex. */
function fingerprintHeaderHex(fingerprint: bigint): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(fingerprint);
  return b.toString('hex');
}

describe('interop: Python and Java consumers read what Tributary produces', function () {
  this.timeout(120_000);

  const suffix = randomBytes(4).toString('hex');
  const confluentTopic = `interop.confluent.${suffix}`;
  const singleObjectTopic = `interop.single-object.${suffix}`;
  const schemaTopic = `_tributary_schemas.interop.${suffix}`;
  // Negative control: single-object messages whose fingerprint bytes are reversed (big-endian,
  // the classic mistake). Both consumers must refuse them, which shows that they do check.
  const corruptTopic = `interop.corrupt.${suffix}`;
  const CORRUPT = 3;
  const records: InteropRecord[] = makeRecords(RECORDS);

  let brokers = '';
  let registryUrl = '';
  let python: string | null = null;
  let pythonMissing = '';
  let java: string | null = null;
  let javaClasspath: string[] = [];
  let javaMissing = '';
  let transport: KafkaTransport | undefined;
  let admin: KafkaAdmin | undefined;
  let producer: KafkaProducer | undefined;
  let registry: SchemaRegistryClient | undefined;
  let store: KafkaSchemaStore | undefined;
  let schemaId: number | undefined;
  let fingerprintHex = '';
  let workDir = '';
  let schemaFile = '';

  before(async function () {
    const log = (msg: string): void => void process.stderr.write(`      [interop] ${msg}\n`);
    java = findJava(17);
    if (!java) javaMissing = 'no Java 17+ found';
    const py = await findPython();
    if (py.python === null) pythonMissing = py.reason;
    if (IN_CI && (pythonMissing || javaMissing)) throw new Error(`interop consumers cannot run (CI=true: not skipping): ${pythonMissing || javaMissing}`);

    // The shared fixture: KAFKA_BROKERS, else a running stack, else one started for the whole run.
    // Without any (no Java, outside CI) the suite is pending; in CI that fails.
    const kafka = ensureKafka(this);
    // Set after ensureKafka set its own: the first run on a machine also lets pip and Maven download.
    this.timeout(900_000);
    const pythonSetup = py.python === null ? Promise.resolve() : ensurePythonEnv(py.python, py.version, log).then((p) => void (python = p));
    // Maven after the harness (which may run Maven itself on a first start): one at a time in ~/.m2.
    const javaSetup = kafka.then(async () => {
      if (java) javaClasspath = await ensureJavaConsumer(log);
    });
    const settled = await Promise.allSettled([kafka, pythonSetup, javaSetup]);
    const failure = settled.find((s) => s.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;
    const env = await kafka;
    brokers = env.brokers.join(',');
    registryUrl = requireRegistry(this, env);

    workDir = mkdtempSync(join(tmpdir(), 'tributary-interop-'));
    schemaFile = join(workDir, 'GridReading.avsc');
    writeFileSync(schemaFile, JSON.stringify(readingSchema, null, 2));

    transport = createKafkajsTransport({ brokers: brokers.split(','), clientId: 'tributary-interop-test' });
    admin = transport.admin();
    await admin.connect();
    await admin.ensureTopics([
      { topic: confluentTopic, partitions: 3, replicationFactor: 1 },
      { topic: singleObjectTopic, partitions: 3, replicationFactor: 1 },
      { topic: schemaTopic, partitions: 1, replicationFactor: 1, config: { 'cleanup.policy': 'compact' } },
      { topic: corruptTopic, partitions: 1, replicationFactor: 1 },
    ]);
    producer = transport.producer();
    await producer.connect();

    registry = new SchemaRegistryClient({ url: registryUrl });
    const confluent = new Serializer({ topic: confluentTopic, schema: readingSchema, mode: 'registry', registry });
    await confluent.prepare();
    schemaId = confluent.schemaId;

    store = new KafkaSchemaStore({ transport, topic: schemaTopic, producer });
    const singleObject = new Serializer({ topic: singleObjectTopic, schema: readingSchema, mode: 'single-object', store });
    await singleObject.prepare();
    fingerprintHex = fingerprintHeaderHex(singleObject.fingerprint);

    for (const [topic, serializer] of [
      [confluentTopic, confluent],
      [singleObjectTopic, singleObject],
    ] as const) {
      await producer.send(records.map((r) => ({ topic, key: encodeStringKey(r.key), value: serializer.serialize(r.input) })));
    }
    await producer.send(
      records.slice(0, CORRUPT).map((r) => {
        const value = singleObject.serialize(r.input);
        value.subarray(2, 10).reverse();
        return { topic: corruptTopic, key: encodeStringKey(r.key), value };
      }),
    );
  });

  after(async function () {
    this.timeout(60_000);
    await store?.close();
    await producer?.disconnect();
    if (admin) {
      // The broker is shared with other suites: leave nothing behind.
      await admin.deleteTopics([confluentTopic, singleObjectTopic, schemaTopic, corruptTopic]).catch(() => undefined);
      await admin.disconnect();
    }
    registry?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  /** Checks every record a consumer printed against what was produced. */
  function verify(result: RunResult, expectHeader: { schemaId: number } | { fingerprint: string }): ConsumedLine[] {
    const lines = parseLines(result.stdout);
    const context = `exit ${result.timedOut ? 'timeout' : (result.code ?? result.signal)}, ${lines.length} records printed; stderr:\n${tail(result.stderr)}`;
    expect(lines.filter((l) => l.error !== undefined), `records the consumer could not decode (${context})`).to.deep.equal([]);
    expect(result.code, context).to.equal(0);
    expect(lines, context).to.have.length(records.length);
    // Each offset once: nothing read twice, nothing skipped.
    expect(new Set(lines.map((l) => `${l.partition}/${l.offset}`)).size).to.equal(records.length);
    if ('schemaId' in expectHeader) expect([...new Set(lines.map((l) => l.schemaId))], 'schema ids').to.deep.equal([expectHeader.schemaId]);
    else expect([...new Set(lines.map((l) => l.fingerprint))], 'fingerprints').to.deep.equal([expectHeader.fingerprint]);
    const actual = valuesByKey(lines.map((l) => ({ key: l.key, value: l.value })));
    const wanted = valuesByKey(records.map((r) => ({ key: r.key, value: r.expected })));
    expect(Object.keys(actual).sort(), 'keys').to.deep.equal(Object.keys(wanted).sort());
    for (const [key, values] of Object.entries(wanted)) {
      expect(actual[key], `records of key ${key}`).to.have.length(values.length);
      values.forEach((value, i) => expect(actual[key]![i], `record #${i} of key ${key}, in the order produced`).to.deep.equal(value));
    }
    return lines;
  }

  /** The consumer must report every corrupt message with the expected error and exit 1. */
  function verifyRejected(result: RunResult, error: RegExp): void {
    const lines = parseLines(result.stdout);
    expect(result.code, `exit code; stderr:\n${tail(result.stderr)}`).to.equal(1);
    expect(lines).to.have.length(CORRUPT);
    for (const l of lines) {
      expect(l.value, 'no value for a corrupt message').to.equal(undefined);
      expect(l.error).to.match(error);
    }
  }

  describe('Python (confluent-kafka + fastavro)', function () {
    beforeEach(function () {
      if (!python) {
        if (IN_CI) throw new Error(`Python consumer unavailable: ${pythonMissing}`);
        this.skip();
      }
    });

    function consume(args: string[]): Promise<RunResult> {
      const cmd = [join(INTEROP_DIR, 'python/consume.py'), '--brokers', brokers, '--timeout-ms', String(CONSUMER_TIMEOUT_MS), ...args];
      return run(python!, cmd, { timeoutMs: CONSUMER_TIMEOUT_MS + 30_000 });
    }

    it('reads the Confluent framing with the registry (AvroDeserializer and fastavro agree)', async () => {
      const result = await consume(['--topic', confluentTopic, '--format', 'confluent', '--registry', registryUrl]);
      verify(result, { schemaId: schemaId! });
    });

    it('reads single-object encoding, resolving the fingerprint through the schema topic', async () => {
      const result = await consume(['--topic', singleObjectTopic, '--format', 'single-object', '--schema-topic', schemaTopic]);
      verify(result, { fingerprint: fingerprintHex });
    });

    it('reads single-object encoding with the writer schema from a file', async () => {
      const result = await consume(['--topic', singleObjectTopic, '--format', 'single-object', '--schema-file', schemaFile]);
      verify(result, { fingerprint: fingerprintHex });
    });

    it('refuses single-object messages whose fingerprint bytes are reversed', async () => {
      verifyRejected(await consume(['--topic', corruptTopic, '--format', 'single-object', '--schema-file', schemaFile]), /no writer schema has the fingerprint/);
    });
  });

  describe('Java (kafka-clients + Apache Avro)', function () {
    beforeEach(function () {
      if (!java) {
        if (IN_CI) throw new Error(`Java consumer unavailable: ${javaMissing}`);
        this.skip();
      }
    });

    function consume(args: string[]): Promise<RunResult> {
      const cmd = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', javaClasspath.join(':'), 'dev.tributary.interop.Consume', '--brokers', brokers, '--timeout-ms', String(CONSUMER_TIMEOUT_MS), ...args];
      return run(java!, cmd, { timeoutMs: CONSUMER_TIMEOUT_MS + 30_000 });
    }

    /** kafkajs must put every key where Kafka's Java producer would (murmur2), so both can share a topic. */
    function expectJavaPartitioning(lines: ConsumedLine[]): void {
      expect(lines.map((l) => [l.key, l.partition])).to.deep.equal(lines.map((l) => [l.key, l.keyPartition]));
      expect(new Set(lines.map((l) => l.partition)).size, 'keys spread over several partitions').to.be.greaterThan(1);
    }

    it('reads the Confluent framing with the registry (GenericDatumReader)', async () => {
      const result = await consume(['--topic', confluentTopic, '--format', 'confluent', '--registry', registryUrl]);
      expectJavaPartitioning(verify(result, { schemaId: schemaId! }));
    });

    it("reads single-object encoding with Avro's BinaryMessageDecoder, resolving the fingerprint through the schema topic", async () => {
      const result = await consume(['--topic', singleObjectTopic, '--format', 'single-object', '--schema-topic', schemaTopic]);
      expectJavaPartitioning(verify(result, { fingerprint: fingerprintHex }));
    });

    it("reads single-object encoding with Avro's BinaryMessageDecoder and the writer schema from a file", async () => {
      const result = await consume(['--topic', singleObjectTopic, '--format', 'single-object', '--schema-file', schemaFile]);
      verify(result, { fingerprint: fingerprintHex });
    });

    it("Avro's BinaryMessageDecoder refuses single-object messages whose fingerprint bytes are reversed", async () => {
      // Avro's own check: MissingSchemaException "Cannot resolve schema for fingerprint".
      verifyRejected(await consume(['--topic', corruptTopic, '--format', 'single-object', '--schema-file', schemaFile]), /MissingSchemaException: Cannot resolve schema for fingerprint/);
    });
  });
});
