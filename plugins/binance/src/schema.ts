/**
 * The shared crypto price record: a copy of the canonical schema of @tributary/plugin-coingecko,
 * kept identical (a test compares the two) so that CoinGecko, CoinCap and Binance sources can
 * write one topic. Copied rather than imported, so that this package has no run-time dependency
 * on the other one.
 */

/**
 * Avro schema of the `prices` stream: `tributary.crypto.Price`.
 *
 * @example
 * ```ts
 * import { priceSchema } from '@tributary/plugin-binance';
 * console.log(`${priceSchema.namespace}.${priceSchema.name}`); // tributary.crypto.Price
 * ```
 */
export const priceSchema = {
  type: 'record',
  name: 'Price',
  namespace: 'tributary.crypto',
  doc: 'The price of one crypto asset as reported by one provider (CoinGecko, CoinCap or Binance).',
  fields: [
    { name: 'asset', type: 'string', doc: 'Canonical lower-case asset id, the same for every provider (e.g. bitcoin).' },
    { name: 'quote_currency', type: 'string', doc: 'Lower-case code of the currency the price is in (e.g. usd).' },
    { name: 'price', type: 'double', doc: 'Price of one unit of the asset, in quote_currency.' },
    { name: 'volume_24h', type: ['null', 'double'], default: null, doc: 'Traded volume of the last 24 hours, in quote_currency; null when the provider gives none.' },
    {
      name: 'observed_at',
      type: { type: 'long', logicalType: 'timestamp-millis' },
      doc: "When the price was current: the provider's own timestamp when it sends one, else the time of the fetch.",
    },
    { name: 'provider', type: 'string', doc: 'Where the price comes from: coingecko, coincap or binance.' },
  ],
} as const;
