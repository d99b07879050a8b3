/**
 * The shared crypto price record. The same schema (byte for byte) is declared by
 * @tributary/plugin-coingecko (the canonical copy), @tributary/plugin-coincap and
 * @tributary/plugin-binance, so that a multi-source group of the three writes one topic. Each
 * of the other two packages has a test that compares its copy with this one.
 */

/**
 * Avro schema of the `prices` stream: `tributary.crypto.Price`.
 *
 * @example
 * ```ts
 * import { priceSchema } from '@tributary/plugin-coingecko';
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
