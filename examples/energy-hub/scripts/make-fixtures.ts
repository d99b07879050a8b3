/**
 * Rebuilds fixtures/ without network: runs pipeline.yaml once through the recorder, with the three
 * APIs played by a local stub that answers in their documented formats:
 *
 * - Luchtmeetnet open API (https://api-docs.luchtmeetnet.nl): paginated `/stations`
 *   (`{ pagination, data: [{ number, location }] }`), `/stations/{number}` (`{ data: { location,
 *   components, geometry: { type: 'point', coordinates: [lon, lat] }, ... } }`) and `/measurements`
 *   (`{ pagination, data: [{ station_number, value, timestamp_measured, formula }] }`);
 * - Open-Meteo `/v1/forecast` with `timeformat=unixtime` (https://open-meteo.com/en/docs):
 *   `{ latitude, longitude, elevation, hourly_units, hourly: { time: [...], <variable>: [...] } }`;
 * - ENTSO-E Transparency Platform, documentType A44 (day-ahead prices): a
 *   `Publication_MarketDocument` with one TimeSeries per delivery day, PT15M resolution and curve
 *   type A03 (a position whose price equals the previous one is left out).
 *
 * The values are made up but plausible; station numbers, names and coordinates are real. The
 * recording is saved under the real API URLs, exactly as `tributary record` would save a live run.
 * To record the real APIs instead (network and an ENTSO-E token needed):
 *
 *   ENTSOE_API_KEY=... npx tributary record pipeline.yaml --to fixtures
 *
 * Run: node --import tsx scripts/make-fixtures.ts   (from examples/energy-hub)
 */
import { fileURLToPath } from 'node:url';
import { startRecorder } from '@tributary/core';
import { runPipeline, startStubServer, type StubRequest } from '@tributary/core/testing';

const here = (p: string): string => fileURLToPath(new URL(`../${p}`, import.meta.url));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// ---------------------------------------------------------------------------------------------
// Luchtmeetnet

interface Station {
  number: string;
  location: string;
  lon: number;
  lat: number;
  components: string[];
  type: string;
  municipality: string;
  province: string;
}

const STATIONS: Station[] = [
  { number: 'NL10131', location: 'Vredepeel-Vredeweg', lon: 5.85361, lat: 51.54052, components: ['NO', 'NO2', 'O3', 'PM10', 'PM25'], type: 'Regional', municipality: 'Venray', province: 'Limburg' },
  { number: 'NL10418', location: 'Rotterdam-Schiedamsevest', lon: 4.4727, lat: 51.91386, components: ['NO', 'NO2', 'PM10', 'PM25'], type: 'Traffic', municipality: 'Rotterdam', province: 'Zuid-Holland' },
  { number: 'NL10444', location: 'De Zilk-Vogelaarsdreef', lon: 4.51072, lat: 52.29802, components: ['NO', 'NO2', 'O3', 'PM10', 'PM25'], type: 'Regional', municipality: 'Noordwijk', province: 'Zuid-Holland' },
  { number: 'NL10636', location: 'Utrecht-Kardinaal de Jongweg', lon: 5.10785, lat: 52.10525, components: ['NO', 'NO2', 'PM10'], type: 'Traffic', municipality: 'Utrecht', province: 'Utrecht' },
  { number: 'NL10643', location: 'Utrecht-Erzeijstraat', lon: 5.09787, lat: 52.09873, components: ['NO', 'NO2', 'PM10', 'PM25'], type: 'Traffic', municipality: 'Utrecht', province: 'Utrecht' },
  { number: 'NL10644', location: 'Cabauw-Wielsekade', lon: 4.92642, lat: 51.97028, components: ['NO', 'NO2', 'O3', 'PM10', 'PM25'], type: 'Regional', municipality: 'Lopik', province: 'Utrecht' },
  { number: 'NL10938', location: 'Utrecht-Griftpark', lon: 5.12894, lat: 52.10149, components: ['NO', 'NO2', 'O3', 'PM10', 'PM25'], type: 'Regional', municipality: 'Utrecht', province: 'Utrecht' },
  { number: 'NL49012', location: 'Amsterdam-Van Diemenstraat', lon: 4.88784, lat: 52.38902, components: ['NO', 'NO2', 'PM10', 'PM25'], type: 'Traffic', municipality: 'Amsterdam', province: 'Noord-Holland' },
  { number: 'NL49014', location: 'Amsterdam-Vondelpark', lon: 4.86587, lat: 52.35977, components: ['NO', 'NO2', 'O3', 'PM10', 'PM25'], type: 'Regional', municipality: 'Amsterdam', province: 'Noord-Holland' },
];
const PER_PAGE = 5;
const LAST_PAGE = Math.ceil(STATIONS.length / PER_PAGE);

