/**
 * @internal Short names of common bidding zones and their EIC codes (Energy Identification Codes),
 * as listed in the Transparency Platform's "Area List with Energy Identification Code (EIC)".
 */
export const ZONES: Readonly<Record<string, string>> = Object.freeze({
  AT: '10YAT-APG------L',
  BE: '10YBE----------2',
  BG: '10YCA-BULGARIA-R',
  CH: '10YCH-SWISSGRIDZ',
  CZ: '10YCZ-CEPS-----N',
  DE_LU: '10Y1001A1001A82H',
  DK_1: '10YDK-1--------W',
  DK_2: '10YDK-2--------M',
  EE: '10Y1001A1001A39I',
  ES: '10YES-REE------0',
  FI: '10YFI-1--------U',
  FR: '10YFR-RTE------C',
  GR: '10YGR-HTSO-----Y',
  HR: '10YHR-HEP------M',
  HU: '10YHU-MAVIR----U',
  IE_SEM: '10Y1001A1001A59C',
  LT: '10YLT-1001A0008Q',
  LV: '10YLV-1001A00074',
  NL: '10YNL----------L',
  NO_1: '10YNO-1--------2',
  NO_2: '10YNO-2--------T',
  NO_3: '10YNO-3--------J',
  NO_4: '10YNO-4--------9',
  NO_5: '10Y1001A1001A48H',
  PL: '10YPL-AREA-----S',
  PT: '10YPT-REN------W',
  RO: '10YRO-TEL------P',
  SE_1: '10Y1001A1001A44P',
  SE_2: '10Y1001A1001A45N',
  SE_3: '10Y1001A1001A46L',
  SE_4: '10Y1001A1001A47J',
  SI: '10YSI-ELES-----O',
  SK: '10YSK-SEPS-----K',
});

/** @internal An EIC code: 16 characters, upper-case letters, digits and `-`. */
export const EIC = /^[0-9A-Z][0-9A-Z-]{14}[0-9A-Z]$/;

/** @internal The EIC code of a zone given by short name or by EIC code; `undefined` when it is neither. */
export function zoneCode(zone: string): string | undefined {
  const alias = ZONES[zone.toUpperCase()];
  if (alias) return alias;
  return EIC.test(zone) ? zone : undefined;
}
