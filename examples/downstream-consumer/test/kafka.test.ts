// Runs only with a real broker: KAFKA_BROKERS=127.0.0.1:39092 (npm run kafka:start prints it).
// Without one, test/rollingAverage.test.ts covers the logic.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, toArray } from 'rxjs';
import { loadPipeline, MemoryCheckpointStore, PipelineRunner, resolvePipeline, silentLogger, startReplayServer } from '@tributary/core';
import { runPipeline } from '@tributary/core/testing';
import { RollingAverages } from '../src/rollingAverage.js';
import { rollingAverageService } from '../src/service.js';

const energyHub = (p: string): string => fileURLToPath(new URL(`../../energy-hub/${p}`, import.meta.url));
const brokers = process.env.KAFKA_BROKERS;

if (brokers) {
  describe('downstream-consumer: against Kafka', function () {
    this.timeout(120_000);

    it('consumes the prices energy-hub writes and keeps a 24 h average per bidding zone', async () => {
      const topic = `energy.prices.${randomBytes(4).toString('hex')}`;
      const stateDir = await mkdtemp(join(tmpdir(), 'downstream-'));
      const overrides = { 'sources.air.enabled': false, 'sources.weather.enabled': false, 'sources.prices.topic': topic, metrics: false, stateDir };
      const replay = await startReplayServer({ dir: energyHub('fixtures') });
      try {
        // what the pipeline produces, and what the averages must be
        const { records } = await runPipeline(energyHub('pipeline.yaml'), { baseUrl: replay.rewriteOrigin, env: {}, overrides });
        const expected = new RollingAverages(24 * 3_600_000);
        for (const r of records) expected.add(r.key!, r.timestamp, (r.value as { price: number }).price);

        // the pipeline into Kafka
        const loaded = await loadPipeline(energyHub('pipeline.yaml'), {
          env: {},
          overrides: {
            ...overrides,
            sink: {
              type: 'kafka',
              brokers,
              ...(process.env.SCHEMA_REGISTRY_URL ? { schemaRegistry: { url: process.env.SCHEMA_REGISTRY_URL } } : {}),
              // day-ahead prices are for tomorrow: their event time is in the future, which Kafka 4
              // refuses beyond one hour unless the topic allows it
              topics: { [topic]: { config: { 'message.timestamp.after.max.ms': '604800000' } } },
            },
          },
        });
        const { config, plugins } = await resolvePipeline(loaded);
        const runner = new PipelineRunner({ pipeline: config, plugins, once: true, metrics: false, logger: silentLogger(), checkpoints: new MemoryCheckpointStore(), rewriteOrigin: replay.rewriteOrigin });
        const summary = await runner.run();
        expect(summary.outcome).to.equal('completed');
        expect(summary.topics[topic]!.records).to.equal(records.length);

        // the service reads it back
        const { updates$, state } = rollingAverageService({
          topic,
          field: 'price',
          windowMs: 24 * 3_600_000,
          idleMs: 5_000,
          consume: {
            brokers: brokers.split(','),
            groupId: `rolling-average-${randomBytes(4).toString('hex')}`,
            from: 'earliest',
            ...(process.env.SCHEMA_REGISTRY_URL ? { registryUrl: process.env.SCHEMA_REGISTRY_URL } : {}),
          },
        });
        const updates = await lastValueFrom(updates$.pipe(toArray()));
        expect(updates).to.have.length(records.length);
        expect(state.all()).to.deep.equal(expected.all());
        expect(state.all().map((s) => s.key)).to.deep.equal(['10YBE----------2', '10YNL----------L']);
      } finally {
        await replay.close();
        await rm(stateDir, { recursive: true, force: true });
      }
    });
  });
}
