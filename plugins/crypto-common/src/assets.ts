/**
 * The `assets` option shared by the CoinGecko, CoinCap and Binance plugins: one list of canonical
 * asset ids with each provider's own id, so that the same list (a YAML anchor) can be given to all
 * three sources and the same `asset` values come out of all three.
 */
import { z } from 'zod';

/**
 * The providers an `assets` entry can name its own id for.
 *
 * @example
 * ```ts
 * import type { CryptoProvider } from '@tributary/crypto-common';
 * const provider: CryptoProvider = 'coincap';
 * ```
 */
export type CryptoProvider = 'coingecko' | 'coincap' | 'binance';

const assetId = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { error: 'expected a lower-case asset id such as bitcoin or usd-coin' });
const providerId = z.union([z.string().min(1), z.literal(false)]);

/**
 * Zod schema of one entry of `assets`: a canonical id, or the id with per-provider ids (`false`:
 * not on that provider). Canonical ids are lower-case letters, digits and `-`.
 *
 * @example
 * ```ts
 * import { assetEntry } from '@tributary/crypto-common';
 * assetEntry.parse({ id: 'bitcoin', binance: 'BTCUSDT' });
 * ```
 */
export const assetEntry = z.union([
  assetId,
  z.strictObject({
    id: assetId,
    coingecko: providerId.optional(),
    coincap: providerId.optional(),
    binance: providerId.optional(),
  }),
]);

/**
 * One entry of the `assets` option: a canonical lower-case id (also used as the provider's id), or
 * `{ id, coingecko?, coincap?, binance? }` with each provider's own id (`false`: not collected
 * from that provider).
 *
 * @example
 * ```ts
 * import type { AssetEntry } from '@tributary/crypto-common';
 * const assets: AssetEntry[] = ['ethereum', { id: 'bitcoin', coingecko: 'bitcoin', coincap: 'bitcoin', binance: 'BTCUSDT' }];
 * ```
 */
export type AssetEntry = z.input<typeof assetEntry>;

/**
 * An asset as one provider knows it: the canonical id and the provider's own id.
 *
 * @example
 * ```ts
 * import type { ProviderAsset } from '@tributary/crypto-common';
 * const btc: ProviderAsset = { id: 'bitcoin', providerId: 'BTCUSDT' };
 * ```
 */
export interface ProviderAsset {
  /** Canonical id: the `asset` field of the records. */
  id: string;
  /** The provider's id or symbol. */
  providerId: string;
}

/**
 * The `assets` option for one provider, as a Zod schema for a plugin's config.
 *
 * It accepts a non-empty list of {@link AssetEntry} and reports, with the index of the entry:
 * canonical ids listed twice, provider ids used by two assets, provider ids that do not match
 * `idPattern`, and a list that leaves every asset out of this provider. Options (no defaults
 * beyond these): `requireExplicit` — each asset must name its id on this provider (Binance
 * symbols cannot be derived from the id); `idPattern` — the provider ids must match it (default:
 * no check); `idHint` — an example id for the messages (default `bitcoin`, or `...` in the
 * missing-id message).
 *
 * @example
 * ```ts
 * import { z } from 'zod';
 * import { assetsOption } from '@tributary/crypto-common';
 * const configSchema = z.strictObject({ assets: assetsOption('binance', { requireExplicit: true, idPattern: /^[A-Z0-9_.-]{2,30}$/, idHint: 'BTCUSDT' }) });
 * ```
 */
export function assetsOption(provider: CryptoProvider, options: { requireExplicit: boolean; idPattern?: RegExp; idHint?: string }) {
  return z
    .array(assetEntry)
    .min(1, { error: 'expected at least one asset' })
    .superRefine((entries, ctx) => {
      const ids = new Map<string, number>();
      const providerIds = new Map<string, number>();
      let excluded = 0;
      entries.forEach((entry, i) => {
        const id = typeof entry === 'string' ? entry : entry.id;
        const own = typeof entry === 'string' ? undefined : entry[provider];
        if (ids.has(id)) ctx.addIssue({ code: 'custom', path: [i], message: `asset ${JSON.stringify(id)} is listed twice (also at index ${ids.get(id)})` });
        ids.set(id, i);
        if (own === false) {
          excluded++;
          return;
        }
        if (own === undefined && options.requireExplicit) {
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `asset ${JSON.stringify(id)} has no ${provider} id: write { id: ${id}, ${provider}: ${options.idHint ?? '...'} }, or ${provider}: false to leave it out of this source`,
          });
          return;
        }
        const pid = own ?? id;
        if (options.idPattern && !options.idPattern.test(pid)) {
          ctx.addIssue({ code: 'custom', path: typeof entry === 'string' ? [i] : [i, provider], message: `expected a ${provider} id such as ${options.idHint ?? 'bitcoin'}, got ${JSON.stringify(pid)}` });
        }
        if (providerIds.has(pid)) {
          ctx.addIssue({ code: 'custom', path: [i], message: `the ${provider} id ${JSON.stringify(pid)} is used by two assets (also at index ${providerIds.get(pid)})` });
        }
        providerIds.set(pid, i);
      });
      if (entries.length > 0 && excluded === entries.length) {
        ctx.addIssue({ code: 'custom', path: [], message: `every asset is left out of ${provider} (${provider}: false); expected at least one` });
      }
    });
}

/**
 * The assets a provider collects, in list order, with their ids on that provider: a plain id is
 * used as is, an entry's own id for the provider wins, and entries with `false` are left out.
 *
 * @example
 * ```ts
 * import { providerAssets } from '@tributary/crypto-common';
 * providerAssets(['ethereum', { id: 'bitcoin', binance: 'BTCUSDT' }], 'binance');
 * // [{ id: 'ethereum', providerId: 'ethereum' }, { id: 'bitcoin', providerId: 'BTCUSDT' }]
 * ```
 */
export function providerAssets(entries: readonly AssetEntry[], provider: CryptoProvider): ProviderAsset[] {
  const out: ProviderAsset[] = [];
  for (const entry of entries) {
    if (typeof entry === 'string') {
      out.push({ id: entry, providerId: entry });
      continue;
    }
    const own = entry[provider];
    if (own === false) continue;
    out.push({ id: entry.id, providerId: own ?? entry.id });
  }
  return out;
}

/**
 * Splits a list into consecutive chunks of at most `size` items (the last one may be shorter).
 *
 * @example
 * ```ts
 * import { chunks } from '@tributary/crypto-common';
 * chunks([1, 2, 3, 4, 5], 2); // [[1, 2], [3, 4], [5]]
 * ```
 */
export function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
