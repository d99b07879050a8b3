import type { InstrumentationEvents } from '../observability/events.js';

/** Where progress and logs are written: a stream with an optional `isTTY`. */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** A progress display for backfills, and the log destination that keeps out of its way. */
export interface ProgressReporter {
  /** Log lines go through here, so they do not tear a progress bar apart. */
  readonly logDestination: { write(line: string): void; isTTY?: boolean };
  /** Stops listening and removes bars. */
  stop(): void;
}

/**
 * @internal Shows backfill progress: a cli-progress bar per source on a terminal, plain lines
 * (`backfill <source>: 3/10 chunks (30%)`, at most one per second per source, and the last one)
 * otherwise. `enabled: false` shows nothing.
 */
export async function createProgress(events: InstrumentationEvents, out: ProgressOutput, options: { enabled: boolean; now?: () => number }): Promise<ProgressReporter> {
  const now = options.now ?? Date.now;
  if (!options.enabled) {
    return { logDestination: { write: (l) => void out.write(l), isTTY: out.isTTY === true }, stop: () => undefined };
  }
  if (out.isTTY !== true) {
    const last = new Map<string, number>();
    const printed = new Map<string, string>();
    const off = events.on('backfill.progress', ({ payload }) => {
      const t = now();
      const finished = payload.done + payload.failed >= payload.total;
      if (!finished && payload.done > 0 && t - (last.get(payload.source) ?? 0) < 1000) return;
      const state = `${payload.done}/${payload.failed}/${payload.total}`;
      if (printed.get(payload.source) === state) return; // the same progress once, however often it is reported
      printed.set(payload.source, state);
      last.set(payload.source, t);
      const pct = payload.total === 0 ? 100 : Math.floor((payload.done / payload.total) * 100);
      out.write(`backfill ${payload.source}: ${payload.done}/${payload.total} chunks (${pct}%)${payload.failed ? `, ${payload.failed} failed` : ''}\n`);
    });
    return { logDestination: { write: (l) => void out.write(l), isTTY: false }, stop: off };
  }
  const { MultiBar, Presets } = await import('cli-progress');
  const multibar = new MultiBar(
    {
      stream: out as NodeJS.WritableStream,
      format: ' {source} |{bar}| {value}/{total} chunks {percentage}% | eta {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      autopadding: true,
    },
    Presets.shades_classic,
  );
  const bars = new Map<string, ReturnType<typeof multibar.create>>();
  const off = events.on('backfill.progress', ({ payload }) => {
    let bar = bars.get(payload.source);
    if (!bar) {
      bar = multibar.create(payload.total, payload.done, { source: payload.source });
      bars.set(payload.source, bar);
    } else {
      bar.setTotal(payload.total);
      bar.update(payload.done, { source: payload.source });
    }
  });
  let stopped = false;
  return {
    logDestination: {
      write: (line) => {
        if (bars.size > 0 && !stopped) multibar.log(line.endsWith('\n') ? line : line + '\n');
        else out.write(line);
      },
      isTTY: true,
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      off();
      if (bars.size > 0) {
        multibar.update(); // draws the last state and writes buffered log lines
        multibar.stop();
      }
    },
  };
}
