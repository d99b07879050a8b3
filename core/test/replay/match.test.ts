import { expect } from 'chai';
import { RequestMatcher, parseTimeLike, timeDistance } from '../../src/replay/match.js';

describe('replay/match', () => {
  it('reads the dates and times that loose matching replaces', () => {
    const keys = new RequestMatcher().keys('GET', 'https://api.example.org/intensity/2025-01-01T00:00Z/2025-01-02T00:00Z?from=20250101&x=1');
    expect(keys.loose).to.equal(new RequestMatcher().keys('GET', 'https://api.example.org/intensity/2026-11-25T12:00Z/2026-11-25T18:00Z?from=20261125&x=1').loose);
    expect(keys.times).to.deep.equal([Date.UTC(2025, 0, 1), Date.UTC(2025, 0, 2), Date.UTC(2025, 0, 1)]);
    expect(parseTimeLike('1735689600')).to.equal(Date.UTC(2025, 0, 1));
    expect(parseTimeLike('202501010130')).to.equal(Date.UTC(2025, 0, 1, 1, 30));
    expect(parseTimeLike('2025-01-01T10')).to.equal(Date.UTC(2025, 0, 1, 10));
  });

  it('prefers the recording with the same window span over a closer one with another span', () => {
    const m = new RequestMatcher();
    const now = m.keys('GET', 'https://a.example/i/2026-11-26T00:00Z/2026-11-26T06:00Z').times; // a 6-hour window, tomorrow
    const liveRecorded = m.keys('GET', 'https://a.example/i/2026-11-25T06:00Z/2026-11-25T12:00Z').times; // 6 hours, a day earlier
    const dayRecorded = m.keys('GET', 'https://a.example/i/2026-11-25T00:00Z/2026-11-26T00:00Z').times; // a whole day
    expect(timeDistance(now, liveRecorded)).to.be.below(timeDistance(now, dayRecorded));
    const closerLive = m.keys('GET', 'https://a.example/i/2026-11-25T18:00Z/2026-11-26T00:00Z').times;
    expect(timeDistance(now, closerLive)).to.be.below(timeDistance(now, liveRecorded));
    expect(timeDistance([1], [1, 2])).to.equal(Number.POSITIVE_INFINITY);
  });
});
