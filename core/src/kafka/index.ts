/**
 * Kafka transports: the interface and its adapters.
 * @packageDocumentation
 */
export type * from './transport.js';
export { createKafkajsTransport, type KafkajsTransportOptions } from './kafkajs.js';
export {
  createConfluentTransport,
  confluentAvailability,
  CONFLUENT_PACKAGE,
  type ConfluentTransportOptions,
  type ConfluentAvailability,
} from './confluent.js';
