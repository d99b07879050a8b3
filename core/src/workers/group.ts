import { createHash } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, PartitionAssigner, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { NonRetriableError } from '../errors/TributaryError.js';
import { kafkajsConfig } from '../kafka/kafkajs.js';
import type { KafkaConnection } from '../kafka/transport.js';
import type { WorkersConfig } from '../pipeline/types.js';
import { planAssignment, type GroupMemberInfo } from './assignment.js';

const { Kafka, AssignerProtocol } = kafkajs;

/** Name of the partition assignment protocol the workers agree on. */
export const WORK_ASSIGNER = 'TributaryStickyAssigner';

/** What the runtime does when the group gives this worker a unit or takes one away. */
export interface WorkGroupHooks {
  /** Starts running a unit: claim it (fence its transactional producers), reload its cursors, schedule it. */
  acquire(unit: string): Promise<void>;
  /** Stops running a unit: no new cycle, the one in flight finishes (or is cut at the drain timeout). */
  release(unit: string): Promise<void>;
}

/** Who runs what, after a rebalance. */
export interface WorkAssignment {
  /** Units this worker runs. */
  units: string[];
  /** The worker id running each unit (units no worker runs are absent). */
  owners: Record<string, string>;
  /** Workers in the group. */
  members: number;
}

/** Options of {@link WorkGroup}. */
export interface WorkGroupOptions {
  /** The cluster (the pipeline's Kafka sink connection). */
  connection: KafkaConnection;
  /** Pipeline name (client ids, logs). */
  pipeline: string;
  /** This worker's id, unique in the group (default of `run --worker`: `<host>-<pid>`). */
  worker: string;
  /** The units of work, in the order that maps them to control-topic partitions (unit i = partition i). */
  units: readonly string[];
  /** `workers:` settings of the pipeline. */
  config: WorkersConfig;
  /** Replication factor of the control topic when it is created. Default 1. */
  replicationFactor?: number;
  hooks: WorkGroupHooks;
  logger: Logger;
  /** Called after each rebalance with the new ownership. */
  onAssignment?: (assignment: WorkAssignment) => void;
  /** Called when the group membership fails for good (the consumer crashed without restart). */
  onError?: (error: unknown) => void;
}

/** One record of the control topic: a worker took or gave up a unit. Key: the unit id. */
interface ControlRecord {
  version: 1;
  kind: 'acquired' | 'released';
  unit: string;
  worker: string;
  member: string;
  at: string;
}

interface PartitionLog {
  acquired?: { offset: bigint; member: string; worker: string };
  released?: { offset: bigint; member: string };
  /** Highest offset read. */
  seen: bigint;
}

interface Held {
  unit: string;
  state: 'acquiring' | 'running';
  abort: AbortController;
  task: Promise<void>;
}

/**
 * Membership of a worker in the group that shares a pipeline (`tributary run --worker`).
 *
 * The pipeline's units of work (sources, groups) are the partitions of a control topic; workers
 * join one Kafka consumer group over it, and owning a partition is owning its unit. A sticky,
 * balanced assignor ({@link planAssignment}) keeps units where they run. When a unit moves, its new
 * owner waits until the previous one has drained its cycle and written a `released` record to the
 * unit's partition (or has left the group), then writes `acquired` and starts it. A worker that
 * dies stops heart-beating; after `sessionTimeout` the group rebalances and its units go to the
 * others, which resume from the durable cursors. With exactly-once the new owner's transactional
 * producer fences the old one, so even a worker that lost its unit without noticing cannot commit.
 *
 * @example
 * ```ts
 * import { WorkGroup, workersConfig, createLogger } from '@tributary/core';
 * const group = new WorkGroup({
 *   connection: { brokers: ['127.0.0.1:9092'], clientId: 'collector' },
 *   pipeline: 'energy', worker: 'w1', units: ['air', 'prices'],
 *   config: workersConfig('energy', 30_000), logger: createLogger(),
 *   hooks: { acquire: async (u) => console.log('run', u), release: async (u) => console.log('stop', u) },
 * });
 * await group.start();
 * // ...
 * await group.stop();
 * ```
 */
export class WorkGroup {
  private readonly options: WorkGroupOptions;
  private readonly fingerprint: string;
  private readonly topic: string;
  private readonly kafka: InstanceType<typeof Kafka>;
  private admin: Admin | undefined;
  private producer: Producer | undefined;
  private consumer: Consumer | undefined;
  private memberId = '';
  private readonly held = new Map<number, Held>();
  private readonly logs = new Map<number, PartitionLog>();
  private readonly waiters = new Set<() => void>();
  private queue: Promise<void> = Promise.resolve();
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private membersCache: { at: number; ids: Promise<Set<string>> } | undefined;
  private publishing: Promise<void> | undefined;
  private publishAgain = false;

