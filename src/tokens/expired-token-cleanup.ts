import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';

const CLEANUP_LOCK_ID = 7_231_002;
const BATCH = 5_000;
const MAX_BATCHES_PER_RUN = 20;

/** Each statement deletes one bounded batch of rows whose purpose has expired. */
const PURGES: Record<string, string> = {
  revocations: `DELETE FROM revocations WHERE ctid IN (SELECT ctid FROM revocations WHERE expires_at < now() LIMIT ${BATCH})`,
  refresh_tokens: `DELETE FROM refresh_tokens WHERE ctid IN (SELECT ctid FROM refresh_tokens WHERE expires_at < now() LIMIT ${BATCH})`,
  authorization_codes: `DELETE FROM authorization_codes WHERE ctid IN (SELECT ctid FROM authorization_codes WHERE expires_at < now() - interval '1 hour' LIMIT ${BATCH})`,
  sessions: `DELETE FROM sessions WHERE ctid IN (SELECT ctid FROM sessions WHERE expires_at < now() OR ended_at < now() - interval '1 day' LIMIT ${BATCH})`,
  rate_limits: `DELETE FROM rate_limits WHERE ctid IN (SELECT ctid FROM rate_limits WHERE expires_at < now() LIMIT ${BATCH})`,
  grants: `DELETE FROM grants WHERE ctid IN (SELECT ctid FROM grants WHERE expires_at < now() - interval '1 day' LIMIT ${BATCH})`,
};

/**
 * Purges expired deny-list entries, refresh tokens and grants in bounded batches, so no
 * table grows without bound. One instance at a time runs it (a session advisory lock
 * taken with try-lock: the others skip the round instead of waiting or deadlocking).
 */
@Injectable()
export class ExpiredTokenCleanup implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ExpiredTokenCleanup.name);
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.run(), this.config.maintenanceIntervalSeconds * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One cleanup round; returns the rows deleted per table (empty when another instance holds the lock). */
  async run(): Promise<Record<string, number>> {
    if (this.running) return {};
    this.running = true;
    const runner = this.db.createQueryRunner();
    const deleted: Record<string, number> = {};
    try {
      await runner.connect();
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [CLEANUP_LOCK_ID])) as { locked: boolean }[];
      if (!locked) return {};
      try {
        for (const [table, statement] of Object.entries(PURGES)) {
          deleted[table] = 0;
          for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
            const result = (await runner.query(statement, [], true)) as { affected?: number };
            deleted[table] += result.affected ?? 0;
            if ((result.affected ?? 0) < BATCH) break;
          }
        }
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [CLEANUP_LOCK_ID]);
      }
      const total = Object.values(deleted).reduce((sum, count) => sum + count, 0);
      if (total > 0) this.logger.log(`purged expired rows: ${JSON.stringify(deleted)}`);
      return deleted;
    } catch (error) {
      this.logger.warn(`cleanup round failed: ${(error as Error).message}`);
      return deleted;
    } finally {
      this.running = false;
      await runner.release();
    }
  }
}
