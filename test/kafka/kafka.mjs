#!/usr/bin/env node
// @ts-check
/**
 * CLI over test/kafka/harness.mjs: starts/stops a real single-node Kafka broker (KRaft) and an
 * Apicurio schema registry (Confluent-compatible API) for tests. See test/kafka/README.md.
 *
 *   node test/kafka/kafka.mjs start [--version 4.4.0|3.9.2] [--no-registry] [--keep-data]
 *                                   [--registry-version 3.3.3] [--registry-compat BACKWARD|NONE|...]
 *                                   [--timeout-ms 120000]
 *   node test/kafka/kafka.mjs stop
 *   node test/kafka/kafka.mjs stop-broker [--kill]
 *   node test/kafka/kafka.mjs start-broker
 *   node test/kafka/kafka.mjs pause-broker | resume-broker
 *   node test/kafka/kafka.mjs status
 *   node test/kafka/kafka.mjs env          # prints `export KAFKA_BROKERS=... SCHEMA_REGISTRY_URL=...`
 *   node test/kafka/kafka.mjs fetch [--version X] [--registry-version Y]   # only resolve jars
 *
 * Progress goes to stderr; `start` prints KAFKA_BROKERS=... and SCHEMA_REGISTRY_URL=... on stdout.
 *
 * @module kafka-cli
 */

import {
  DEFAULT_REGISTRY_VERSION,
  ensureApicurio,
  ensureKafkaJars,
  readEnv,
  resolveKafkaVersion,
  setBrokerPaused,
  startBroker,
  startKafka,
  status,
  stopBroker,
  stopKafka,
} from './harness.mjs';

const USAGE = `usage: node test/kafka/kafka.mjs <command> [options]

commands:
  start          start a fresh broker + schema registry (stops any previous one first)
                   --version V            Kafka version (4.4.0 default, 3.9.2; aliases 3, 4)
                   --no-registry          do not start the schema registry
                   --keep-data            keep the broker's previous log dirs
                   --registry-version V   Apicurio Registry version (default ${DEFAULT_REGISTRY_VERSION})
                   --registry-compat L    global compatibility (default BACKWARD; NONE to disable)
                   --timeout-ms N         readiness timeout (default 120000)
  stop           stop broker and registry (idempotent)
  stop-broker    stop only the broker, keeping its data  (--kill: SIGKILL, i.e. crash it)
  start-broker   start the broker again on the same ports with the same data
  pause-broker   SIGSTOP the broker (hung broker);  resume-broker: SIGCONT
  status         show what is running (exit code 0 if the broker is ready, 1 if not)
  env            print shell exports for the running stack
  fetch          only resolve the jars (Maven) for --version / --registry-version
`;

/**
 * @param {string[]} argv
 * @returns {{cmd: string|undefined, flags: Record<string, string|boolean>}}
 */
function parseArgs(argv) {
  const [cmd, ...rest] = argv;
  /** @type {Record<string, string|boolean>} */
  const flags = {};
  const valued = new Set(['version', 'registry-version', 'registry-compat', 'timeout-ms']);
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument: ${a}`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (valued.has(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : rest[++i];
      if (v === undefined) throw new Error(`--${name} needs a value`);
      flags[name] = v;
    } else if (['no-registry', 'keep-data', 'kill', 'help'].includes(name)) {
      flags[name] = true;
    } else {
      throw new Error(`unknown option --${name}`);
    }
  }
  return { cmd, flags };
}

/**
 * @param {string} s
 * @returns {string}
 */
const shq = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * @param {string[]} argv
 * @returns {Promise<number>} exit code
 */
async function main(argv) {
  const { cmd, flags } = parseArgs(argv);
  if (!cmd || flags.help || cmd === 'help' || cmd === '--help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  switch (cmd) {
    case 'start': {
      const r = await startKafka({
        version: /** @type {string|undefined} */ (flags.version),
        registry: !flags['no-registry'],
        keepData: !!flags['keep-data'],
        registryVersion: /** @type {string|undefined} */ (flags['registry-version']),
        registryCompatibility: /** @type {string|undefined} */ (flags['registry-compat']),
        timeoutMs: flags['timeout-ms'] ? Number(flags['timeout-ms']) : undefined,
      });
      process.stdout.write(`KAFKA_BROKERS=${r.brokers}\n`);
      if (r.registryUrl) process.stdout.write(`SCHEMA_REGISTRY_URL=${r.registryUrl}\n`);
      return 0;
    }
    case 'stop':
      await stopKafka();
      return 0;
    case 'stop-broker':
      await stopBroker({ kill: !!flags.kill });
      return 0;
    case 'start-broker': {
      const r = await startBroker();
      process.stdout.write(`KAFKA_BROKERS=${r.brokers}\n`);
      return 0;
    }
    case 'pause-broker':
    case 'resume-broker':
      await setBrokerPaused(cmd === 'pause-broker');
      return 0;
    case 'status': {
      const s = await status();
      const b = s.broker;
      const r = s.registry;
      process.stdout.write(
        `broker:   ${b.running ? `running pid ${b.pid}, Kafka ${b.version}, 127.0.0.1:${b.port}, ${b.ready ? 'ready' : 'NOT ready'}` : 'stopped'}\n` +
        `registry: ${r.running ? `running pid ${r.pid}, ${r.url}, ${r.ready ? 'ready' : 'NOT ready'}` : 'stopped'}\n`);
      return b.ready ? 0 : 1;
    }
    case 'env': {
      const env = readEnv();
      if (!env) {
        process.stderr.write('nothing running (no .kafka/env.json); run `node test/kafka/kafka.mjs start`\n');
        return 1;
      }
      process.stdout.write(`export KAFKA_BROKERS=${shq(env.brokers)}\n`);
      if (env.registryUrl) process.stdout.write(`export SCHEMA_REGISTRY_URL=${shq(env.registryUrl)}\n`);
      return 0;
    }
    case 'fetch': {
      const version = resolveKafkaVersion(/** @type {string|undefined} */ (flags.version));
      await Promise.all([
        ensureKafkaJars(version),
        flags['no-registry'] ? null
          : ensureApicurio(/** @type {string|undefined} */ (flags['registry-version']) || process.env.APICURIO_VERSION || DEFAULT_REGISTRY_VERSION),
      ]);
      return 0;
    }
    default:
      process.stderr.write(`unknown command: ${cmd}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`[kafka-harness] ERROR: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