  constructor(options: WorkGroupOptions) {
    if (options.units.length === 0) throw new NonRetriableError('worker mode: the pipeline has no unit of work to share', { code: 'ERR_WORKERS' });
    this.options = options;
    this.topic = options.config.topic;
    this.fingerprint = fingerprintOf(options.units);
    const { logger } = options;
    this.kafka = new Kafka(
      kafkajsConfig({
        ...options.connection,
        clientId: `${options.connection.clientId}.worker.${options.worker}`,
        logLevel: 'warn',
        onLog: ({ level, namespace, message, extra }) => {
          // a rebalance answers heartbeats with REBALANCE_IN_PROGRESS, which kafkajs logs as an error: it is routine here
          const routine = /rebalanc/i.test(String(extra.error ?? ''));
          if (level === 'ERROR' && !routine) logger.warn({ kafkajs: namespace, ...extra }, `worker group: ${message}`);
          else logger.debug({ kafkajs: namespace, ...extra }, `worker group: ${message}`);
        },
      }),
    );
  }

  /** The units this worker runs now. */
  get units(): string[] {
    return [...this.held.values()].filter((h) => h.state === 'running').map((h) => h.unit);
  }

  /**
   * Creates the control topic when missing (one partition per unit; grows it when units were
   * added), joins the group and starts following its assignments. Resolves once joined.
   */
  async start(): Promise<void> {
    const { config, units, logger } = this.options;
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await this.ensureTopic();
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
    this.consumer = this.kafka.consumer({
      groupId: config.groupId,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(config.sessionTimeoutMs, 30_000),
      maxWaitTimeInMs: Math.min(500, config.heartbeatIntervalMs),
      allowAutoTopicCreation: false,
      partitionAssigners: [this.assigner()],
    });
    let failJoin: (err: unknown) => void = () => undefined;
    const joined = new Promise<void>((resolve, reject) => {
      failJoin = reject;
      this.consumer!.on(this.consumer!.events.GROUP_JOIN, (event) => {
        this.memberId = event.payload.memberId;
        const partitions = event.payload.memberAssignment[this.topic] ?? [];
        logger.info({ worker: this.options.worker, partitions, leader: event.payload.isLeader }, 'worker group: assignment received');
        this.queue = this.queue.then(() => this.onAssignment(partitions)).catch((err: unknown) => logger.error({ err }, 'worker group: handling an assignment failed'));
        resolve();
      });
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      if (event.payload.restart) return;
      logger.error({ err: event.payload.error }, 'worker group: the group consumer stopped');
      failJoin(event.payload.error); // no effect once joined
      this.options.onError?.(event.payload.error);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => this.read(partition, message.offset, message.value) });
    logger.info({ worker: this.options.worker, units: units.length, topic: this.topic, group: config.groupId }, 'worker group: joining');
    await joined;
  }

