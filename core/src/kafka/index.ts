/**
 * Kafka transports: the interface and its adapters.
 * @packageDocumentation
 */
export type * from './transport.js';
export { createKafkajsTransport, type KafkajsTransportOptions } from './kafkajs.js';
