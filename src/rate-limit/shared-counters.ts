import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { CounterBook, FlushBatch, FlushResult, LimitRule, WindowLimit } from './window-counters';

/**
 * One statement for every counter touched since the last flush: adds this instance's hits
 * to each window's row and returns the global counts, and re-reads (without writing) the
 * rows of counters close to their limit (0 hits). Rows are locked in key order, so that
 * instances flushing at the same moment never deadlock.
 */
const FLUSH = `
  WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS b(key, window_start, hits, expires_ms)
  ), counted AS (
    INSERT INTO rate_limits AS c (key, window_start, hits, expires_at)
    SELECT key, window_start, hits, timestamptz 'epoch' + expires_ms * interval '1 millisecond' FROM batch WHERE hits > 0 ORDER BY key, window_start
    ON CONFLICT (key, window_start) DO UPDATE SET hits = c.hits + EXCLUDED.hits
    RETURNING c.key, c.window_start, c.hits
  )
  SELECT key, window_start, hits FROM counted
  UNION ALL
  SELECT c.key, c.window_start, c.hits FROM rate_limits c JOIN batch b ON b.key = c.key AND b.window_start = c.window_start WHERE b.hits = 0`;

const SHUTDOWN_FLUSH_MS = 3000;

/**
 * Rate-limit counters shared by every instance through PostgreSQL, with decisions taken in
 * memory. Each instance counts locally and, every RATE_LIMIT_SYNC_INTERVAL_MS, writes the
 * hits of every counter it touched in one batched statement that returns the global
 * counts; a decision is the last known global count plus the local hits since. Requests
 * never wait for the flush (except `exact` limits, which wait for the next one on purpose),
 * and when PostgreSQL cannot be reached each instance goes on counting alone until it can.
 */
@Injectable()
export class SharedCounters implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('RateLimits');
  private readonly book = new CounterBook(() => this.soon());
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private again = false;
  private scheduled = false;
  private unavailableSince: number | undefined;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {}

  /** A named limit; its counters live in the `rate_limits` table as `<name>:<id>`. */
  define(rule: LimitRule): WindowLimit {
    return this.book.add(rule);
  }

  onApplicationBootstrap(): void {
    // A flush still running (a slow database) is not queued behind: the next tick tries again.
    this.timer = setInterval(() => {
      if (!this.flushing) void this.flush();
    }, this.config.rateLimitSyncIntervalMs);
    this.timer.unref();
  }

  /** Writes what is still counted before the database connection closes (for a few seconds at most). */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((resolve) => (timeout = setTimeout(resolve, SHUTDOWN_FLUSH_MS)))]);
    clearTimeout(timeout);
  }

  /**
   * Writes every hit counted so far and reads back the global counts; resolves when that is
   * done (or has failed: it never rejects). A flush already running is awaited first.
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.run().finally(() => (this.flushing = undefined));
    await this.flushing;
    if (this.again) {
      this.again = false;
      void this.flush();
    }
  }

  /** An exact-mode hit waits: flush now, or right after the flush in flight. */
  private soon(): void {
    if (this.flushing) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async run(): Promise<void> {
    try {
      await this.exchange();
    } catch (error) {
      // A fault of the counters themselves: logged, never thrown into a request or a timer.
      this.logger.error(`rate-limit flush failed: ${(error as Error).stack ?? String(error)}`);
    }
  }

  private async exchange(): Promise<void> {
    const batch = this.book.beginFlush(Date.now());
    if (!batch) return;
    let results: FlushResult[];
    try {
      results = await this.write(batch);
    } catch (error) {
      this.book.failFlush(batch, Date.now());
      if (this.unavailableSince === undefined) {
        this.unavailableSince = Date.now();
        this.logger.warn(`rate-limit counters cannot be shared (${(error as Error).message}); each instance counts on its own until PostgreSQL answers again`);
      }
      return;
    }
    this.book.completeFlush(batch, results, Date.now());
    if (this.unavailableSince !== undefined) {
      this.logger.log(`rate-limit counters are shared again after ${Math.round((Date.now() - this.unavailableSince) / 1000)} s`);
      this.unavailableSince = undefined;
    }
  }

  private async write(batch: FlushBatch): Promise<FlushResult[]> {
    const rows = batch.rows;
    const answer: { key: string; window_start: string; hits: string }[] = await this.db.query(FLUSH, [
      rows.map((row) => row.key),
      rows.map((row) => row.windowStart),
      rows.map((row) => row.hits),
      rows.map((row) => row.expiresAt),
    ]);
    return answer.map((row) => ({ key: row.key, windowStart: Number(row.window_start), hits: Number(row.hits) }));
  }

  /** Deletes every stored window of `<limit>:<id>` and forgets it locally (an operator's reset). */
  async reset(limit: WindowLimit, id: string): Promise<void> {
    limit.forget(id);
    await this.db.query(`DELETE FROM rate_limits WHERE key = $1`, [`${limit.rule.name}:${id}`]);
  }
}
