import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { murmur2, partitionForKey, toPositive } from '../../../src/sinks/kafka/murmur2.js';

/** Kafka's own vectors: org.apache.kafka.common.utils.UtilsTest#testMurmur2 (Java client). */
const JAVA_VECTORS: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

describe('murmur2 (Kafka key partitioning)', () => {
  it("hashes like Java's Utils.murmur2 (Kafka's own test vectors, every tail length)", () => {
    for (const [text, expected] of JAVA_VECTORS) expect(murmur2(Buffer.from(text, 'utf8')), text).to.equal(expected);
  });

  it("agrees with kafkajs' independent (Long-based) implementation on random keys of every tail length", () => {
    const require = createRequire(import.meta.url);
    const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;
    for (let length = 0; length <= 40; length++) {
      for (let i = 0; i < 25; i++) {
        const key = randomBytes(length);
        expect(murmur2(key), key.toString('hex')).to.equal(kafkajsMurmur2(key) | 0);
      }
    }
  });

  it('toPositive clears the sign bit like Java (not Math.abs)', () => {
    expect(toPositive(-790332482)).to.equal(-790332482 & 0x7fffffff);
    expect(toPositive(-2147483648)).to.equal(0);
    expect(toPositive(5)).to.equal(5);
  });

  it('partitionForKey is toPositive(murmur2(key)) % partitions and rejects a bad partition count', () => {
    const key = Buffer.from('foobar');
    expect(partitionForKey(key, 7)).to.equal((-790332482 & 0x7fffffff) % 7);
    expect(() => partitionForKey(key, 0)).to.throw(RangeError, /positive integer/);
  });
});
