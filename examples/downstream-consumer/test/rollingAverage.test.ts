import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, toArray } from 'rxjs';
import { parseDuration, rollingAverage, RollingAverages, type KeyStats } from '../src/rollingAverage.js';
import { formatStats } from '../src/service.js';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));

interface Vectors {
  windowMs: number;
  inputs: { key: string; at: number; value: number }[];
  expected: (KeyStats | null)[];
  final: KeyStats[];
}
const vectors = JSON.parse(readFileSync(here('test/vectors.json'), 'utf8')) as Vectors;

describe('downstream-consumer: rolling average', () => {
  it('passes the shared cases (the Python version passes the same)', () => {
    const averages = new RollingAverages(vectors.windowMs);
    vectors.inputs.forEach((input, i) => {
      expect(averages.add(input.key, input.at, input.value) ?? null, `after input ${i}`).to.deep.equal(vectors.expected[i]);
    });
    expect(averages.all()).to.deep.equal(vectors.final);
  });

  it('keeps only the values within the window of each key\'s newest value', () => {
    const averages = new RollingAverages(parseDuration('1h'));
    for (let m = 0; m <= 120; m += 15) averages.add('NL', m * 60_000, m);
    // newest at 120 min: the window holds 75, 90, 105, 120 (60 min is exactly one window back: out)
    expect(averages.stats('NL')).to.deep.include({ count: 4, average: 97.5, min: 75, max: 120, latest: 120 });
    expect(averages.stats('BE')).to.equal(undefined);
  });

  it('as an operator: one update per record with a value; records without a key or value are skipped', async () => {
    const records = [
      { key: 'NL', t: 0, price: 10 },
      { key: 'NL', t: 1, price: null },
      { key: null, t: 2, price: 5 },
      { key: 'BE', t: 3, price: 20 },
      { key: 'NL', t: 4, price: 30 },
    ];
    const updates = await lastValueFrom(
      from(records).pipe(
        rollingAverage({ windowMs: 1000, keyOf: (r) => r.key, valueOf: (r) => r.price, timeOf: (r) => r.t }),
        toArray(),
      ),
    );
    expect(updates.map((s) => [s.key, s.average, s.count])).to.deep.equal([
      ['NL', 10, 1],
      ['BE', 20, 1],
      ['NL', 20, 2],
    ]);
  });

  it('as an operator: an error thrown by a callback errors the stream', async () => {
    const out = lastValueFrom(
      from([{ v: 1 }]).pipe(
        rollingAverage({
          windowMs: 1000,
          keyOf: () => {
            throw new Error('bad record');
          },
          valueOf: (r) => r.v,
          timeOf: () => 0,
        }),
      ),
    );
    const err = await out.catch((e: Error) => e);
    expect((err as Error).message).to.equal('bad record');
  });

  it('reads durations and prints one line per key', () => {
    expect(parseDuration('24h')).to.equal(86_400_000);
    expect(parseDuration('90s')).to.equal(90_000);
    expect(() => parseDuration('a day')).to.throw('expected a duration');
    const line = formatStats({ key: 'NL', count: 96, average: 81.4213, min: 35.1, max: 131.2, latest: 72, latestAt: Date.UTC(2026, 10, 26, 22, 45) }, 4);
    expect(line).to.equal('NL    avg 81.42  min 35.10  max 131.20  n=96  latest 72.00 at 2026-11-26T22:45Z');
  });

  const python = spawnSync('python3', ['--version']).status === 0;
  if (python) {
    it('the Python version passes the same cases (python/test_rolling.py)', async () => {
      const output = await new Promise<string>((resolve, reject) => {
        execFile('python3', ['-m', 'unittest', 'discover', '-s', here('python'), '-v'], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } }, (err, _stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stderr),
        );
      });
      expect(output).to.match(/Ran 2 tests/).and.match(/\nOK/);
    });
  }
});
