/**
 * `@tributary/crypto-common`: what the crypto price plugins (@tributary/plugin-coingecko,
 * @tributary/plugin-coincap, @tributary/plugin-binance) share: the `tributary.crypto.Price`
 * schema and `prices` stream, the `assets` option with its per-provider ids, the batched
 * collection cycle, and error helpers.
 * @packageDocumentation
 */
export { priceSchema, priceStream } from './schema.js';
export type { Price, PriceRecord } from './schema.js';
export { assetEntry, assetsOption, chunks, providerAssets } from './assets.js';
export type { AssetEntry, CryptoProvider, ProviderAsset } from './assets.js';
export { collectInBatches } from './collect.js';
export type { BatchCycleOptions } from './collect.js';
export { decimal, describe, isObject, parseBody, withDetail } from './errors.js';
