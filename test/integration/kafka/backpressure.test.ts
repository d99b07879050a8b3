import { expect } from 'chai';
import { Registry } from 'prom-client';
import type { KafkaSink } from '../../../core/src/sinks/kafka.js';
import { startBroker, stopBroker } from '../../kafka/harness.mjs';
import { ensureKafka, randomTopic, requireControllableBroker, waitForMessages, type KafkaEnv } from '../../support/kafka.js';
import { counterValue, readingV1, readings, spec, testSink } from './fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Kafka sink back-pressure with the broker stopped (real broker)', function () {
  let kafka: KafkaEnv;
  let sink: KafkaSink | undefined;
  let brokerDown = false;

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async function () {
    this.timeout(60_000);
    if (brokerDown) await startBroker({ log: () => undefined });
    brokerDown = false;
    await sink?.close().catch(() => undefined);
    sink = undefined;
  });

  it('blocks writers once the buffer is full, keeps memory bounded, and delivers every record exactly once when the broker is back', async function () {
    this.timeout(150_000);
    requireControllableBroker(this, kafka);
    const topic = randomTopic('backpressure');
    const CAP = 100;
    const metrics = new Registry();
    sink = testSink(
      { wireFormat: 'single-object', topics: { [topic]: { partitions: 2 } }, batch: { maxRecords: 20, lingerMs: 5 }, buffer: { maxRecords: CAP, maxBytes: 64 * 1024 * 1024 } },
      metrics,
    ).sink;
    await sink.start([spec(topic, readingV1)]);
    const all = readings(topic, 310);
    await sink.write(all.slice(0, 10)); // the broker is up: acknowledged at once

    await stopBroker({ log: () => undefined });
    brokerDown = true;
    let settled = 0;
    let failed: unknown;
    const writes: Promise<void>[] = [];
    for (let i = 10; i < all.length; i += 10) {
      const w = sink.write(all.slice(i, i + 10));
      w.then(
        () => settled++,
        (e: unknown) => (failed ??= e),
      );
      writes.push(w);
    }
    // While the broker is down: the buffer fills up to its cap and stays there; writers wait. The
    // outage lasts until the client library gave up its own retries at least once, so that the
    // sink's retry of the very same records (and the broker's duplicate detection) is exercised.
    let maxSeen = 0;
    const downSince = Date.now();
    while (Date.now() - downSince < 2_000 || (await counterValue(metrics, 'tributary_kafka_send_errors_total', { topic })) === 0) {
      expect(Date.now() - downSince, 'a send failed while the broker was down').to.be.below(90_000);
      await sleep(50);
      maxSeen = Math.max(maxSeen, sink.buffered.records);
    }
    expect(maxSeen, 'buffered records never exceed the cap').to.be.at.most(CAP);
    expect(sink.buffered.records).to.equal(CAP);
    expect(sink.buffered.waiting, 'records waiting for room').to.equal(300 - CAP);
    expect(settled, 'no write resolved while the broker is down').to.equal(0);
    expect(failed, 'no write failed while the broker is down').to.equal(undefined);
    expect((await metrics.getSingleMetric('tributary_kafka_buffer_records')!.get()).values[0]!.value).to.equal(CAP);

    await startBroker({ log: () => undefined });
    brokerDown = false;
    await Promise.all(writes);
    expect(settled).to.equal(30);
    expect(sink.buffered).to.deep.equal({ records: 0, bytes: 0, waiting: 0 });
    await sink.close();
    expect(await counterValue(metrics, 'tributary_kafka_records_sent_total', { topic })).to.equal(310);

    // exactly once: every record, no duplicates (the idempotent producer discarded any resend)
    const got = await waitForMessages(topic, 310, { timeoutMs: 30_000, settleMs: 1_000 });
    const indexes = got.map((m) => Number(m.headers['x-index']!.toString()));
    expect(indexes.length).to.equal(310);
    expect(new Set(indexes).size).to.equal(310);
    // and per partition in write order
    for (const p of [0, 1]) {
      const inPartition = got.filter((m) => m.partition === p).map((m) => Number(m.headers['x-index']!.toString()));
      expect(inPartition).to.deep.equal([...inPartition].sort((a, b) => a - b));
    }
  });
});