function pagination(page: number, last: number) {
  return {
    last_page: last,
    prev_page: Math.max(1, page - 1),
    first_page: 1,
    next_page: Math.min(last, page + 1),
    current_page: page,
    page_list: Array.from({ length: last }, (_, i) => i + 1),
  };
}

function stationPage(req: StubRequest) {
  const page = Number(req.query.page ?? 1);
  const data = STATIONS.slice((page - 1) * PER_PAGE, page * PER_PAGE).map((s) => ({ number: s.number, location: s.location }));
  return { pagination: pagination(page, LAST_PAGE), data };
}

function stationDetail(req: StubRequest) {
  const s = STATIONS.find((x) => x.number === req.match![1]);
  if (!s) return { data: {} };
  return {
    data: {
      type: s.type,
      components: s.components,
      geometry: { type: 'point', coordinates: [s.lon, s.lat] },
      municipality: s.municipality,
      url: '',
      province: s.province,
      organisation: 'RIVM',
      location: s.location,
      year_start: '2009',
      description: { NL: s.location, EN: s.location },
    },
  };
}

const LEVELS: Record<string, number> = { NO2: 22, PM10: 18, PM25: 10, O3: 45, NO: 6 };

function measurements(req: StubRequest) {
  const formula = req.query.formula ?? 'NO2';
  const start = Math.ceil(Date.parse(req.query.start!) / HOUR) * HOUR;
  const end = Date.parse(req.query.end!);
  const data = [];
  for (let t = start; t <= end; t += HOUR) {
    const hour = new Date(t).getUTCHours();
    const base = LEVELS[formula] ?? 10;
    const rush = hour === 7 || hour === 8 || hour === 16 || hour === 17 ? 1.4 : 1;
    const value = Math.round(base * rush * (0.8 + 0.4 * Math.abs(Math.sin(t / 7_200_000))) * 10) / 10;
    data.push({ station_number: req.query.station_number, value, timestamp_measured: new Date(t).toISOString().replace('.000Z', '+00:00'), formula });
  }
  return { pagination: pagination(1, 1), data };
}

// ---------------------------------------------------------------------------------------------
// Open-Meteo

const UNITS: Record<string, string> = { temperature_2m: '°C', wind_speed_10m: 'km/h', cloud_cover: '%', shortwave_radiation: 'W/m²' };

function forecast(req: StubRequest) {
  const lat = Number(req.query.latitude);
  const lon = Number(req.query.longitude);
  const days = Number(req.query.forecast_days ?? 7);
  const variables = (req.query.hourly ?? 'temperature_2m').split(',');
  const today = Math.floor(Date.now() / DAY) * DAY;
  const time: number[] = [];
  for (let t = today; t < today + days * DAY; t += HOUR) time.push(t / 1000);
  const series = (name: string): number[] =>
    time.map((s) => {
      const h = new Date(s * 1000).getUTCHours();
      const daylight = Math.max(0, Math.sin(((h - 6) / 12) * Math.PI));
      switch (name) {
        case 'temperature_2m':
          return Math.round((8 + 5 * daylight + (lat - 52) * -2) * 10) / 10;
        case 'wind_speed_10m':
          return Math.round((14 + 6 * Math.sin(s / 40_000) + (lon < 5 ? 5 : 0)) * 10) / 10;
        case 'cloud_cover':
          return Math.round(50 + 45 * Math.sin(s / 30_000));
        case 'shortwave_radiation':
          return Math.round(380 * daylight);
        default:
          return 0;
      }
    });
  return {
    latitude: Number((lat + 0.005).toFixed(6)), // the model grid cell, as the API reports it
    longitude: Number((lon - 0.004).toFixed(6)),
    generationtime_ms: 0.0531,
    utc_offset_seconds: 0,
    timezone: 'GMT',
    timezone_abbreviation: 'GMT',
    elevation: lon < 5 ? -1 : 5,
    hourly_units: { time: 'unixtime', ...Object.fromEntries(variables.map((v) => [v, UNITS[v] ?? ''])) },
    hourly: { time, ...Object.fromEntries(variables.map((v) => [v, series(v)])) },
  };
}

// ---------------------------------------------------------------------------------------------
// ENTSO-E

/** Start of the delivery day (00:00 Europe/Amsterdam) that contains `ms`, in UTC ms. */
function deliveryDayStart(ms: number): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(ms));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)!.value);
  const localMidnightAsUtc = Date.UTC(get('year'), get('month') - 1, get('day'));
  const offset = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour')) - Math.floor(ms / HOUR) * HOUR;
  return localMidnightAsUtc - offset;
}

