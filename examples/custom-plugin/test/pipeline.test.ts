// Step 6 of docs/writing-a-plugin.md: the plugin in a pipeline, run from the recorded fixtures.
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { startReplayServer } from '@tributary/core';
import { runPipeline } from '@tributary/core/testing';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));

describe('custom plugin: in a pipeline', () => {
  it('runs the live source and the backfill from the recorded fixtures into one topic', async () => {
    const replay = await startReplayServer({ dir: here('fixtures') });
    try {
      const { records, errors, deadLetters, state } = await runPipeline(here('pipeline.yaml'), { baseUrl: replay.rewriteOrigin, env: {} });
      expect(errors).to.deep.equal([]);
      expect(deadLetters).to.deep.equal([]);
      expect(replay.misses).to.deep.equal([]);
      expect(new Set(records.map((r) => r.topic))).to.deep.equal(new Set(['grid.carbon-intensity']));

      const history = records.filter((r) => r.headers['tributary-source'] === 'gb-history');
      expect(history).to.have.length(2 * 48); // two days of half hours
      expect(history.every((r) => r.timestamp >= Date.UTC(2025, 0, 1) && r.timestamp < Date.UTC(2025, 0, 3))).to.equal(true);
      expect((state['gb-history']!['@tributary/backfill'] as { done: string[] }).done).to.have.length(2);

      const live = records.filter((r) => r.headers['tributary-source'] === 'gb');
      expect(live).to.have.length(12); // the last 6 hours
      expect(live.every((r) => r.key === 'GB' && r.headers['tributary-plugin'] === 'carbon-intensity')).to.equal(true);
    } finally {
      await replay.close();
    }
  });
});
