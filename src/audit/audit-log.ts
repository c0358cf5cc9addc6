import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';

/** Who did it, what it was about, from where. Never a secret: ids (jti, grant id, kid) are fine, tokens, codes and passwords are not. */
export interface AuditContext {
  clientId?: string;
  subject?: string;
  remoteAddress?: string;
  /** Who acted when it was neither the subject nor the client: `cli` (an administrator) or `system` (Gatehouse itself). */
  actor?: 'cli' | 'system';
  details?: Record<string, unknown>;
}

export interface QueuedEvent {
  at: number;
  event: string;
  context: AuditContext;
}

/** Rows per INSERT; a fuller buffer is written in several statements. */
const MAX_ROWS_PER_INSERT = 1000;
/** A buffer this full is written at once rather than at the next tick. */
const EARLY_FLUSH_AT = 500;
/** How often a lasting outage is reported (one warning line, with counts). */
const WARN_EVERY_MS = 10_000;
/** How long the shutdown flush may try before giving up on PostgreSQL. */
const SHUTDOWN_FLUSH_MS = 8_000;

/**
 * One statement for a whole batch: the rows as one JSON array (a single JSON.stringify, no
 * per-value escaping by the driver), inserted in the order they were recorded. ON CONFLICT
 * DO NOTHING lets every instance report a key's activation and retirement while one row is
 * kept (a partial unique index, see the append-only migration).
 */
const INSERT_BATCH = `
  INSERT INTO audit_events (occurred_at, event, actor, client_id, subject, remote_address, details)
  SELECT to_timestamp(r.t / 1000.0), r.e, r.a, r.c, r.s, r.r, coalesce(r.d, '{}')
  FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (t float8, e text, a text, c text, s text, r text, d jsonb)) WITH ORDINALITY AS r(t, e, a, c, s, r, d, n)
  ORDER BY r.n
  ON CONFLICT DO NOTHING`;

/** Detail names that would carry a credential; their string values never reach the table. */
const SECRET_NAMES = /(^|_)(password|secret|token|code|verifier|assertion|cookie|authorization)$/i;
/** A cheap first look: a member whose name ends like a credential's and whose value is a string. */
const SECRET_MEMBER = /(?:password|secret|token|code|verifier|assertion|cookie|authorization)":"/i;
const redactSecrets = (name: string, value: unknown): unknown => (typeof value === 'string' && SECRET_NAMES.test(name) ? '[redacted]' : value);

/**
 * A batch as the JSON the INSERT reads: one object per event. A string under a credential's
 * name in the details is replaced, in case a caller ever passes one.
 */
export function serializeBatch(batch: readonly QueuedEvent[]): string {
  const rows = batch.map(({ at, event, context }) => ({
    t: at,
    e: event,
    a: context.actor,
    c: context.clientId,
    s: context.subject,
    r: context.remoteAddress,
    d: context.details,
  }));
  const json = JSON.stringify(rows);
  return SECRET_MEMBER.test(json) ? JSON.stringify(rows, redactSecrets) : json;
}

const QUEUED: Promise<void> = Promise.resolve();

/**
 * The security audit trail (table `audit_events`, append-only). `record` only queues the
 * event in memory and returns at once, so hot paths never wait for PostgreSQL; the queue
 * is written in the background as one multi-row INSERT every AUDIT_FLUSH_INTERVAL_MS (or
 * as soon as it holds 500 events), and once more on shutdown. While PostgreSQL is
 * unreachable the queue keeps up to AUDIT_BUFFER_LIMIT events, then drops the oldest,
 * counts them, warns, and records an `audit.events_dropped` event once it can write again.
 * A crash (SIGKILL, power loss) loses what was still queued: at most one flush interval.
 */
@Injectable()
export class AuditLog implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private queue: QueuedEvent[] = [];
  private flushing: Promise<void> | undefined;
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  /** True while the last write failed: no early flushes then, only the timer's retries. */
  private failing = false;
  private dropped = { count: 0, first: 0, last: 0 };
  private lastWarning = 0;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), this.config.auditFlushIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + SHUTDOWN_FLUSH_MS;
    while (this.queue.length > 0 || this.dropped.count > 0 || this.flushing) {
      await this.flush();
      if (this.failing && Date.now() > deadline) break;
      if (this.failing) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (this.queue.length > 0) this.logger.error(`${this.queue.length} audit events could not be written before shutdown: PostgreSQL is unreachable`);
  }

  /**
   * Queues a security event and returns at once (the promise is already resolved and
   * never rejects; awaiting it waits for nothing). Do not change `context` afterwards.
   */
  record(event: string, context: AuditContext = {}): Promise<void> {
    this.recordAt(Date.now(), event, context);
    return QUEUED;
  }

  /** Queues an event that happened at `at` (epoch milliseconds), e.g. a key activation noticed a few seconds late. */
  recordAt(at: number, event: string, context: AuditContext): void {
    this.queue.push({ at, event, context });
    if (this.queue.length > this.config.auditBufferLimit) this.dropOldest(this.queue.length - this.config.auditBufferLimit);
    if (this.queue.length >= EARLY_FLUSH_AT && !this.failing && !this.flushScheduled && !this.flushing) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        void this.flush();
      });
    }
  }

  /** Writes what is queued now (one writer at a time; resolves when done or when PostgreSQL refused). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0 && this.dropped.count === 0) return QUEUED;
    this.flushing = this.drain().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Events waiting to be written (for health reporting and tests). */
  get pending(): number {
    return this.queue.length;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.dropped.count > 0) {
      const batch = this.queue.splice(0, MAX_ROWS_PER_INSERT);
      // A gap in the trail is itself recorded, ahead of what follows it.
      const gap = this.dropped;
      this.dropped = { count: 0, first: 0, last: 0 };
      try {
        await this.insert(gap.count > 0 ? [droppedEvent(gap), ...batch] : batch);
      } catch (error) {
        if (gap.count > 0) this.dropped = { count: gap.count + this.dropped.count, first: gap.first, last: this.dropped.last || gap.last };
        this.queue = batch.concat(this.queue);
        const over = this.queue.length - this.config.auditBufferLimit;
        if (over > 0) this.dropOldest(over);
        if (!this.failing) this.logger.warn(`cannot write audit events, keeping ${this.queue.length} queued: ${(error as Error).message}`);
        this.failing = true;
        return;
      }
      if (gap.count > 0) this.logger.warn(`${gap.count} audit events were dropped (buffer full) and are missing from the trail`);
      if (this.failing) {
        this.failing = false;
        this.logger.log('audit events are written again');
      }
    }
  }

  private insert(batch: QueuedEvent[]): Promise<unknown> {
    return this.db.query(INSERT_BATCH, [serializeBatch(batch)]);
  }

  private dropOldest(count: number): void {
    this.queue.splice(0, count);
    const now = Date.now();
    if (this.dropped.count === 0) this.dropped.first = now;
    this.dropped.count += count;
    this.dropped.last = now;
    if (now - this.lastWarning >= WARN_EVERY_MS) {
      this.lastWarning = now;
      this.logger.warn(`audit buffer full (AUDIT_BUFFER_LIMIT ${this.config.auditBufferLimit}): ${this.dropped.count} oldest events dropped so far`);
    }
  }
}

/** The event that marks a gap: how many were dropped, and when. */
function droppedEvent(gap: { count: number; first: number; last: number }): QueuedEvent {
  return {
    at: gap.last,
    event: 'audit.events_dropped',
    context: {
      actor: 'system',
      details: { count: gap.count, first_dropped_at: new Date(gap.first).toISOString(), last_dropped_at: new Date(gap.last).toISOString() },
    },
  };
}