const isoMinute = (ms: number): string => new Date(ms).toISOString().slice(0, 16) + 'Z';
const fromEntsoeTime = (s: string): number => Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(8, 10), +s.slice(10, 12));

function prices(req: StubRequest): string {
  const eic = req.query.in_Domain!;
  const from = fromEntsoeTime(req.query.periodStart!);
  const to = fromEntsoeTime(req.query.periodEnd!);
  const premium = eic === '10YBE----------2' ? 4.5 : 0;
  const series: string[] = [];
  const firstDay = deliveryDayStart(from);
  let start = firstDay;
  // the day after tomorrow is not auctioned yet: the API answers up to tomorrow's delivery day
  const published = deliveryDayStart(deliveryDayStart(Date.now()) + 26 * HOUR);
  for (let day = 0; start < to && start <= published; day++) {
    const end = deliveryDayStart(start + 26 * HOUR);
    const points: string[] = [];
    let previous: string | undefined;
    for (let pos = 1; start + (pos - 1) * 15 * 60_000 < end; pos++) {
      const h = ((pos - 1) * 15 * 60_000) / HOUR;
      const solarDip = Math.max(0, Math.sin(((h - 7) / 10) * Math.PI)) * 45;
      const peak = h >= 17 && h < 21 ? 38 : 0;
      const price = (72 + premium + peak - solarDip + 6 * Math.sin(h / 3) + day * 3).toFixed(2);
      if (price !== previous) points.push(`      <Point>\n        <position>${pos}</position>\n        <price.amount>${price}</price.amount>\n      </Point>`);
      previous = price;
    }
    series.push(`  <TimeSeries>
    <mRID>${series.length + 1}</mRID>
    <auction.type>A01</auction.type>
    <businessType>A62</businessType>
    <in_Domain.mRID codingScheme="A01">${eic}</in_Domain.mRID>
    <out_Domain.mRID codingScheme="A01">${eic}</out_Domain.mRID>
    <contract_MarketAgreement.type>A01</contract_MarketAgreement.type>
    <currency_Unit.name>EUR</currency_Unit.name>
    <price_Measure_Unit.name>MWH</price_Measure_Unit.name>
    <curveType>A03</curveType>
    <Period>
      <timeInterval>
        <start>${isoMinute(start)}</start>
        <end>${isoMinute(end)}</end>
      </timeInterval>
      <resolution>PT15M</resolution>
${points.join('\n')}
    </Period>
  </TimeSeries>`);
    start = end;
  }
  return `<?xml version="1.0" encoding="utf-8"?>
<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">
  <mRID>${eic.replace(/[^A-Z0-9]/g, '').toLowerCase()}${req.query.periodStart}</mRID>
  <revisionNumber>1</revisionNumber>
  <type>A44</type>
  <sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>
  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>
  <receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</receiver_MarketParticipant.mRID>
  <receiver_MarketParticipant.marketRole.type>A33</receiver_MarketParticipant.marketRole.type>
  <createdDateTime>${new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString().slice(0, 19)}Z</createdDateTime>
  <period.timeInterval>
    <start>${isoMinute(firstDay)}</start>
    <end>${isoMinute(start)}</end>
  </period.timeInterval>
${series.join('\n')}
</Publication_MarketDocument>
`;
}

// ---------------------------------------------------------------------------------------------

const stub = await startStubServer({
  routes: [
    { path: '/api.luchtmeetnet.nl/open_api/stations', json: stationPage },
    { path: /^\/api\.luchtmeetnet\.nl\/open_api\/stations\/(NL\d+)$/, json: stationDetail },
    { path: '/api.luchtmeetnet.nl/open_api/measurements', json: measurements },
    { path: '/api.open-meteo.com/v1/forecast', json: forecast },
    { path: '/web-api.tp.entsoe.eu/api', body: prices, headers: { 'content-type': 'text/xml' } },
  ],
});
const recorder = await startRecorder({ upstream: (url) => `${stub.url}/${url.host}${url.pathname}${url.search}` });
try {
  const { records, errors, summary } = await runPipeline(here('pipeline.yaml'), { baseUrl: recorder.rewriteOrigin, env: {} });
  if (errors.length > 0) throw new Error(`the run had errors: ${JSON.stringify(errors)}`);
  const index = await recorder.save(here('fixtures'), {
    pipeline: summary.pipeline,
    note: 'Built by scripts/make-fixtures.ts from a stub that answers in the documented formats of the three APIs. Re-record live with: tributary record pipeline.yaml --to fixtures',
  });
  const topics = Object.entries(summary.topics).map(([t, s]) => `${t}=${s.records}`).join(', ');
  console.log(`fixtures: ${index.exchanges.length} exchanges; ${records.length} records (${topics})`);
} finally {
  await recorder.close();
  await stub.close();
}
