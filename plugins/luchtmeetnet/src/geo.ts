/** @internal Great-circle distances and the choice of the nearest station. */
import type { StationInfo } from './api.js';

const EARTH_RADIUS_KM = 6371.0088;

/**
 * @internal Distance in kilometres between two WGS84 points along the earth's surface (haversine
 * formula, mean earth radius).
 */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** @internal A chosen station and its distance from the configured point. */
export interface NearestStation {
  station: StationInfo;
  distanceKm: number;
}

/**
 * @internal The station nearest to (`latitude`, `longitude`) among those with coordinates.
 *
 * With `components`, stations that measure all of them are preferred; when none does, the nearest
 * station that measures at least one of them is taken. Components compare without case.
 * Returns `undefined` when no station qualifies.
 */
export function nearestStation(stations: readonly StationInfo[], latitude: number, longitude: number, components?: readonly string[]): NearestStation | undefined {
  const located = stations.filter((s) => s.latitude !== null && s.longitude !== null);
  let candidates = located;
  if (components && components.length > 0) {
    const wanted = components.map((c) => c.toUpperCase());
    const measures = (s: StationInfo): Set<string> => new Set(s.components.map((c) => c.toUpperCase()));
    const all = located.filter((s) => {
      const m = measures(s);
      return wanted.every((c) => m.has(c));
    });
    candidates = all.length > 0 ? all : located.filter((s) => wanted.some((c) => measures(s).has(c)));
  }
  let best: NearestStation | undefined;
  for (const station of candidates) {
    const distanceKm = haversineKm(latitude, longitude, station.latitude!, station.longitude!);
    if (!best || distanceKm < best.distanceKm || (distanceKm === best.distanceKm && station.number < best.station.number)) {
      best = { station, distanceKm };
    }
  }
  return best;
}
