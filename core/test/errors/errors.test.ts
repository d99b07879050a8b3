import { expect } from 'chai';
import {
  CircuitOpenError,
  HttpError,
  TributaryError,
  isCircuitOpenError,
  isHttpError,
  isRetriable,
  isTributaryError,
  parseRetryAfter,
} from '../../src/errors/index.js';

describe('errors', () => {
  it('HttpError is retriable for 429 and 5xx, not for other 4xx', () => {
    expect(new HttpError({ status: 429 }).retriable).to.equal(true);
    expect(new HttpError({ status: 503 }).retriable).to.equal(true);
    expect(new HttpError({ status: 408 }).retriable).to.equal(true);
    expect(new HttpError({ status: 404 }).retriable).to.equal(false);
    expect(new HttpError({ status: 400 }).code).to.equal('ERR_HTTP');
  });

  it('brand guards recognise errors across copies (plain objects carrying the brand)', () => {
    const err = new CircuitOpenError('api', 1000);
    expect(isCircuitOpenError(err)).to.equal(true);
    expect(isTributaryError(err)).to.equal(true);
    expect(isHttpError(err)).to.equal(false);
    const foreign = Object.create(null) as Record<symbol, unknown>;
    foreign[Symbol.for('tributary.error.circuit-open')] = true;
    expect(isCircuitOpenError(foreign)).to.equal(true);
    expect(isCircuitOpenError(new Error('x'))).to.equal(false);
  });

  it('isRetriable rejects open circuits, client errors and retriable:false, from any client', () => {
    expect(isRetriable(new CircuitOpenError('a', 1))).to.equal(false);
    expect(isRetriable({ status: 404 })).to.equal(false);
    expect(isRetriable({ statusCode: 500 })).to.equal(true);
    expect(isRetriable(new TributaryError('x', { retriable: false }))).to.equal(false);
    expect(isRetriable(new Error('boom'))).to.equal(true);
  });

  it('parseRetryAfter reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).to.equal(3000);
    expect(parseRetryAfter('1.5')).to.equal(1500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).to.equal(10_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).to.equal(0);
    expect(parseRetryAfter('soon')).to.equal(undefined);
    expect(parseRetryAfter(undefined)).to.equal(undefined);
  });

  it('keeps the cause', () => {
    const cause = new Error('socket hang up');
    expect(new HttpError({ status: 502, cause }).cause).to.equal(cause);
  });
});
