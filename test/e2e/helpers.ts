import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The CLI entry point, run from source through tsx (no build needed). */
export const CLI = join(REPO_ROOT, 'core/src/cli/main.ts');

/**
 * A plain-JS plugin (built by hand, so the test needs no build of @tributary/core): each cycle
 * GETs `${baseUrl}/readings` with `api_key`, `cycle` and, for backfill chunks, `start`/`end`, and
 * emits one `readings` record per item (tagged with the cycle number). `delayMs` makes each cycle
 * wait that long before it starts its request.
 */
export const PLUGIN_JS = `
import { z } from 'zod';
import { defer, from, mergeMap, timer } from 'rxjs';
export default {
  kind: 'tributary-plugin',
  name: 'e2e-readings',
  version: '1.4.2',
  coreVersion: '*',
  configSchema: z.strictObject({ baseUrl: z.string(), apiKey: z.string().optional(), delayMs: z.number().default(0) }),
  streams: {
    readings: {
      key: 'station',
      schema: { type: 'record', name: 'Reading', namespace: 'e2e', fields: [
        { name: 'station', type: 'string' },
        { name: 'value', type: 'double' },
        { name: 'cycle', type: 'int' },
        { name: 'window', type: ['null', 'string'], default: null },
      ] },
    },
  },
  create(config, ctx) {
    return {
      collect(info) {
        const query = { api_key: config.apiKey, cycle: info.cycle };
        if (info.window) Object.assign(query, { start: info.window.start, end: info.window.end });
        const window = info.window ? info.window.start + '-' + info.window.end : null;
        return timer(config.delayMs).pipe(
          mergeMap(() => ctx.http.getJson$(config.baseUrl + '/readings', { query })),
          mergeMap((body) => from(body.items.map((item) => ({ stream: 'readings', value: { station: item.station, value: item.value, cycle: info.cycle, window } })))),
        );
      },
    };
  },
};
`;

export interface Project {
  dir: string;
  path(p: string): string;
  cleanup(): Promise<void>;
}

/** A temp project: node_modules linked to the repository's (for zod and rxjs), the plugin, and the given files. */
export async function makeProject(files: Record<string, string>): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'tributary-e2e-'));
  await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  await writeFile(join(dir, 'plugin.js'), PLUGIN_JS);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return { dir, path: (p) => join(dir, p), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or 128 + signal number when killed). */
  exited: Promise<number>;
  /** Resolves once stderr matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** Starts `tributary <args>` as a child process (`node --import tsx core/src/cli/main.ts`). */
export function startCli(args: string[], options: { cwd: string; env?: Record<string, string> }): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString('utf8');
    for (const w of [...waiters]) {
      if (w.pattern.test(err)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const exited = new Promise<number>((resolveExit) => {
    child.on('close', (code, signal) => resolveExit(code ?? (signal === 'SIGKILL' ? 137 : 128)));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 15_000) {
      if (pattern.test(err)) return Promise.resolve();
      return new Promise<void>((resolveWait, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in stderr:\n${err}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolveWait();
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          if (!pattern.test(err)) reject(new Error(`process exited before ${pattern} appeared in stderr:\n${err}`));
        });
      });
    },
  };
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = startCli(args, options);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Decodes every Avro file of a topic directory (sorted by name) with avsc's file decoder. */
export async function readTopic(dir: string): Promise<Record<string, unknown>[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.avro')).sort();
  } catch {
    return [];
  }
  const values: Record<string, unknown>[] = [];
  for (const f of files) {
    await new Promise<void>((resolveDecode, reject) => {
      avro
        .createFileDecoder(join(dir, f))
        .on('data', (v: Record<string, unknown>) => values.push({ ...v }))
        .on('error', reject)
        .on('end', () => resolveDecode());
    });
  }
  return values;
}

/** Every file under a directory (recursively), with its content, skipping node_modules. */
export async function allFiles(dir: string): Promise<{ path: string; content: Buffer }[]> {
  const out: { path: string; content: Buffer }[] = [];
  for (const name of await readdir(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    const s = await stat(p);
    if (s.isDirectory()) out.push(...(await allFiles(p)));
    else out.push({ path: p, content: await readFile(p) });
  }
  return out;
}
