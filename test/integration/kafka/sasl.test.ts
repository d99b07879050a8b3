import { expect } from 'chai';
import { consume } from '../../../core/src/source/consume.js';
import type { KafkaSink } from '../../../core/src/sinks/kafka.js';
import { collect, ensureKafka, randomGroup, randomTopic, requireSasl, type KafkaEnv } from '../../support/kafka.js';
import { readingV1, readings, spec, testSink } from './fixtures.js';

describe('Kafka over SASL/PLAIN (real broker)', function () {
  let kafka: KafkaEnv;
  let sink: KafkaSink | undefined;

  before(async function () {
    kafka = await ensureKafka(this);
  });

  afterEach(async () => {
    await sink?.close().catch(() => undefined);
    sink = undefined;
  });

  it('passes SASL credentials through to the broker for the sink and for consume', async function () {
    this.timeout(60_000);
    const sasl = requireSasl(this, kafka);
    const topic = randomTopic('sasl');
    const credentials = { mechanism: 'plain' as const, username: sasl.username, password: sasl.password };
    sink = testSink({ brokers: sasl.brokers, sasl: credentials, wireFormat: 'single-object' }).sink;
    await sink.start([spec(topic, readingV1)]);
    const sent = readings(topic, 5);
    await sink.write(sent);
    await sink.close();
    const got = await collect(
      (onClose) => consume({ brokers: sasl.brokers, sasl: credentials, topic, groupId: randomGroup(), from: 'earliest', onClose }),
      5,
    );
    expect(got.map((r) => r.key)).to.deep.equal(sent.map((e) => e.key));
  });

  it('fails start() on a wrong password without retrying forever, and never shows the password', async function () {
    this.timeout(60_000);
    const sasl = requireSasl(this, kafka);
    const wrong = 'wrong-password-7f3a9c';
    sink = testSink({ brokers: sasl.brokers, sasl: { mechanism: 'plain', username: sasl.username, password: wrong }, wireFormat: 'single-object' }).sink;
    const t0 = Date.now();
    const err = (await sink.start([spec(randomTopic('sasl-wrong'), readingV1)]).catch((e: unknown) => e)) as Error;
    expect(err).to.be.instanceOf(Error);
    expect(err.message).to.match(/SASL|[Aa]uthentication/);
    expect(err.message).to.not.contain(wrong);
    expect(JSON.stringify(err)).to.not.contain(wrong);
    expect(Date.now() - t0).to.be.below(30_000);
  });
});
