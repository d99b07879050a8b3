/**
 * @internal The `--replay <dir>` option of `tributary run` and the `tributary record` command:
 * both route a run's requests through a local server.
 */
import path from 'node:path';
import type { TrafficHook } from '../cli/run.js';
import { secretScrubber } from '../observability/logger.js';
import { startRecorder } from './recorder.js';
import { startReplayServer } from './server.js';

/** Misses listed after a replayed run; more are counted. */
const MAX_LISTED = 10;

/** @internal `--replay <dir>`: serve every request from the recording in `dir` (relative to the working directory). */
export function replayTraffic(dir: string): TrafficHook {
  return {
    async start({ pipeline, logger, io }) {
      const root = path.resolve(io.cwd, dir);
      const server = await startReplayServer({ dir: root, secrets: pipeline.secrets, logger: logger.child({ replay: root }) });
      logger.info({ recording: root, url: server.url }, `replaying recorded HTTP responses from ${root}`);
      const scrub = secretScrubber(pipeline.secrets);
      return {
        rewriteOrigin: server.rewriteOrigin,
        async report() {
          const misses = server.misses;
          io.stderr.write(`Replay: ${server.served} recorded responses served from ${root}\n`);
          if (misses.length === 0) return;
          const lines = misses.slice(0, MAX_LISTED).map((m) => `  ${m.method} ${m.url}\n`);
          if (misses.length > MAX_LISTED) lines.push(`  … and ${misses.length - MAX_LISTED} more\n`);
          io.stderr.write(
            scrub(
              `Replay: ${misses.length} request${misses.length === 1 ? '' : 's'} had no recorded response (answered 404):\n${lines.join('')}` +
                `  record them with: tributary record <pipeline.yaml> --to ${dir}\n`,
            ),
          );
        },
        close: () => server.close(),
      };
    },
  };
}

/** @internal `tributary record --to <dir>`: forward every request to the real API and save the exchanges in `dir`. */
export function recordTraffic(dir: string): TrafficHook {
  return {
    async start({ pipeline, logger, io }) {
      const root = path.resolve(io.cwd, dir);
      const recorder = await startRecorder({ secrets: pipeline.secrets });
      logger.info({ recording: root }, `recording HTTP exchanges to ${root}`);
      const scrub = secretScrubber(pipeline.secrets);
      return {
        rewriteOrigin: recorder.rewriteOrigin,
        async report() {
          const index = await recorder.save(root, { pipeline: pipeline.name, note: `tributary record ${path.relative(io.cwd, pipeline.file) || pipeline.file}` });
          io.stderr.write(`Recorded ${index.exchanges.length} HTTP exchange${index.exchanges.length === 1 ? '' : 's'} to ${root}\n`);
          if (recorder.failures.length > 0) {
            const lines = recorder.failures.slice(0, MAX_LISTED).map((f) => `  ${f.method} ${f.url}: ${f.error}\n`);
            io.stderr.write(scrub(`Not recorded (could not reach the API):\n${lines.join('')}`));
          }
        },
        close: () => recorder.close(),
      };
    },
  };
}
