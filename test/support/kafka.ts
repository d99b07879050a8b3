/**
 * Shared fixture and helpers for tests against a real Kafka broker and schema registry.
 *
 * In a Kafka test file:
 *
 * ```ts
 * import { ensureKafka, randomTopic, waitForMessages } from '../../support/kafka.js';
 * describe('...', function () {
 *   let kafka: KafkaEnv;
 *   before(async function () { kafka = await ensureKafka(this); });
 *   ...
 * });
 * ```
 *
 * `ensureKafka` finds a broker the first time a Kafka test file runs, in this order:
 * 1. `KAFKA_BROKERS` (and `SCHEMA_REGISTRY_URL`) from the environment: used as they are;
 * 2. a stack already started from this checkout (`npm run kafka:start`): reused and left running;
 * 3. Java 17+ present: starts Kafka (version `KAFKA_VERSION`, default 4.4.0) and Apicurio Registry
 *    with test/kafka/harness.mjs, and stops them when mocha finishes (a root `after` hook);
 * 4. otherwise the Kafka tests are reported as pending with a message saying how to get them,
 *    except in CI (`CI=true`), where a missing broker fails the run.
 *
 * Importing this module registers the root `after` hook; loading it with `--require` also works
 * (it exports `mochaHooks`).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import kafkajs from 'kafkajs';
import { Observable, Subscription } from 'rxjs';
import { createKafkajsTransport } from '../../core/src/kafka/kafkajs.js';
import { consume } from '../../core/src/source/consume.js';
import type { IncomingMessage, KafkaAdmin, KafkaTransport } from '../../core/src/kafka/transport.js';
import { javaAvailable, resolveKafkaVersion, startKafka, status, stopKafka } from '../kafka/harness.mjs';

/** Where the tests' Kafka is. */
export interface KafkaEnv {
  /** Bootstrap brokers. */
  brokers: string[];
  /** Confluent-compatible registry URL, if one runs. */
  registryUrl: string | undefined;
  /** Kafka version, when known. */
  version: string | undefined;
  /** True when the broker is managed by test/kafka/harness.mjs (so `stopBroker()`/`startBroker()` work). */
  controllable: boolean;
  /** True when this process started the stack (and stops it at the end). */
  startedHere: boolean;
  /** A SASL_PLAINTEXT listener with mechanism PLAIN, when this process started the broker. */
  sasl?: { brokers: string[]; username: string; password: string };
}

type Outcome = { ok: true; env: KafkaEnv } | { ok: false; reason: string };

let outcome: Promise<Outcome> | undefined;
let current: KafkaEnv | undefined;
let printedReason = false;

const HOW_TO =
  'Kafka integration tests need a broker: install Java 17+ and Maven (the tests then start Kafka and Apicurio Registry themselves), ' +
  'or start one with `npm run kafka:start` and/or set KAFKA_BROKERS=host:port and SCHEMA_REGISTRY_URL=http://host:port.';

function log(msg: string): void {
  process.stderr.write(`[kafka-tests] ${msg}\n`);
}

