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
export {
  planTopics,
  ensureTopics,
  deadLetterTopic,
  isValidTopicName,
  DEFAULT_PARTITIONS,
  DEFAULT_REPLICATION_FACTOR,
  DEFAULT_DEAD_LETTER_SUFFIX,
  DEFAULT_SCHEMA_TOPIC,
  type TopicPlanInput,
  type EnsureTopicsResult,
} from './topics.js';
export { KafkaSchemaStore, fingerprintKey, type KafkaSchemaStoreOptions } from './schemaTopic.js';
export { murmur2, toPositive, partitionForKey } from '../sinks/kafka/murmur2.js';
export { createKafkaSink, KafkaSink, type KafkaSinkConfig, type KafkaSinkSettings, type KafkaSinkOptions } from '../sinks/kafka.js';
