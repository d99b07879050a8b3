/**
 * Setup of the interoperability test's consumers, cached per machine under `<repo>/.interop/`
 * (git-ignored):
 *
 * - `.interop/venv/`: a Python virtual environment with `python/requirements.txt` installed;
 *   rebuilt only when that file or the Python version changes.
 * - `.interop/java/<hash>/`: the Java consumer (`interop-consumer.jar` + `classpath.txt`), built
 *   with Maven; rebuilt only when `java/pom.xml` or `java/src/**` change, or when a jar on the
 *   classpath is gone (a cleaned `~/.m2`).
 *
 * A finished step leaves a marker file, written last, so an interrupted setup starts over.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This directory (test/interop). */
export const INTEROP_DIR = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO_ROOT = resolve(INTEROP_DIR, '../..');
/** Where setup results are kept (env `INTEROP_STATE_DIR`, default `<repo>/.interop`). */
export const STATE_DIR = process.env.INTEROP_STATE_DIR ?? join(REPO_ROOT, '.interop');

const MARKER = '.tributary-complete';

/** Result of running a command. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a command without a shell, collecting its output. After `timeoutMs` the child is killed
 * (SIGKILL) and the result says `timedOut`. Never rejects for a non-zero exit; rejects when the
 * command cannot be started (ENOENT).
 */
export function run(cmd: string, args: readonly string[], opts: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
  });
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

async function mustRun(what: string, cmd: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs });
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${r.code ?? r.signal}`;
    throw new Error(`${what} failed (${cmd} ${args.join(' ')}): ${why}\n${tail(r.stderr || r.stdout)}`);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Python

/**
 * A Python 3.9+ that can create virtual environments (`venv` + `ensurepip`), or why there is none.
 * Env `PYTHON` names the interpreter (default `python3`).
 */
export async function findPython(): Promise<{ python: string; version: string } | { python: null; reason: string }> {
  const python = process.env.PYTHON ?? 'python3';
  try {
    const r = await run(python, ['-c', 'import sys, venv, ensurepip; print("%d.%d.%d" % sys.version_info[:3])'], { timeoutMs: 30_000 });
    if (r.code !== 0) return { python: null, reason: `${python} cannot create virtual environments (on Debian: apt-get install python3-venv): ${tail(r.stderr, 3)}` };
    const version = r.stdout.trim();
    const [major, minor] = version.split('.').map(Number);
    if (major !== 3 || (minor ?? 0) < 9) return { python: null, reason: `${python} is ${version}; Python 3.9+ is needed` };
    return { python, version };
  } catch (err) {
    return { python: null, reason: `${python} not found (${(err as Error).message})` };
  }
}

/**
 * Ensures `.interop/venv` holds the consumer's requirements and returns the venv's interpreter.
 * Fast when nothing changed (one file read).
 */
export async function ensurePythonEnv(python: string, pythonVersion: string, log: (msg: string) => void = () => {}): Promise<string> {
  const requirements = join(INTEROP_DIR, 'python/requirements.txt');
  const stamp = createHash('sha256').update(readFileSync(requirements)).update(`\0${pythonVersion}\0${process.platform}-${process.arch}`).digest('hex');
  const venv = join(STATE_DIR, 'venv');
  const venvPython = join(venv, 'bin', 'python');
  const marker = join(venv, MARKER);
  if (existsSync(venvPython) && existsSync(marker) && readFileSync(marker, 'utf8') === stamp) return venvPython;
  log(`creating the Python environment in ${relative(REPO_ROOT, venv)} (pip install -r test/interop/python/requirements.txt)`);
  rmSync(venv, { recursive: true, force: true });
  mkdirSync(STATE_DIR, { recursive: true });
  await mustRun('creating the virtual environment', python, ['-m', 'venv', venv], 120_000);
  await mustRun('pip install', venvPython, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-r', requirements], 600_000);
  await mustRun('checking the Python consumer imports', venvPython, ['-c', 'import confluent_kafka, fastavro, confluent_kafka.schema_registry.avro'], 60_000);
  writeFileSync(marker, stamp);
  return venvPython;
}

// ---------------------------------------------------------------------------------------------
// Java

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p));
    else if (entry.isFile()) out.push(p);
  }
  return out.sort();
}

/** Hash of the Java consumer's sources: its build directory's name. */
export function javaSourceHash(): string {
  const javaDir = join(INTEROP_DIR, 'java');
  const hash = createHash('sha256');
  for (const file of [join(javaDir, 'pom.xml'), ...filesUnder(join(javaDir, 'src'))]) {
    hash.update(relative(javaDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

function classpathOf(buildDir: string): string[] | undefined {
  const jar = join(buildDir, 'interop-consumer.jar');
  const cpFile = join(buildDir, 'classpath.txt');
  if (!existsSync(join(buildDir, MARKER)) || !existsSync(jar) || !existsSync(cpFile)) return undefined;
  const deps = readFileSync(cpFile, 'utf8').trim().split(delimiter).filter(Boolean);
  if (!deps.every((p) => existsSync(p) && statSync(p).isFile())) return undefined;
  return [jar, ...deps];
}

/**
 * Ensures the Java consumer is built (Maven, once per source change) and returns its classpath
 * entries. Env `MVN` names the Maven command (default `mvn`).
 */
export async function ensureJavaConsumer(log: (msg: string) => void = () => {}): Promise<string[]> {
  const root = join(STATE_DIR, 'java');
  const hash = javaSourceHash();
  const buildDir = join(root, hash);
  const ready = classpathOf(buildDir);
  if (ready) return ready;
  log(`building the Java consumer into ${relative(REPO_ROOT, buildDir)} (mvn package)`);
  mkdirSync(root, { recursive: true });
  const tmp = join(root, `${hash}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    await mustRun('building the Java consumer', process.env.MVN ?? 'mvn', ['-q', '-B', '-f', join(INTEROP_DIR, 'java/pom.xml'), 'package', `-Dinterop.build.dir=${tmp}`], 600_000);
    writeFileSync(join(tmp, MARKER), hash);
    // The jar path is recorded nowhere inside the build, so the directory can move into place.
    rmSync(buildDir, { recursive: true, force: true });
    renameSync(tmp, buildDir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Older builds are of no use any more.
  for (const entry of readdirSync(root)) {
    if (entry !== hash && !entry.includes('.tmp-')) rmSync(join(root, entry), { recursive: true, force: true });
  }
  const cp = classpathOf(buildDir);
  if (!cp) throw new Error(`the Java consumer build in ${buildDir} is incomplete`);
  return cp;
}

// ---------------------------------------------------------------------------------------------
// Output

/** One line a consumer prints per record. */
export interface ConsumedLine {
  partition: number;
  offset: string;
  key?: string | null;
  value?: Record<string, unknown>;
  schemaId?: number;
  fingerprint?: string;
  /** Java only: the partition Kafka's Java producer would choose for the key (murmur2). */
  keyPartition?: number;
  error?: string;
}

/** Parses a consumer's stdout (JSON lines); a line that is not JSON throws with the line. */
export function parseLines(stdout: string): ConsumedLine[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as ConsumedLine;
      } catch {
        throw new Error(`consumer printed a line that is not JSON: ${l.slice(0, 200)}`);
      }
    });
}