  /**
   * Leaves the group cleanly: gives every unit up (each drains its cycle and is marked released,
   * so a new owner starts at once), then leaves, which rebalances the others. Idempotent.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      for (const h of this.held.values()) if (h.state === 'acquiring') h.abort.abort();
      await this.queue;
      await Promise.all([...this.held.keys()].map((p) => this.release(p)));
      await this.consumer?.disconnect().catch((err: unknown) => this.options.logger.warn({ err }, 'worker group: leaving the group failed'));
      await this.producer?.disconnect().catch(() => undefined);
      await this.admin?.disconnect().catch(() => undefined);
      this.wake();
    })();
    return this.stopped;
  }

  // ------------------------------------------------------------------------------------------

  private async ensureTopic(): Promise<void> {
    const admin = this.admin!;
    const wanted = Math.max(this.options.units.length, this.options.config.partitions ?? 0);
    const existing = await admin.fetchTopicMetadata({ topics: [] }).then((m) => m.topics.find((t) => t.name === this.topic));
    if (!existing) {
      await admin
        .createTopics({
          waitForLeaders: true,
          topics: [{ topic: this.topic, numPartitions: wanted, replicationFactor: this.options.replicationFactor ?? 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
        })
        .catch((err: unknown) => {
          if (!/already exists/i.test(String((err as Error)?.message))) throw err;
        });
      return;
    }
    if (existing.partitions.length < this.options.units.length) {
      this.options.logger.info({ topic: this.topic, from: existing.partitions.length, to: this.options.units.length }, 'worker group: adding control-topic partitions for new units');
      await admin.createPartitions({ topicPartitions: [{ topic: this.topic, count: this.options.units.length }] }).catch((err: unknown) => {
        if (!/already has|INVALID_PARTITIONS/i.test(String((err as Error)?.message))) throw err;
      });
    }
  }

  private assigner(): PartitionAssigner {
    return ({ cluster }) => ({
      name: WORK_ASSIGNER,
      version: 1,
      protocol: ({ topics }) => ({
        name: WORK_ASSIGNER,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.from(JSON.stringify({ worker: this.options.worker, fingerprint: this.fingerprint, owned: [...this.held.keys()] })),
        }),
      }),
      assign: async ({ members, topics }) => {
        const partitions = topics.includes(this.topic) ? cluster.findTopicPartitionMetadata(this.topic).length : 0;
        const infos: GroupMemberInfo[] = members.map((m) => ({ memberId: m.memberId, ...decodeMember(m.memberMetadata) }));
        const differing = infos.filter((m) => m.fingerprint !== this.fingerprint);
        if (differing.length > 0) {
          this.options.logger.warn(
            { workers: differing.map((m) => m.worker) },
            'worker group: these workers run a pipeline whose units differ from this one; they get no units until every worker runs the same pipeline file',
          );
        }
        const plan = planAssignment({ members: infos, partitions, units: this.options.units.length, fingerprint: this.fingerprint });
        return members.map((m) => ({
          memberId: m.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: { [this.topic]: plan.get(m.memberId) ?? [] }, userData: Buffer.alloc(0) }),
        }));
      },
    });
  }

  private read(partition: number, offset: string, value: Buffer | null): void {
    const log = this.logs.get(partition) ?? { seen: -1n };
    this.logs.set(partition, log);
    const at = BigInt(offset);
    if (at > log.seen) log.seen = at;
    if (value !== null) {
      let record: ControlRecord | undefined;
      try {
        record = JSON.parse(value.toString('utf8')) as ControlRecord;
      } catch {
        record = undefined;
      }
      if (record?.kind === 'acquired' && (!log.acquired || at > log.acquired.offset)) log.acquired = { offset: at, member: record.member, worker: record.worker };
      if (record?.kind === 'released' && (!log.released || at > log.released.offset)) log.released = { offset: at, member: record.member };
    }
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves on the next control record read (or after `ms`). */
  private changed(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async onAssignment(partitions: number[]): Promise<void> {
    if (this.stopping) return;
    const units = this.options.units;
    const now = new Set(partitions.filter((p) => p < units.length));
    const gone = [...this.held.keys()].filter((p) => !now.has(p));
    if (gone.length > 0) this.options.logger.info({ units: gone.map((p) => units[p]) }, 'worker group: giving units up (draining their cycles)');
    await Promise.all(gone.map((p) => this.release(p)));
    for (const p of now) {
      if (this.held.has(p)) continue;
      const abort = new AbortController();
      const held: Held = { unit: units[p]!, state: 'acquiring', abort, task: Promise.resolve() };
      this.held.set(p, held);
      held.task = this.acquireWithRetry(p, held);
    }
    this.publishOwners();
  }

  /** Acquires a unit, trying again (with back-off) while it stays assigned here: Kafka may be unreachable for a while. */
  private async acquireWithRetry(p: number, held: Held): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.acquire(p, held);
        return;
      } catch (err) {
        const delayMs = Math.min(30_000, 500 * 2 ** (attempt - 1));
        this.options.logger.error({ err, unit: held.unit, attempt, delayMs }, 'worker group: starting a unit failed; trying again');
        const until = Date.now() + delayMs;
        while (Date.now() < until && !held.abort.signal.aborted) await this.changed(until - Date.now(), held.abort.signal);
        if (held.abort.signal.aborted || this.stopping) {
          if (this.held.get(p) === held) this.held.delete(p);
          return;
        }
      }
    }
  }

  private async acquire(p: number, held: Held): Promise<void> {
    const { logger, config, hooks, worker } = this.options;
    const signal = held.abort.signal;
    const deadline = Date.now() + config.drainTimeoutMs;
    // Read the unit's partition to its end, to learn who ran it last.
    const offsets = await this.admin!.fetchTopicOffsets(this.topic);
    const end = offsets.find((o) => o.partition === p);
    const high = end ? BigInt(end.high) : 0n;
    const low = end ? BigInt(end.low) : 0n;
    while (!signal.aborted && high > low && (this.logs.get(p)?.seen ?? -1n) < high - 1n && Date.now() < deadline) await this.changed(250, signal);
    // Wait for the previous owner, if it is still in the group, to drain and release the unit.
    let waited = false;
    while (!signal.aborted) {
      const log = this.logs.get(p);
      const last = log?.acquired;
      const released = last && log?.released && log.released.offset > last.offset;
      if (!last || released || last.member === this.memberId) break;
      if (!(await this.isMember(last.member))) break;
      if (Date.now() >= deadline) {
        logger.warn({ unit: held.unit, previous: last.worker, timeoutMs: config.drainTimeoutMs }, 'worker group: the previous owner did not release the unit in time; taking it over');
        break;
      }
      if (!waited) logger.info({ unit: held.unit, previous: last.worker }, 'worker group: waiting for the previous owner to drain the unit');
      waited = true;
      await this.changed(500, signal);
    }
    if (signal.aborted || this.stopping) {
      if (this.held.get(p) === held) this.held.delete(p);
      return;
    }
    await this.write(p, 'acquired');
    await hooks.acquire(held.unit);
    held.state = 'running';
    logger.info({ unit: held.unit, worker }, 'worker group: unit started');
    this.publishOwners();
  }

  private async release(p: number): Promise<void> {
    const held = this.held.get(p);
    if (!held) return;
    held.abort.abort();
    await held.task;
    if (this.held.get(p) !== held) return; // the acquisition gave up on its own
    this.held.delete(p);
    if (held.state !== 'running') return;
    try {
      await this.options.hooks.release(held.unit);
    } finally {
      await this.write(p, 'released').catch((err: unknown) => this.options.logger.warn({ err, unit: held.unit }, 'worker group: could not mark the unit released; its next owner waits for the drain timeout'));
      this.options.logger.info({ unit: held.unit }, 'worker group: unit released');
    }
  }

  private async write(p: number, kind: ControlRecord['kind']): Promise<void> {
    const unit = this.options.units[p]!;
    const record: ControlRecord = { version: 1, kind, unit, worker: this.options.worker, member: this.memberId, at: new Date().toISOString() };
    await this.producer!.send({ topic: this.topic, acks: -1, messages: [{ partition: p, key: unit, value: JSON.stringify(record) }] });
  }

  private async isMember(memberId: string): Promise<boolean> {
    const now = Date.now();
    if (!this.membersCache || now - this.membersCache.at > 1_000) {
      const ids = this.admin!.describeGroups([this.options.config.groupId]).then((d) => new Set(d.groups[0]?.members.map((m) => m.memberId) ?? []));
      this.membersCache = { at: now, ids };
    }
    try {
      return (await this.membersCache.ids).has(memberId);
    } catch {
      this.membersCache = undefined;
      return true;
    }
  }

  /**
   * Tells `onAssignment` who runs what. Called after each rebalance and each unit start; calls
   * made while a report is being built share the next one (one group description at a time).
   */
  private publishOwners(): void {
    if (!this.options.onAssignment || this.stopping) return;
    if (this.publishing) {
      this.publishAgain = true;
      return;
    }
    this.publishing = this.describeOwners().finally(() => {
      this.publishing = undefined;
      if (this.publishAgain) {
        this.publishAgain = false;
        this.publishOwners();
      }
    });
  }

  private async describeOwners(): Promise<void> {
    try {
      const described = await this.admin!.describeGroups([this.options.config.groupId]);
      const owners: Record<string, string> = {};
      const members = described.groups[0]?.members ?? [];
      for (const m of members) {
        const { worker } = decodeMember(m.memberMetadata);
        const assignment = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
        for (const p of assignment?.assignment[this.topic] ?? []) if (p < this.options.units.length) owners[this.options.units[p]!] = worker;
      }
      this.options.onAssignment?.({ units: this.units, owners, members: members.length });
    } catch (err) {
      this.options.logger.debug({ err }, 'worker group: could not describe the group');
    }
  }
}

/** A short hash of the units' list: workers with the same pipeline agree on it. */
export function fingerprintOf(units: readonly string[]): string {
  return createHash('sha256').update(units.join('\n')).digest('hex').slice(0, 16);
}

function decodeMember(metadata: Buffer): Omit<GroupMemberInfo, 'memberId'> {
  try {
    const decoded = AssignerProtocol.MemberMetadata.decode(metadata);
    const data = JSON.parse(decoded?.userData?.toString('utf8') || '{}') as Partial<GroupMemberInfo>;
    return { worker: String(data.worker ?? '?'), fingerprint: String(data.fingerprint ?? ''), owned: Array.isArray(data.owned) ? data.owned.filter((n) => Number.isInteger(n)) : [] };
  } catch {
    return { worker: '?', fingerprint: '', owned: [] };
  }
}
