/**
 * Topic planning for the Kafka sink: which topics a pipeline needs (data topics, their
 * dead-letter topics, the schema topic of the registry-less mode), with which settings, and
 * creating the missing ones explicitly. Tributary never relies on broker auto-creation.
 */
import { ConfigError } from '../errors/ConfigError.js';
import type { TopicConfig } from '../pipeline/types.js';
import type { KafkaAdmin, TopicDefinition } from './transport.js';

/** Partitions of a topic the sink creates when the pipeline says nothing. */
export const DEFAULT_PARTITIONS = 1;
/** Replication factor of a topic the sink creates when the pipeline says nothing. */
export const DEFAULT_REPLICATION_FACTOR = 1;
/** Dead-letter topic of `t` is `t` + this suffix unless the pipeline says otherwise. */
export const DEFAULT_DEAD_LETTER_SUFFIX = '.dlq';
/** The compacted topic that holds writer schemas in single-object mode, keyed by fingerprint. */
export const DEFAULT_SCHEMA_TOPIC = '_tributary_schemas';

const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * Whether `name` is a legal Kafka topic name: 1 to 249 of `[A-Za-z0-9._-]`, neither `.` nor `..`.
 *
 * @example
 * ```ts
 * import { isValidTopicName } from '@tributary/core';
 * isValidTopicName('energy.prices'); // true
 * isValidTopicName('prices/de');     // false
 * ```
 */
export function isValidTopicName(name: unknown): name is string {
  return typeof name === 'string' && TOPIC_RE.test(name) && name !== '.' && name !== '..';
}

/**
 * The dead-letter topic of a topic: `topic + suffix` (default `.dlq`).
 *
 * @example
 * ```ts
 * import { deadLetterTopic } from '@tributary/core';
 * deadLetterTopic('energy.prices'); // 'energy.prices.dlq'
 * ```
 */
export function deadLetterTopic(topic: string, suffix: string = DEFAULT_DEAD_LETTER_SUFFIX): string {
  return `${topic}${suffix}`;
}

/**
 * Topic configs every data topic gets unless the pipeline sets them. Records carry their event
 * time as the Kafka timestamp, and collectors fetch forecasts and day-ahead prices whose event time
 * lies hours or days ahead; Kafka 4 rejects timestamps more than one hour in the future by default
 * (`message.timestamp.after.max.ms`, KIP-1030), so data topics lift that limit, as Kafka 3 did.
 */
export const DATA_TOPIC_DEFAULTS: Readonly<Record<string, string>> = { 'message.timestamp.after.max.ms': '9223372036854775807' };

/** What {@link planTopics} needs. */
export interface TopicPlanInput {
  /** Data topics, in the order the pipeline announced them (duplicates are ignored). */
  topics: readonly string[];
  /** Per-topic settings from the pipeline (`sink.topics`), for data, dead-letter and schema topics. */
  settings?: Readonly<Record<string, Partial<TopicConfig>>>;
  /** Dead-letter suffix. Default `.dlq`. */
  deadLetterSuffix?: string;
  /** The schema topic to create as well (single-object mode), or none. */
  schemaTopic?: string;
}

/**
 * Lists the topics a Kafka sink needs, with the settings they get when created:
 *
 * - each data topic: `settings[topic]`, else 1 partition, replication factor 1, and
 *   `message.timestamp.after.max.ms` unlimited (see {@link DATA_TOPIC_DEFAULTS});
 * - its dead-letter topic `<topic><suffix>`: `settings[dlq]`, else 1 partition and the data
 *   topic's replication factor;
 * - the schema topic (when given): `settings[schemaTopic]`, else 1 partition, the highest
 *   replication factor of the data topics, and always `cleanup.policy=compact` (a schema must
 *   never expire while data written with it exists).
 *
 * Throws a `ConfigError` naming every bad topic name or setting.
 *
 * @example
 * ```ts
 * import { planTopics } from '@tributary/core';
 * planTopics({ topics: ['prices'], settings: { prices: { partitions: 6 } } });
 * // [{ topic: 'prices', partitions: 6, replicationFactor: 1, config: { 'message.timestamp.after.max.ms': '9223372036854775807' } },
 * //  { topic: 'prices.dlq', partitions: 1, replicationFactor: 1, config: {} }]
 * ```
 */