async function locate(): Promise<Outcome> {
  const brokers = process.env.KAFKA_BROKERS?.trim();
  if (brokers) {
    const env: KafkaEnv = {
      brokers: brokers.split(',').map((b) => b.trim()).filter(Boolean),
      registryUrl: process.env.SCHEMA_REGISTRY_URL?.trim() || undefined,
      version: process.env.KAFKA_VERSION,
      controllable: false,
      startedHere: false,
    };
    log(`using KAFKA_BROKERS=${env.brokers.join(',')}${env.registryUrl ? ` and SCHEMA_REGISTRY_URL=${env.registryUrl}` : ' (no schema registry)'}`);
    return { ok: true, env };
  }
  if (!javaAvailable()) return { ok: false, reason: `no Java 17+ found and KAFKA_BROKERS is not set. ${HOW_TO}` };
  const wanted = resolveKafkaVersion(process.env.KAFKA_VERSION);
  const running = await status();
  if (running.broker.ready && running.registry.ready && running.env && running.env.version === wanted && running.env.registryUrl) {
    log(`reusing the running Kafka ${running.env.version} at ${running.env.brokers} (started by kafka:start; left running)`);
    return {
      ok: true,
      env: { brokers: [running.env.brokers], registryUrl: running.env.registryUrl, version: running.env.version, controllable: true, startedHere: false },
    };
  }
  const sasl = await saslListener();
  const started = await startKafka({ version: wanted, log: (m) => log(m), ...(sasl ? { brokerProperties: sasl.properties } : {}) });
  const env: KafkaEnv = { brokers: [started.brokers], registryUrl: started.registryUrl ?? undefined, version: started.version, controllable: true, startedHere: true };
  if (sasl) env.sasl = sasl.client;
  return { ok: true, env };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Broker settings for an extra SASL_PLAINTEXT listener (PLAIN, one user with a random password) on
 * KAFKA_SASL_PORT (default: the broker port + 2), so that SASL pass-through is tested against the
 * real broker. None when that port is taken.
 */
async function saslListener(): Promise<{ properties: Record<string, string>; client: NonNullable<KafkaEnv['sasl']> } | undefined> {
  const kafkaPort = Number(process.env.KAFKA_PORT || 39092);
  const controllerPort = Number(process.env.KAFKA_CONTROLLER_PORT || 39093);
  const saslPort = Number(process.env.KAFKA_SASL_PORT || kafkaPort + 2);
  if (!(await portFree(saslPort))) {
    log(`port ${saslPort} is taken: no SASL listener (SASL tests will be pending)`);
    return undefined;
  }
  const username = 'tributary-test';
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const host = '127.0.0.1';
  return {
    properties: {
      listeners: `PLAINTEXT://${host}:${kafkaPort},CONTROLLER://${host}:${controllerPort},SASL_PLAINTEXT://${host}:${saslPort}`,
      'advertised.listeners': `PLAINTEXT://${host}:${kafkaPort},SASL_PLAINTEXT://${host}:${saslPort}`,
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT',
      'sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_${username}="${password}";`,
    },
    client: { brokers: [`${host}:${saslPort}`], username, password },
  };
}

/**
 * Makes sure a broker (and registry) is available and returns where; call it in `before()` with
 * the hook's `this`. Without a broker: marks the suite pending (outside CI) or throws (in CI).
 */
export async function ensureKafka(ctx: Mocha.Context): Promise<KafkaEnv> {
  ctx.timeout(300_000); // the very first run resolves the jars with Maven
  outcome ??= locate().catch((err: unknown) => ({ ok: false as const, reason: `starting Kafka failed: ${(err as Error).message}` }));
  const o = await outcome;
  if (o.ok) {
    current = o.env;
    return o.env;
  }
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`Kafka tests cannot run in CI: ${o.reason}`);
  if (!printedReason) {
    printedReason = true;
    log(`Kafka tests are pending: ${o.reason}`);
  }
  ctx.skip();
}

/**
 * Returns the registry URL, or marks the test pending (throws in CI) when no registry runs.
 * Call it in a `before()`/`it()` with its `this`.
 */
export function requireRegistry(ctx: Mocha.Context, env: KafkaEnv): string {
  if (env.registryUrl) return env.registryUrl;
  pendingOrFail(ctx, 'registry tests', 'no schema registry (set SCHEMA_REGISTRY_URL next to KAFKA_BROKERS)');
}

