/**
 * The bounded produce buffer between the pipeline and the Kafka producer.
 *
 * - Records enter in `enqueue()` order; `enqueue()` resolves once every one of its records is
 *   acknowledged, and waits for room while the buffer is full (back-pressure: the caller, and
 *   through it the sources, pause instead of growing memory).
 * - A batch leaves when it has `maxBatchRecords` records or `maxBatchBytes` bytes, when its
 *   oldest record has waited `lingerMs`, or at once while someone flushes or waits for room.
 * - One batch is in flight at a time; it is sent as one request per partition, and a partition
 *   whose send fails is retried with the very same records (so the idempotent producer can
 *   discard a duplicate) with exponential backoff until it succeeds, fails for good, or the
 *   buffer is closed. Order within a partition is therefore kept.
 *
 * @internal Used by the Kafka sink; transactions (exactly-once) will plug in as another `send`.
 */
import type { OutgoingMessage } from '../../kafka/transport.js';
import { DeliveryError } from '../../errors/DeliveryError.js';
import { classifySendError, rootMessage, type SendFailure } from './sendErrors.js';

/** A record ready to send, with its size for the byte bounds. */
export interface BufferedMessage {
  message: OutgoingMessage;
  bytes: number;
}

/** One send to one partition, for metrics and logs. */
export interface SendReport {
  topic: string;
  partition: number;
  records: number;
  bytes: number;
  durationMs: number;
}

/** Options of {@link ProduceBuffer}. */
export interface ProduceBufferOptions {
  /** Sends the records of one partition; resolves when they are acknowledged. */
  send: (messages: OutgoingMessage[]) => Promise<unknown>;
  /** Starts a new producer session (after the broker lost the idempotent producer's state). */
  reset?: () => Promise<void>;
  /** Most records per batch. Default 500. */
  maxBatchRecords?: number;
  /** Most bytes per batch (a single larger record still goes, alone). Default 900 KiB. */
  maxBatchBytes?: number;
  /** How long a partial batch waits for more records, in ms. Default 50. */
  lingerMs?: number;
  /** Most records buffered (waiting or in flight). Default 10 000. */
  maxRecords?: number;
  /** Most bytes buffered (a single larger record still enters an empty buffer). Default 64 MiB. */
  maxBytes?: number;
  /** First retry delay in ms (doubled per attempt, with jitter). Default 200. */
  retryInitialDelayMs?: number;
  /** Longest retry delay in ms. Default 5000. */
  retryMaxDelayMs?: number;
  /** Classifies send errors. Default `classifySendError`. */
  classify?: (err: unknown) => SendFailure;
  /** After each acknowledged send. */
  onSent?: (report: SendReport) => void;
  /** After each failed send; `delayMs` is the wait before the next attempt (undefined: given up). */
  onSendError?: (info: { topic: string; partition: number; records: number; attempt: number; error: unknown; failure: SendFailure; delayMs: number | undefined }) => void;
  /** After a partition that failed before was sent successfully. */
  onRecovered?: (info: { topic: string; partition: number; attempts: number; downMs: number }) => void;
  /** Whenever the buffered amounts change. */
  onBuffered?: (records: number, bytes: number) => void;
}

class Ticket {
  remaining: number;
  settled = false;
  readonly promise: Promise<void>;
  private resolveFn!: () => void;
  private rejectFn!: (err: unknown) => void;

  constructor(
    count: number,
    private readonly onSettled: (ticket: Ticket) => void = () => undefined,
  ) {
    this.remaining = count;
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    if (count === 0) this.done();
  }

  ack(n: number): void {
    this.remaining -= n;
    if (this.remaining <= 0) this.done();
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettled(this);
    this.rejectFn(err);
  }

  private done(): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettled(this);
    this.resolveFn();
  }
}

interface Item extends BufferedMessage {
  ticket: Ticket;
}

interface Group {
  topic: string;
  partition: number;
  items: Item[];
  abandoned: boolean;
}

/** @internal See the module documentation. */
export class ProduceBuffer {
  private readonly o: Required<Omit<ProduceBufferOptions, 'reset' | 'onSent' | 'onSendError' | 'onRecovered' | 'onBuffered'>> & ProduceBufferOptions;
  private queue: Item[] = [];
  private queuedBytes = 0;
  private oldestAt = 0;
  /** Admitted and not yet settled (waiting + in flight). */
  private records = 0;
  private bytes = 0;
  /** Records of enqueue() calls not admitted yet. */
  private pendingAdmission = 0;
  private admission: Promise<void> = Promise.resolve();
  /** enqueue() calls not settled yet. */
  private readonly open = new Set<Ticket>();
  private roomWaiters: (() => void)[] = [];
  private flushing = 0;
  private pumping = false;
  private inFlight = new Set<Group>();
  private sleepers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private wakePump: (() => void) | undefined;
  private resetting: Promise<void> | undefined;
  private closing = false;
  private abortError: DeliveryError | undefined;