export function planTopics(input: TopicPlanInput): TopicDefinition[] {
  const settings = input.settings ?? {};
  const suffix = input.deadLetterSuffix ?? DEFAULT_DEAD_LETTER_SUFFIX;
  const issues: { path: string; message: string }[] = [];
  const out = new Map<string, TopicDefinition>();
  const define = (
    topic: string,
    fallback: { partitions: number; replicationFactor: number },
    forced: Record<string, string> = {},
    defaults: Record<string, string> = {},
  ): TopicDefinition => {
    if (!isValidTopicName(topic)) issues.push({ path: `topics.${topic}`, message: 'not a legal Kafka topic name (1 to 249 letters, digits, ".", "_" and "-")' });
    const s = settings[topic] ?? {};
    const partitions = s.partitions ?? fallback.partitions;
    const replicationFactor = s.replicationFactor ?? fallback.replicationFactor;
    if (!Number.isInteger(partitions) || partitions < 1) issues.push({ path: `topics.${topic}.partitions`, message: `expected a positive integer, got ${String(partitions)}` });
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
      issues.push({ path: `topics.${topic}.replicationFactor`, message: `expected a positive integer, got ${String(replicationFactor)}` });
    }
    const def: TopicDefinition = { topic, partitions, replicationFactor, config: { ...defaults, ...(s.config ?? {}), ...forced } };
    out.set(topic, def);
    return def;
  };
  let maxReplication = DEFAULT_REPLICATION_FACTOR;
  for (const topic of input.topics) {
    if (out.has(topic)) continue;
    const def = define(topic, { partitions: DEFAULT_PARTITIONS, replicationFactor: DEFAULT_REPLICATION_FACTOR }, {}, DATA_TOPIC_DEFAULTS);
    maxReplication = Math.max(maxReplication, def.replicationFactor);
    const dlq = deadLetterTopic(topic, suffix);
    if (!out.has(dlq)) define(dlq, { partitions: 1, replicationFactor: def.replicationFactor });
  }
  if (input.schemaTopic !== undefined && !out.has(input.schemaTopic)) {
    define(input.schemaTopic, { partitions: 1, replicationFactor: maxReplication }, { 'cleanup.policy': 'compact' });
  }
  if (issues.length) throw new ConfigError(undefined, issues.map((i) => ({ path: `sink.${i.path}`, message: i.message })));
  return [...out.values()];
}

/** What {@link ensureTopics} found and did. */
export interface EnsureTopicsResult {
  /** Topics that did not exist and were created. */
  created: string[];
  /** Partition count of every topic asked for, as the cluster reports it now. */
  partitions: Map<string, number>;
  /** Existing topics with fewer partitions than planned (left alone: partitions are never changed). */
  mismatched: { topic: string; planned: number; actual: number }[];
}

/**
 * Creates the topics that do not exist yet (with their partitions, replication factor and
 * configs) and reads back every topic's partition count. Existing topics are never altered.
 *
 * @example
 * ```ts
 * import { ensureTopics, planTopics } from '@tributary/core';
 * const { created, partitions } = await ensureTopics(admin, planTopics({ topics: ['prices'] }));
 * ```
 */
export async function ensureTopics(admin: KafkaAdmin, definitions: readonly TopicDefinition[]): Promise<EnsureTopicsResult> {
  const created = definitions.length ? await admin.ensureTopics(definitions) : [];
  const partitions = new Map<string, number>();
  const mismatched: EnsureTopicsResult['mismatched'] = [];
  for (const def of definitions) {
    const actual = await admin.partitions(def.topic);
    if (actual === undefined) {
      throw new ConfigError(undefined, [{ path: `sink.topics.${def.topic}`, message: 'the topic does not exist after creating it (is topic creation allowed for this client?)' }]);
    }
    partitions.set(def.topic, actual);
    if (actual !== def.partitions && !created.includes(def.topic)) mismatched.push({ topic: def.topic, planned: def.partitions, actual });
  }
  return { created, partitions, mismatched };
}
