import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../../src/cli/io.js';

/** The repository root (where node_modules lives). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * A plain-JS plugin module (built by hand, no definePlugin, so it needs no build of the package):
 * stream `readings`, key `station`; each cycle GETs `${config.baseUrl}/readings` (with `api_key`)
 * and emits one record per item, or emits `config.count` records without HTTP when `baseUrl` is unset.
 */
export const PLUGIN_JS = `
import { z } from 'zod';
import { defer, from, mergeMap } from 'rxjs';
export default {
  kind: 'tributary-plugin',
  name: 'e2e-readings',
  version: '1.0.0',
  coreVersion: '*',
  description: 'Readings for end-to-end tests',
  configSchema: z.strictObject({
    baseUrl: z.string().optional(),
    apiKey: z.string().optional(),
    count: z.number().int().default(3),
    bad: z.boolean().default(false),
    cycleDelayMs: z.number().default(0),
  }),
  streams: {
    readings: {
      key: 'station',
      description: 'One reading per station',
      schema: { type: 'record', name: 'Reading', namespace: 'e2e', fields: [
        { name: 'station', type: 'string' },
        { name: 'value', type: 'double' },
        { name: 'cycle', type: 'int' },
      ] },
    },
  },
  create(config, ctx) {
    return {
      collect(info) {
        if (config.baseUrl) {
          return ctx.http.getJson$(config.baseUrl + '/readings', { query: { api_key: config.apiKey, cycle: info.cycle } }).pipe(
            mergeMap((body) => from(body.items.map((item) => ({ stream: 'readings', value: { station: item.station, value: item.value, cycle: info.cycle } })))),
          );
        }
        return defer(async () => {
          if (config.cycleDelayMs) await new Promise((r) => setTimeout(r, config.cycleDelayMs));
          await ctx.state.set('lastCycle', info.cycle);
          return Array.from({ length: config.count }, (_, i) => ({
            stream: 'readings',
            value: { station: 'S' + i, value: config.bad && i === 0 ? 'oops' : i + 0.5, cycle: info.cycle },
          }));
        }).pipe(mergeMap((records) => from(records)));
      },
    };
  },
};
`;

/** A temp directory with `node_modules` linked to the repository's, a plugin and a pipeline file. */
export async function makeProject(files: Record<string, string>): Promise<{ dir: string; path: (p: string) => string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tributary-cli-'));
  await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return { dir, path: (p) => join(dir, p), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A fake CliIo collecting stdout and stderr. */
export function fakeIo(env: Record<string, string | undefined> = {}, cwd = process.cwd()): CliIo & { out: () => string; err: () => string; signals: EventEmitter; exits: number[] } {
  const stdout = new PassThrough();
  const out: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  const err: string[] = [];
  const signals = new EventEmitter();
  const exits: number[] = [];
  return {
    stdout,
    stderr: { write: (t: string) => void err.push(t), isTTY: false },
    env,
    cwd,
    exit: (code) => void exits.push(code),
    process: signals as unknown as CliIo['process'],
    out: () => Buffer.concat(out).toString('utf8'),
    err: () => err.join(''),
    signals,
    exits,
  };
}