  constructor(options: ProduceBufferOptions) {
    this.o = {
      maxBatchRecords: 500,
      maxBatchBytes: 900 * 1024,
      lingerMs: 50,
      maxRecords: 10_000,
      maxBytes: 64 * 1024 * 1024,
      retryInitialDelayMs: 200,
      retryMaxDelayMs: 5_000,
      classify: classifySendError,
      ...stripUndefined(options),
      send: options.send,
    };
    for (const k of ['maxBatchRecords', 'maxBatchBytes', 'maxRecords', 'maxBytes'] as const) {
      const v = this.o[k];
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer, got ${String(v)}`);
    }
    if (!(this.o.lingerMs >= 0)) throw new RangeError(`lingerMs must be >= 0, got ${String(this.o.lingerMs)}`);
  }

  /** Records buffered: waiting for a batch or in flight, not yet acknowledged. */
  get bufferedRecords(): number {
    return this.records;
  }

  /** Bytes buffered (keys, values and headers of the buffered records). */
  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Records handed to `enqueue()` that wait for room. */
  get waitingRecords(): number {
    return this.pendingAdmission;
  }

  /**
   * Adds records in order and resolves when all of them are acknowledged. Rejects with the first
   * error that made one of them undeliverable (its other records may have been delivered).
   */
  enqueue(messages: readonly BufferedMessage[]): Promise<void> {
    if (this.closing) {
      return Promise.reject(new DeliveryError('the Kafka sink is closed: records not accepted', { sink: 'kafka', undelivered: messages.length, retriable: false }));
    }
    if (messages.length === 0) return Promise.resolve();
    const ticket = new Ticket(messages.length, (t) => this.open.delete(t));
    this.open.add(ticket);
    this.pendingAdmission += messages.length;
    this.admission = this.admission.then(() => this.admit(messages, ticket));
    return ticket.promise;
  }

  /**
   * Resolves when every record enqueued before the call is acknowledged (or failed); records
   * enqueued later are not waited for. Partial batches are sent at once meanwhile.
   */
  async flush(): Promise<void> {
    const pending = [...this.open].map((t) => t.promise.catch(() => undefined));
    if (pending.length === 0) return;
    this.flushing++;
    this.wake();
    try {
      await Promise.all(pending);
    } finally {
      this.flushing--;
    }
  }

  /**
   * Stops accepting records and flushes. If that takes longer than `timeoutMs`, gives up: every
   * record still buffered (or waiting for room) has its `enqueue()` rejected with a
   * `DeliveryError`. Resolves with how many records were not confirmed.
   */
  async close(timeoutMs: number): Promise<{ undelivered: number }> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.flush().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.max(0, timeoutMs));
      }),
    ]);
    clearTimeout(timer);
    if (!timedOut) return { undelivered: 0 };
    const undelivered = this.records + this.pendingAdmission;
    this.abort(
      new DeliveryError(`the Kafka sink closed before Kafka acknowledged ${undelivered} record(s) (gave up after ${timeoutMs} ms)`, {
        sink: 'kafka',
        undelivered,
      }),
    );
    return { undelivered };
  }

  /** Rejects everything buffered or waiting with `error` and stops retrying. */
  abort(error: DeliveryError): void {
    this.closing = true;
    this.abortError ??= error;
    for (const item of this.queue) item.ticket.fail(this.abortError);
    this.queue = [];
    this.queuedBytes = 0;
    for (const group of this.inFlight) {
      group.abandoned = true;
      for (const item of group.items) item.ticket.fail(this.abortError);
    }
    this.inFlight.clear();
    this.records = 0;
    this.bytes = 0;
    this.report();
    for (const s of [...this.sleepers]) s.wake();
    this.wake();
    this.notifyRoom();
  }

  // ------------------------------------------------------------------------------------------

  private async admit(messages: readonly BufferedMessage[], ticket: Ticket): Promise<void> {
    let i = 0;
    try {
      for (; i < messages.length; i++) {
        const m = messages[i]!;
        while (!this.abortError && !ticket.settled && !this.hasRoom(m.bytes)) {
          this.wake(); // a full buffer is reason enough to send what is waiting
          await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
        }
        if (this.abortError) {
          ticket.fail(this.abortError);
          return;
        }
        if (ticket.settled) return; // an earlier record of this call failed for good
        this.pendingAdmission--;
        if (this.queue.length === 0) this.oldestAt = Date.now();
        this.queue.push({ ...m, ticket });
        this.queuedBytes += m.bytes;
        this.records++;
        this.bytes += m.bytes;
        this.report();
        if (this.queue.length >= this.o.maxBatchRecords || this.queuedBytes >= this.o.maxBatchBytes) this.wake();
        this.kick();
      }
    } finally {
      // Records not admitted (the call failed or the buffer was aborted) no longer wait.
      this.pendingAdmission -= messages.length - i;
    }
  }

  private hasRoom(bytes: number): boolean {
    if (this.records >= this.o.maxRecords) return false;
    return this.records === 0 || this.bytes + bytes <= this.o.maxBytes;
  }

  private kick(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pump().finally(() => {
      this.pumping = false;
      if (this.queue.length > 0 && !this.abortError) this.kick();
    });
  }

  private urgent(): boolean {
    return this.flushing > 0 || this.closing || this.roomWaiters.length > 0;
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.abortError) {
      const full = this.queue.length >= this.o.maxBatchRecords || this.queuedBytes >= this.o.maxBatchBytes;
      if (!full && !this.urgent()) {
        const wait = this.oldestAt + this.o.lingerMs - Date.now();
        if (wait > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              this.wakePump = undefined;
              resolve();
            }, wait);
            this.wakePump = () => {
              clearTimeout(timer);
              this.wakePump = undefined;
              resolve();
            };
          });
          continue;
        }
      }
      const batch = this.take();
      await this.deliver(batch);
    }
  }

  private take(): Item[] {
    let n = 0;
    let size = 0;
    while (n < this.queue.length && n < this.o.maxBatchRecords) {
      const b = this.queue[n]!.bytes;
      if (n > 0 && size + b > this.o.maxBatchBytes) break;
      size += b;
      n++;
    }
    const batch = this.queue.splice(0, n);
    this.queuedBytes -= size;
    if (this.queue.length > 0) this.oldestAt = Date.now();
    return batch;
  }

  private async deliver(batch: Item[]): Promise<void> {
    const groups = new Map<string, Group>();
    for (const item of batch) {
      const { topic } = item.message;
      const partition = item.message.partition ?? -1;
      const id = `${partition}:${topic}`;
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { topic, partition, items: [], abandoned: false }));
      g.items.push(item);
    }
    await Promise.all([...groups.values()].map((g) => this.deliverGroup(g)));
  }

  private async deliverGroup(group: Group): Promise<void> {
    this.inFlight.add(group);
    const messages = group.items.map((i) => i.message);
    const bytes = group.items.reduce((s, i) => s + i.bytes, 0);
    let firstFailureAt: number | undefined;
    for (let attempt = 1; ; attempt++) {
      if (group.abandoned) return;
      const started = performance.now();
      try {
        await this.o.send(messages);
        if (group.abandoned) return;
        const durationMs = performance.now() - started;
        this.settle(group, undefined);
        this.o.onSent?.({ topic: group.topic, partition: group.partition, records: messages.length, bytes, durationMs });
        if (firstFailureAt !== undefined) {
          this.o.onRecovered?.({ topic: group.topic, partition: group.partition, attempts: attempt, downMs: Date.now() - firstFailureAt });
        }
        return;
      } catch (error) {
        if (group.abandoned) return;
        firstFailureAt ??= Date.now();
        const failure = this.o.classify(error);
        if (failure === 'fatal') {
          this.o.onSendError?.({ topic: group.topic, partition: group.partition, records: messages.length, attempt, error, failure, delayMs: undefined });
          this.settle(
            group,
            new DeliveryError(`Kafka rejected ${messages.length} record(s) for topic ${group.topic} partition ${group.partition}: ${rootMessage(error)}`, {
              sink: 'kafka',
              undelivered: messages.length,
              topic: group.topic,
              retriable: false,
              cause: error,
            }),
          );
          return;
        }
        const delayMs = this.backoff(attempt);
        this.o.onSendError?.({ topic: group.topic, partition: group.partition, records: messages.length, attempt, error, failure, delayMs });
        if (failure === 'reset' && this.o.reset) await this.resetProducer();
        await this.sleep(delayMs);
      }
    }
  }

  private resetProducer(): Promise<void> {
    this.resetting ??= this.o.reset!()
      .catch(() => undefined)
      .finally(() => {
        this.resetting = undefined;
      });
    return this.resetting;
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.o.retryMaxDelayMs, this.o.retryInitialDelayMs * 2 ** Math.min(attempt - 1, 20));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper);
          resolve();
        }, ms),
        wake: () => {
          clearTimeout(sleeper.timer);
          this.sleepers.delete(sleeper);
          resolve();
        },
      };
      this.sleepers.add(sleeper);
    });
  }

  private settle(group: Group, error: unknown): void {
    this.inFlight.delete(group);
    for (const item of group.items) {
      if (error === undefined) item.ticket.ack(1);
      else item.ticket.fail(error);
      this.records--;
      this.bytes -= item.bytes;
    }
    this.report();
    this.notifyRoom();
  }

  private report(): void {
    this.o.onBuffered?.(this.records, this.bytes);
  }

  private wake(): void {
    this.wakePump?.();
  }

  private notifyRoom(): void {
    const waiters = this.roomWaiters.splice(0);
    for (const w of waiters) w();
  }

}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
