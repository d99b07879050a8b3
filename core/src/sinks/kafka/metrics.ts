import type { Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../observability/metrics.js';

/** @internal The Kafka sink's Prometheus metrics (get-or-create: several sinks share them). */
export function kafkaSinkMetrics(registry: Registry) {
  return {
    records: counter(registry, {
      name: 'tributary_kafka_records_sent_total',
      help: 'Records acknowledged by Kafka, by topic.',
      labelNames: ['topic'] as const,
    }),
    bytes: counter(registry, {
      name: 'tributary_kafka_bytes_sent_total',
      help: 'Bytes of keys, values and headers acknowledged by Kafka, by topic.',
      labelNames: ['topic'] as const,
    }),
    batches: counter(registry, {
      name: 'tributary_kafka_batches_total',
      help: 'Produce requests acknowledged by Kafka (one per topic partition and batch), by topic.',
      labelNames: ['topic'] as const,
    }),
    errors: counter(registry, {
      name: 'tributary_kafka_send_errors_total',
      help: 'Failed produce requests (retried or given up), by topic.',
      labelNames: ['topic'] as const,
    }),
    duration: histogram(registry, {
      name: 'tributary_kafka_send_duration_seconds',
      help: 'Time from a produce request until Kafka acknowledged it (acks=all), by topic.',
      labelNames: ['topic'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    bufferRecords: gauge(registry, {
      name: 'tributary_kafka_buffer_records',
      help: 'Records in the Kafka sink buffer (waiting or in flight, not yet acknowledged).',
    }),
    bufferBytes: gauge(registry, {
      name: 'tributary_kafka_buffer_bytes',
      help: 'Bytes in the Kafka sink buffer (waiting or in flight, not yet acknowledged).',
    }),
  };
}

/** @internal */
export type KafkaSinkMetrics = ReturnType<typeof kafkaSinkMetrics>;
