/**
 * The one `tributary.crypto.Price` schema and `prices` stream of the three crypto plugins, and
 * the shared helpers they are built on.
 */
import { expect } from 'chai';
import { lastValueFrom, of, throwError, toArray } from 'rxjs';
import { HttpError, ResponseError, isHttpError } from '@tributary/core';
import { assetsOption, chunks, collectInBatches, decimal, describe as describeValue, priceSchema, priceStream, providerAssets, withDetail } from '@tributary/crypto-common';
import type { ProviderAsset } from '@tributary/crypto-common';
import coingecko, { priceSchema as coingeckoSchema } from '@tributary/plugin-coingecko';
import coincap, { priceSchema as coincapSchema } from '@tributary/plugin-coincap';
import binance, { priceSchema as binanceSchema } from '@tributary/plugin-binance';

describe('@tributary/crypto-common', () => {
  describe('one Price schema for all three plugins (one topic)', () => {
    it('is the very schema object of the prices stream of CoinGecko, CoinCap and Binance', () => {
      for (const plugin of [coingecko, coincap, binance]) {
        expect(plugin.streams.prices.schema, plugin.name).to.equal(priceSchema);
        expect(plugin.streams.prices.key, plugin.name).to.equal('asset');
      }
      expect([coingeckoSchema, coincapSchema, binanceSchema]).to.deep.equal([priceSchema, priceSchema, priceSchema]);
      expect(coingeckoSchema).to.equal(priceSchema);
      expect(coincapSchema).to.equal(priceSchema);
      expect(binanceSchema).to.equal(priceSchema);
    });

    it('is tributary.crypto.Price keyed by asset', () => {
      expect(`${priceSchema.namespace}.${priceSchema.name}`).to.equal('tributary.crypto.Price');
      expect(priceSchema.fields.map((f) => f.name)).to.deep.equal(['asset', 'quote_currency', 'price', 'volume_24h', 'observed_at', 'provider']);
      expect(priceStream.schema).to.equal(priceSchema);
      expect(priceStream.key).to.equal('asset');
    });
  });

  describe('assets', () => {
    it('maps canonical ids to provider ids and leaves out false', () => {
      const entries = ['ethereum', { id: 'bitcoin', binance: 'BTCUSDT' }, { id: 'tether', binance: false as const }];
      expect(providerAssets(entries, 'binance')).to.deep.equal([
        { id: 'ethereum', providerId: 'ethereum' },
        { id: 'bitcoin', providerId: 'BTCUSDT' },
      ]);
      expect(providerAssets(entries, 'coincap').map((a) => a.providerId)).to.deep.equal(['ethereum', 'bitcoin', 'tether']);
    });

    it('rejects duplicates, missing explicit ids and a list with nothing for the provider', () => {
      const option = assetsOption('binance', { requireExplicit: true, idPattern: /^[A-Z0-9_.-]{2,30}$/, idHint: 'BTCUSDT' });
      const messages = (v: unknown): string[] => {
        const r = option.safeParse(v);
        return r.success ? [] : r.error.issues.map((i) => i.message);
      };
      expect(messages([{ id: 'bitcoin', binance: 'BTCUSDT' }])).to.deep.equal([]);
      expect(messages(['bitcoin']).join()).to.include('asset "bitcoin" has no binance id');
      expect(messages([{ id: 'a', binance: 'XUSDT' }, { id: 'a', binance: 'YUSDT' }]).join()).to.include('is listed twice');
      expect(messages([{ id: 'a', binance: 'XUSDT' }, { id: 'b', binance: 'XUSDT' }]).join()).to.include('the binance id "XUSDT" is used by two assets');
      expect(messages([{ id: 'a', binance: 'xusdt' }]).join()).to.include('expected a binance id such as BTCUSDT');
      expect(messages([{ id: 'a', binance: false }]).join()).to.include('every asset is left out of binance');
    });

    it('splits lists into chunks', () => {
      expect(chunks([1, 2, 3, 4, 5], 2)).to.deep.equal([[1, 2], [3, 4], [5]]);
      expect(chunks([], 3)).to.deep.equal([]);
    });
  });

  describe('errors and values', () => {
    it('withDetail keeps status, retryAfterMs and source, and adds the text', () => {
      const err = new HttpError({ status: 429, url: 'https://x.example/p', retryAfterMs: 5000, source: 's1' });
      const out = withDetail(err, 'slow down');
      expect(isHttpError(out)).to.equal(true);
      expect(out.status).to.equal(429);
      expect(out.retryAfterMs).to.equal(5000);
      expect(out.source).to.equal('s1');
      expect(out.message).to.equal('HTTP 429 from source "s1" https://x.example/p: slow down');
      expect(withDetail(err, undefined)).to.equal(err);
    });

    it('describe and decimal', () => {
      expect(describeValue({ data: [] })).to.equal('an object with keys data');
      expect(describeValue([1, 2])).to.equal('a list of 2');
      expect(decimal('96243.89')).to.equal(96243.89);
      expect(decimal(' ')).to.equal(undefined);
      expect(decimal('n/a')).to.equal(undefined);
      expect(decimal(Infinity)).to.equal(undefined);
    });
  });

  describe('collectInBatches', () => {
    const assets: ProviderAsset[] = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, providerId: id.toUpperCase() }));
    const signal = new AbortController().signal;

    it('requests the batches in order and emits their records; reports the missing ids', async () => {
      const batches: string[][] = [];
      const warned: string[][] = [];
      const records = await lastValueFrom(
        collectInBatches(
          {
            assets,
            batchSize: 2,
            request: (batch) => {
              batches.push(batch.map((a) => a.providerId));
              return of(batch.filter((a) => a.id !== 'c').map((a) => a.providerId));
            },
            toRecords: (body, batch, _at, missing) => {
              const got = body as string[];
              for (const a of batch) if (!got.includes(a.providerId)) missing.push(a.providerId);
              return batch.filter((a) => got.includes(a.providerId)).map((a) => a.id);
            },
            onMissing: (ids) => warned.push([...ids]),
            noRecordsError: () => new Error('none'),
          },
          signal,
        ).pipe(toArray()),
      );
      expect(batches).to.deep.equal([['A', 'B'], ['C', 'D'], ['E']]);
      expect(records).to.deep.equal(['a', 'b', 'd', 'e']);
      expect(warned).to.deep.equal([['C']]);
    });

    it('fails with noRecordsError (first five ids listed) when nothing came back', async () => {
      const six = [...assets, { id: 'f', providerId: 'F' }];
      const err = await lastValueFrom(
        collectInBatches(
          {
            assets: six,
            batchSize: 10,
            request: () => of({}),
            toRecords: (_b, batch, _at, missing) => {
              missing.push(...batch.map((a) => a.providerId));
              return [];
            },
            onMissing: () => undefined,
            noRecordsError: (listed) => new ResponseError(`no price (${listed})`, { source: 's' }),
          },
          signal,
        ),
      ).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ResponseError);
      expect((err as Error).message).to.include('no price (A, B, C, D, E, …)');
    });

    it('passes HTTP errors through explainHttpError and other errors untouched', async () => {
      const run = (err: Error) =>
        lastValueFrom(
          collectInBatches(
            {
              assets,
              batchSize: 5,
              request: () => throwError(() => err),
              explainHttpError: (e) => withDetail(e, 'explained'),
              toRecords: () => [],
              onMissing: () => undefined,
              noRecordsError: () => new Error('none'),
            },
            signal,
          ),
        ).catch((e: unknown) => e as Error);
      const http = await run(new HttpError({ status: 503 }));
      expect(http.message).to.equal('HTTP 503: explained');
      const other = new TypeError('boom');
      expect(await run(other)).to.equal(other);
    });
  });
});
