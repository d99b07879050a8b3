import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startReplayServer, type Envelope } from '@tributary/core';
import { assertRecordsMatchSchema, runPipeline } from '@tributary/core/testing';
import entsoe from '@tributary/plugin-entsoe';
import luchtmeetnet from '@tributary/plugin-luchtmeetnet';
import openMeteo from '@tributary/plugin-open-meteo';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));

describe('example: energy-hub', () => {
  it('runs from its recorded fixtures: air quality, weather and prices, each into its topic', async () => {
    const replay = await startReplayServer({ dir: here('fixtures') });
    try {
      const { records, errors, deadLetters } = await runPipeline(here('pipeline.yaml'), { baseUrl: replay.rewriteOrigin, env: {} });
      expect(errors).to.deep.equal([]);
      expect(deadLetters).to.deep.equal([]);
      expect(replay.misses).to.deep.equal([]);
      const byTopic = (t: string): Envelope[] => records.filter((r) => r.topic === t);

      // Luchtmeetnet: the station nearest to Utrecht centre that measures all three components
      const air = byTopic('air.measurements');
      expect(air.length).to.be.greaterThan(0);
      expect(new Set(air.map((r) => r.key))).to.deep.equal(new Set(['NL10938']));
      expect(new Set(air.map((r) => (r.value as { formula: string }).formula))).to.deep.equal(new Set(['NO2', 'PM10', 'PM25']));
      expect((air[0]!.value as { station_name: string }).station_name).to.equal('Utrecht-Griftpark');
      assertRecordsMatchSchema(air, luchtmeetnet.streams.measurements.schema);

      // Open-Meteo: 48 forecast hours for each of the two places
      const weather = byTopic('weather.forecast');
      expect(weather.filter((r) => r.key === 'utrecht')).to.have.length(48);
      expect(weather.filter((r) => r.key === 'rotterdam')).to.have.length(48);
      expect(Object.keys((weather[0]!.value as { values: Record<string, number> }).values).sort()).to.deep.equal(['cloud_cover', 'shortwave_radiation', 'temperature_2m', 'wind_speed_10m']);
      assertRecordsMatchSchema(weather, openMeteo.streams.hourly.schema);

      // ENTSO-E: quarter-hour day-ahead prices of NL and BE, keyed by bidding zone
      const prices = byTopic('energy.prices');
      const nl = prices.filter((r) => r.key === '10YNL----------L');
      const be = prices.filter((r) => r.key === '10YBE----------2');
      expect(nl.length).to.equal(be.length);
      expect(nl.length % 96).to.equal(0); // whole delivery days of 96 quarter-hours
      expect(new Set(prices.map((r) => (r.value as { resolution_minutes: number }).resolution_minutes))).to.deep.equal(new Set([15]));
      assertRecordsMatchSchema(prices, entsoe.streams.prices.schema);

      expect(records.every((r) => r.headers['tributary-origin'] === 'live')).to.equal(true);
    } finally {
      await replay.close();
    }
  });

  it('`npm run demo` replays it into Avro files and prints the run summary', async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(join(tmpdir(), 'energy-hub-demo-'));
    try {
      const env = { ...process.env };
      delete env.KAFKA_BROKERS;
      const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        execFile(process.execPath, [here('scripts/demo.mjs'), '--dir', dir, '--log-level', 'warn'], { env, timeout: 55_000 }, (err, out, errOut) => {
          if (err) reject(Object.assign(err, { message: `${err.message}\n${out}\n${errOut}` }));
          else resolve({ stdout: out, stderr: errOut });
        });
      });
      const output = stdout + stderr;
      expect(output).to.match(/Run summary: pipeline "energy-hub" completed in \S+: \d+ records, 0 dead letters, 0 errors, 3 cycles/);
      expect(output).to.include(`Records go to Avro files in ${join(dir, 'out')}`);
      expect((await readdir(join(dir, 'out'))).sort()).to.deep.equal(['air.measurements', 'energy.prices', 'weather.forecast']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
