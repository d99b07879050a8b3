#!/usr/bin/env node
// `npm run demo`: runs the energy-hub example from its recorded fixtures (no network, no API key)
// into Avro files, or into Kafka when KAFKA_BROKERS is set, and prints the run summary.
//
//   node examples/energy-hub/scripts/demo.mjs [--dir <dir>] [other `tributary run` flags]
//
// --dir: where the Avro files (<dir>/out) and checkpoints (<dir>/state) go. Default: a new
// temporary directory, so every demo starts from scratch. The path is printed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const example = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = path.resolve(example, '../..');
const cli = path.join(root, 'core/dist/cli/main.js');
const missing = [cli, ...['luchtmeetnet', 'open-meteo', 'entsoe'].map((p) => path.join(root, 'plugins', p, 'dist/index.js'))].filter((f) => !existsSync(f));
if (missing.length > 0) {
  console.error(`The demo needs the compiled packages; not found:\n  ${missing.join('\n  ')}\nBuild them first: npm run build`);
  process.exit(2);
}

const args = process.argv.slice(2);
let dir;
const at = args.indexOf('--dir');
if (at >= 0) {
  dir = path.resolve(args[at + 1] ?? '.');
  args.splice(at, 2);
} else {
  dir = mkdtempSync(path.join(tmpdir(), 'tributary-demo-'));
}
await mkdir(dir, { recursive: true });
const outDir = path.join(dir, 'out');
const kafka = process.env.KAFKA_BROKERS;

console.log('Tributary demo: the energy-hub example (Luchtmeetnet air quality, Open-Meteo weather, ENTSO-E day-ahead prices),');
console.log(`replayed from the recorded API answers in ${path.relative(process.cwd(), path.join(example, 'fixtures')) || '.'} (no network needed).`);
console.log(kafka ? `Records go to Kafka at ${kafka}.` : `Records go to Avro files in ${outDir}`);
console.log('');


const runArgs = [
  cli, 'run', path.join(example, 'pipeline.yaml'),
  '--once',
  '--replay', path.join(example, 'fixtures'),
  '--state-dir', path.join(dir, 'state'),
  '--no-metrics',
  '--log-format', 'pretty',
  ...(kafka ? ['--sink', 'kafka', '--brokers', kafka] : ['--out', outDir]),
  ...args,
];
const child = spawn(process.execPath, runArgs, { stdio: 'inherit' });
const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));

if (code === 0 && !kafka && existsSync(outDir)) {
  console.log('');
  console.log(`Avro files (readable by avsc, fastavro, avro-tools) in ${outDir}:`);
  const avro = createRequire(path.join(root, 'core/package.json'))('avsc');
  for (const topic of readdirSync(outDir).sort()) {
    const topicDir = path.join(outDir, topic);
    if (!topic.endsWith('.jsonl') && existsSync(topicDir)) {
      for (const file of readdirSync(topicDir).filter((f) => f.endsWith('.avro'))) {
        const first = await firstRecord(avro, path.join(topicDir, file));
        console.log(`  ${topic}/${file}`);
        if (first) console.log(`    first record: ${JSON.stringify(first, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      }
    }
  }
}
if (code === 0 && kafka) {
  console.log('');
  console.log('Read them downstream, e.g. a rolling 24 h average of the prices per bidding zone:');
  console.log(`  KAFKA_BROKERS=${kafka} npm start -w examples/downstream-consumer -- --idle 10s`);
}
process.exit(code);

/** The first record of an Avro object container file. */
function firstRecord(avro, file) {
  return new Promise((resolve) => {
    const decoder = avro.createFileDecoder(file);
    decoder.once('data', (record) => {
      resolve(record);
      decoder.destroy();
    });
    decoder.once('end', () => resolve(undefined));
    decoder.once('error', () => resolve(undefined));
  });
}
