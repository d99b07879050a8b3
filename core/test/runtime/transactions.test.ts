import { expect } from 'chai';
import { concat, from, ignoreElements, throwError } from 'rxjs';
import { PipelineRunner } from '../../src/pipeline/runtime/runner.js';
import { MemorySink } from '../../src/sinks/memory.js';
import { MemoryCheckpointStore } from '../../src/state/memory.js';
import type { CheckpointChanges } from '../../src/state/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { CycleInfo } from '../../src/plugin/types.js';
import { pipeline, reading, source, testPlugin } from './helpers.js';

/** A sink that writes in cycles, as the Kafka sink does with `exactlyOnce: true`, logging the calls. */
class TransactionalMemorySink extends MemorySink {
  readonly exactlyOnce = true;
  readonly calls: string[] = [];
  readonly store = new MemoryCheckpointStore();
  pipelineName: string | undefined;

  checkpointStore(pipelineName: string): MemoryCheckpointStore {
    this.pipelineName = pipelineName;
    const commit = this.store.commit.bind(this.store);
    this.store.commit = async (sourceId: string, changes: CheckpointChanges) => {
      this.calls.push(`checkpoint ${sourceId} ${JSON.stringify(changes.set)}`);
      await commit(sourceId, changes);
    };
    return this.store;
  }

  override async write(batch: Parameters<MemorySink['write']>[0]): Promise<void> {
    this.calls.push(`write ${batch.length}`);
    await super.write(batch);
  }

  async commitCycle(sourceId: string): Promise<void> {
    this.calls.push(`commit ${sourceId}`);
  }

  async abortCycle(sourceId: string): Promise<void> {
    this.calls.push(`abort ${sourceId}`);
  }
}

describe('PipelineRunner with a transactional (exactly-once) sink', () => {
  it('takes its checkpoint store from the sink, commits a successful cycle after its checkpoint and aborts a failed one', async () => {
    const sink = new TransactionalMemorySink();
    const plugin = testPlugin((_config, ctx) => ({
      collect: (info: CycleInfo) =>
        info.cycle === 1
          ? concat(from([reading('NL01', 1)]), from(ctx.state.set('cursor', 1)).pipe(ignoreElements()))
          : concat(from([reading('NL01', 2)]), throwError(() => new Error('API broke mid-cycle'))),
    }));
    const runner = new PipelineRunner({
      pipeline: pipeline([source('air')], { name: 'energy' }),
      plugins: { air: { plugin } },
      sink,
      logger: silentLogger(),
      cycles: 2,
    });
    await runner.run();
    expect(sink.pipelineName).to.equal('energy');
    expect(sink.calls).to.deep.equal(['write 1', 'checkpoint air {"cursor":1}', 'commit air', 'write 1', 'abort air']);
    expect(sink.store.snapshot()).to.deep.equal({ air: { cursor: 1 } });
  });
});
