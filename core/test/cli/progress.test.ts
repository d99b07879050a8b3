import { expect } from 'chai';
import { createProgress } from '../../src/cli/progress.js';
import { InstrumentationEvents } from '../../src/observability/events.js';

function output(isTTY: boolean) {
  const chunks: string[] = [];
  return { write: (t: string) => void chunks.push(t), isTTY, text: () => chunks.join(''), columns: 100, on: () => undefined, removeListener: () => undefined };
}

describe('cli/progress', () => {
  it('prints plain progress lines off a terminal: the first, at most one per second, and the last', async () => {
    const events = new InstrumentationEvents();
    const out = output(false);
    let now = 0;
    const progress = await createProgress(events, out, { enabled: true, now: () => now });
    const emit = (done: number, failed = 0) => events.emit('backfill.progress', { source: 'eia', done, failed, total: 4 });
    emit(0);
    now = 100;
    emit(1); // within a second: skipped
    now = 1_200;
    emit(2);
    now = 1_300;
    emit(3, 1); // last chunk: always printed
    emit(3, 1); // the same final state reported again: not printed twice
    progress.logDestination.write('a log line\n');
    progress.stop();
    expect(out.text()).to.equal('backfill eia: 0/4 chunks (0%)\nbackfill eia: 2/4 chunks (50%)\nbackfill eia: 3/4 chunks (75%), 1 failed\na log line\n');
  });

  it('draws a bar per source on a terminal and routes log lines around it', async () => {
    const events = new InstrumentationEvents();
    const out = output(true);
    const progress = await createProgress(events, out, { enabled: true });
    events.emit('backfill.progress', { source: 'eia', done: 1, failed: 0, total: 4 });
    events.emit('backfill.progress', { source: 'eia', done: 2, failed: 0, total: 4 });
    progress.logDestination.write('log while drawing\n');
    progress.stop();
    expect(out.text()).to.include('eia');
    expect(out.text()).to.match(/2\/4 chunks +50%/);
    expect(out.text()).to.include('log while drawing');
  });

  it('shows nothing when disabled', async () => {
    const events = new InstrumentationEvents();
    const out = output(false);
    const progress = await createProgress(events, out, { enabled: false });
    events.emit('backfill.progress', { source: 'eia', done: 1, failed: 0, total: 4 });
    progress.stop();
    expect(out.text()).to.equal('');
  });
});
