/**
 * @internal Reading ENTSO-E Transparency Platform documents with a real XML parser.
 *
 * Two document types answer a price query (documentType A44; IEC 62325-451-3 publication document
 * 7.x and IEC 62325-451-1 acknowledgement document 7.0):
 *
 * - `Publication_MarketDocument` → `TimeSeries` (currency, unit, curve type, optional contract type
 *   and auction sequence) → `Period` (`timeInterval` start/end in UTC, `resolution` such as
 *   `PT60M`, `PT15M`) → `Point` (`position`, `price.amount`). Position `n` covers the interval
 *   that starts `n - 1` resolutions after the period start. Curve type A03 leaves out the positions
 *   whose price equals the previous one; they are filled here, up to the period's end.
 * - `Acknowledgement_MarketDocument` → `Reason` (`code`, `text`): the request was not answered
 *   with data; code 999 with "No matching data found" means there is none for the period.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** @internal One price of one interval. */
export interface PricePoint {
  /** Start of the interval (epoch ms). */
  at: number;
  price: number;
  /** Length of the interval in minutes (the period's resolution). */
  resolutionMinutes: number;
}

/** @internal The points of one `TimeSeries`, with what describes them. */
export interface PriceSeries {
  /** `in_Domain.mRID` of the series (an EIC code), when present. */
  zone: string | undefined;
  currency: string;
  unit: string;
  curveType: string;
  /** `contract_MarketAgreement.type` (A01 day-ahead, A07 intraday), when present. */
  contractType: string | null;
  /** `classificationSequence_AttributeInstanceComponent.position`, when present. */
  sequence: number | null;
  points: PricePoint[];
}

/** @internal One `Reason` of an acknowledgement document. */
export interface AckReason {
  code: string;
  text: string;
}

/** @internal What a document says: prices, or an acknowledgement with its reasons. */
export type EntsoeDocument = { kind: 'prices'; series: PriceSeries[] } | { kind: 'acknowledgement'; reasons: AckReason[] };

/** @internal A document that is not XML, or not one of the expected documents. */
export class DocumentError extends Error {
  override name = 'DocumentError';
}

const ARRAYS = new Set(['TimeSeries', 'Period', 'Point', 'Reason']);

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (tagName) => ARRAYS.has(tagName),
});

/** @internal Parses a price or acknowledgement document; throws a {@link DocumentError} saying what is wrong. */
export function parseDocument(xml: string): EntsoeDocument {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new DocumentError(`the answer is not well-formed XML (line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg})`);
  }
  const root = parser.parse(xml) as Record<string, unknown>;
  if (isObject(root.Acknowledgement_MarketDocument)) {
    const reasons = asArray(root.Acknowledgement_MarketDocument.Reason)
      .filter(isObject)
      .map((r) => ({ code: text(r.code) ?? '', text: text(r.text) ?? '' }));
    return { kind: 'acknowledgement', reasons };
  }
  const doc = root.Publication_MarketDocument;
  if (doc === undefined) {
    const names = Object.keys(root).filter((k) => !k.startsWith('?'));
    throw new DocumentError(`expected a Publication_MarketDocument or an Acknowledgement_MarketDocument, got ${names.length ? names.map((n) => `<${n}>`).join(', ') : 'no element'}`);
  }
  // A document without any TimeSeries parses to an empty string or an object without them.
  const series = isObject(doc) ? asArray(doc.TimeSeries).map((ts, i) => parseSeries(ts, i + 1)) : [];
  return { kind: 'prices', series };
}

/** @internal True when an acknowledgement means "there is no data for this query". */
export function isNoData(reasons: readonly AckReason[]): boolean {
  return reasons.some((r) => /no matching data found/i.test(r.text));
}