/** Outside CI: marks the test pending with the reason. In CI (`CI=true`) a Kafka test must not be skipped: throws. */
function pendingOrFail(ctx: Mocha.Context, what: string, reason: string): never {
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${what} cannot run in CI: ${reason}`);
  log(`${what} are pending: ${reason}`);
  ctx.skip();
}

/**
 * The SASL/PLAIN listener of a broker this process started. A broker from KAFKA_BROKERS or
 * `npm run kafka:start` has none: the test is then pending (also in CI). A broker started here
 * without it (its port was taken) fails the test in CI.
 */
export function requireSasl(ctx: Mocha.Context, env: KafkaEnv): NonNullable<KafkaEnv['sasl']> {
  if (env.sasl) return env.sasl;
  const reason = 'only a broker started by the tests themselves has a SASL listener (unset KAFKA_BROKERS, and `npm run kafka:stop` first)';
  // A broker started elsewhere simply has no such listener: pending, also in CI. One started here must have it.
  if (!env.startedHere) {
    log(`SASL tests are pending: ${reason}`);
    ctx.skip();
  }
  pendingOrFail(ctx, 'SASL tests', `the SASL listener could not be added (port ${process.env.KAFKA_SASL_PORT || Number(process.env.KAFKA_PORT || 39092) + 2} taken?)`);
}

/**
 * For tests that stop and restart the broker: returns silently when the harness controls it;
 * marks the test pending otherwise (throws in CI): an outside broker cannot be stopped from here.
 */
export function requireControllableBroker(ctx: Mocha.Context, env: KafkaEnv): void {
  if (env.controllable) return;
  pendingOrFail(ctx, 'broker-outage tests', 'the broker comes from KAFKA_BROKERS and cannot be stopped by the tests');
}

/** The environment found by {@link ensureKafka} (throws when called before it). */
export function kafkaEnv(): KafkaEnv {
  if (!current) throw new Error('kafkaEnv(): call `await ensureKafka(this)` in a before() hook first');
  return current;
}

/** Stops the stack if this process started it. Idempotent. */
export async function stopKafkaIfStarted(): Promise<void> {
  const o = outcome ? await outcome : undefined;
  outcome = undefined;
  current = undefined;
  if (o?.ok && o.env.startedHere) {
    log('stopping the Kafka broker and registry started for the tests');
    await stopKafka({ log: (m) => log(m) });
  }
}

/** Root hook plugin form, for `mocha --require test/support/kafka.ts`. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopKafkaIfStarted();
  },
};

// Imported from a test file: a root-level `after` stops the stack once every file has run.
if (typeof after === 'function') {
  after(async function () {
    this.timeout(60_000);
    await stopKafkaIfStarted();
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A unique topic name: `<prefix>-<time>-<random>`. */
export function randomTopic(prefix = 'test'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A unique consumer group id. */
export function randomGroup(prefix = 'test-group'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** A kafkajs transport for the tests' broker. */
export function testTransport(clientId = 'tributary-tests'): KafkaTransport {
  return createKafkajsTransport({ brokers: kafkaEnv().brokers, clientId, logLevel: 'nothing' });
}

/** Runs `fn` with a connected admin client and disconnects it afterwards. */
export async function withAdmin<T>(fn: (admin: KafkaAdmin) => Promise<T>): Promise<T> {
  const admin = testTransport('tributary-tests-admin').admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Creates a topic (`partitions`, replication factor 1, optional configs) if it does not exist. */
export async function createTopic(admin: KafkaAdmin, topic: string, partitions = 1, config: Record<string, string> = {}): Promise<void> {
  await admin.ensureTopics([{ topic, partitions, replicationFactor: 1, config }]);
}

/** Sum of the end offsets (high watermarks) of a topic's partitions: how many records it holds. */
export async function topicSize(topic: string): Promise<number> {
  return withAdmin(async (admin) => (await admin.endOffsets(topic)).reduce((n, o) => n + Number(o.offset), 0));
}

/**
 * Offsets a consumer group has committed for a topic, by partition (`-1`: nothing committed).
 * Read with the admin API, so no consumer has to join the group.
 */
export async function committedOffsets(groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = new kafkajs.Kafka({ brokers: kafkaEnv().brokers, clientId: 'tributary-tests-offsets', logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

/** Options of {@link waitForMessages}. */
export interface WaitForMessagesOptions {
  /** Give up after this long. Default 20 000 ms. */
  timeoutMs?: number;
  /** Default `read_committed`. */
  isolationLevel?: 'read_committed' | 'read_uncommitted';
  /** Keep reading this long after `n` arrived, to catch extra (duplicate) records. Default 0. */
  settleMs?: number;
}

/**
 * Reads a topic from the beginning (in a fresh consumer group) until `n` raw messages arrived and
 * returns them (all partitions, in arrival order). Rejects with the count seen on timeout. The
 * consumer is disconnected before it returns.
 */
export async function waitForMessages(topic: string, n: number, options: WaitForMessagesOptions = {}): Promise<IncomingMessage[]> {
  const consumer = testTransport('tributary-tests-reader').consumer({
    groupId: randomGroup('wait'),
    from: 'earliest',
    isolationLevel: options.isolationLevel ?? 'read_committed',
  });
  const seen: IncomingMessage[] = [];
  let reached: () => void = () => undefined;
  const enough = new Promise<void>((resolve) => (reached = resolve));
  await consumer.connect();
  try {
    await consumer.subscribe([topic]);
    await consumer.run(async (messages) => {
      seen.push(...messages);
      if (seen.length >= n) reached();
    });
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      enough.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), options.timeoutMs ?? 20_000);
      }),
    ]);
    clearTimeout(timer);
    if (!ok) throw new Error(`waitForMessages(${topic}): ${seen.length} of ${n} messages arrived in ${options.timeoutMs ?? 20_000} ms`);
    if (options.settleMs) await new Promise((r) => setTimeout(r, options.settleMs));
    return [...seen];
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Subscribes to an Observable built with an `onClose` callback (like `consume`), takes `n`
 * values, and resolves with them once the source has closed (so no consumer outlives the test).
 * Rejects on error or when fewer than `n` arrive within `timeoutMs`.
 */
export function collect<T>(build: (onClose: () => void) => Observable<T>, n: number, timeoutMs = 20_000): Promise<T[]> {
  return new Promise<T[]>((resolve, reject) => {
    const values: T[] = [];
    let outcome: { ok: true } | { ok: false; error: unknown } | undefined;
    let closed = false;
    const finish = (): void => {
      if (!closed || !outcome) return;
      if (outcome.ok) resolve(values);
      else reject(outcome.error);
    };
    const subscription = new Subscription();
    const timer = setTimeout(() => {
      outcome = { ok: false, error: new Error(`collect: ${values.length} of ${n} values arrived in ${timeoutMs} ms`) };
      subscription.unsubscribe();
      finish();
    }, timeoutMs);
    subscription.add(() => clearTimeout(timer));
    subscription.add(
      build(() => {
        closed = true;
        finish();
      }).subscribe({
        next: (v) => {
          values.push(v);
          if (values.length >= n && !outcome) {
            outcome = { ok: true };
            subscription.unsubscribe();
            finish();
          }
        },
        error: (error: unknown) => {
          outcome ??= { ok: false, error };
          subscription.unsubscribe();
          finish();
        },
        complete: () => {
          outcome ??= { ok: true };
          finish();
        },
      }),
    );
  });
}

/**
 * Every committed record value of a topic: reads with read_committed from the beginning until at
 * least `expected` arrived and nothing more came for `settleMs` (so that a duplicate would be
 * seen), or until `timeoutMs`. The consumer is closed before it resolves.
 */
export function readCommitted(brokers: string[], topic: string, expected: number, settleMs = 2_000, timeoutMs = 30_000): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const values: Array<Record<string, unknown>> = [];
    let last = Date.now();
    let failure: unknown;
    let closed = false;
    let stopped = false;
    const deadline = Date.now() + timeoutMs;
    const subscription = new Subscription();
    const finish = (): void => {
      if (!closed || !stopped) return;
      if (failure !== undefined) reject(failure);
      else resolve(values);
    };
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      subscription.unsubscribe();
      finish();
    };
    const timer = setInterval(() => {
      if ((values.length >= expected && Date.now() - last >= settleMs) || Date.now() > deadline) stop();
    }, 100);
    subscription.add(
      consume({
        brokers,
        topic,
        groupId: randomGroup('read-committed'),
        from: 'earliest',
        isolationLevel: 'read_committed',
        onClose: () => {
          closed = true;
          finish();
        },
      }).subscribe({
        next: (r) => {
          values.push(r.value as Record<string, unknown>);
          last = Date.now();
        },
        error: (err: unknown) => {
          failure = err;
          stop();
        },
      }),
    );
  });
}