function parseSeries(value: unknown, n: number): PriceSeries {
  const where = `TimeSeries ${n}`;
  if (!isObject(value)) throw new DocumentError(`${where} is empty`);
  const currency = text(value['currency_Unit.name']);
  const unit = text(value['price_Measure_Unit.name']);
  if (!currency) throw new DocumentError(`${where} has no currency_Unit.name`);
  if (!unit) throw new DocumentError(`${where} has no price_Measure_Unit.name`);
  const sequenceText = text(value['classificationSequence_AttributeInstanceComponent.position']);
  let sequence: number | null = null;
  if (sequenceText !== undefined) {
    sequence = Number(sequenceText);
    if (!Number.isInteger(sequence)) throw new DocumentError(`${where} has a classificationSequence position that is not a whole number: ${JSON.stringify(sequenceText)}`);
  }
  const curveType = text(value.curveType) ?? 'A01';
  const periods = asArray(value.Period);
  const points: PricePoint[] = [];
  periods.forEach((period, i) => points.push(...parsePeriod(period, curveType, `${where}, Period ${i + 1}`)));
  return {
    zone: text(value['in_Domain.mRID']),
    currency,
    unit,
    curveType,
    contractType: text(value['contract_MarketAgreement.type']) ?? null,
    sequence,
    points,
  };
}

function parsePeriod(value: unknown, curveType: string, where: string): PricePoint[] {
  if (!isObject(value)) throw new DocumentError(`${where} is empty`);
  const interval = isObject(value.timeInterval) ? value.timeInterval : {};
  const startText = text(interval.start);
  const endText = text(interval.end);
  const start = startText === undefined ? NaN : Date.parse(startText);
  const end = endText === undefined ? NaN : Date.parse(endText);
  if (Number.isNaN(start) || Number.isNaN(end) || end <= start) {
    throw new DocumentError(`${where} has no valid timeInterval (start ${JSON.stringify(startText)}, end ${JSON.stringify(endText)})`);
  }
  const resolutionText = text(value.resolution);
  const resolutionMinutes = resolutionText === undefined ? undefined : durationMinutes(resolutionText);
  if (resolutionMinutes === undefined) throw new DocumentError(`${where} has an unsupported resolution ${JSON.stringify(resolutionText)} (expected e.g. PT15M, PT30M, PT60M)`);
  const stepMs = resolutionMinutes * 60_000;
  const slots = (end - start) / stepMs;
  if (!Number.isInteger(slots)) throw new DocumentError(`${where}: the interval ${startText}/${endText} is not a whole number of ${resolutionText} steps`);

  const byPosition = new Map<number, number>();
  for (const point of asArray(value.Point)) {
    if (!isObject(point)) throw new DocumentError(`${where} has an empty Point`);
    const positionText = text(point.position);
    const priceText = text(point['price.amount']);
    const position = Number(positionText);
    const price = Number(priceText);
    if (positionText === undefined || !Number.isInteger(position) || position < 1 || position > slots) {
      throw new DocumentError(`${where} has a Point with position ${JSON.stringify(positionText)} outside 1..${slots}`);
    }
    if (priceText === undefined || priceText === '' || !Number.isFinite(price)) {
      throw new DocumentError(`${where} has a Point (position ${position}) whose price.amount is not a number: ${JSON.stringify(priceText)}`);
    }
    byPosition.set(position, price);
  }
  const points: PricePoint[] = [];
  let previous: number | undefined;
  for (let position = 1; position <= slots; position++) {
    let price = byPosition.get(position);
    // A03 ("variable sized block"): a missing position repeats the previous price.
    if (price === undefined && curveType === 'A03') price = previous;
    if (price === undefined) continue;
    previous = price;
    points.push({ at: start + (position - 1) * stepMs, price, resolutionMinutes });
  }
  return points;
}

/** `PT15M` → 15, `PT1H` → 60, `P1D` → 1440; `undefined` for anything else. */
function durationMinutes(iso: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(iso);
  if (!m || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) return undefined;
  const minutes = Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  return minutes > 0 ? minutes : undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number') return String(value);
  if (isObject(value) && typeof value['#text'] === 'string') return value['#text'].trim() || undefined;
  return undefined;
}

function asArray(value: unknown): unknown[] {
  if (value === undefined || value === null || value === '') return [];
  return Array.isArray(value) ? value : [value];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
