import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryRunner } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { affectedRows } from '../database/affected-rows';

/** The session advisory lock a cleanup round holds; every other instance's round skips while it is held. */
export const CLEANUP_LOCK_ID = 7_231_002;

/**
 * What expires, table by table, in the order purged (refresh tokens before their grants, so
 * that deleting a grant rarely has tokens left to cascade to). `after` is the expiry column,
 * and each has an index on it (see the migrations), so a batch is an index range scan,
 * oldest first, whatever the size of the table.
 */
const EXPIRED: readonly { table: string; after: string; keep?: string }[] = [
  { table: 'revocations', after: 'expires_at' },
  { table: 'refresh_tokens', after: 'expires_at' },
  // Kept an hour past expiry: a replayed code still finds its grant to revoke.
  { table: 'authorization_codes', after: 'expires_at', keep: '1 hour' },
  { table: 'sessions', after: 'expires_at' },
  // Ended (logged out) sessions go a day after logout, whatever their expiry.
  { table: 'sessions', after: 'ended_at', keep: '1 day' },
  { table: 'rate_limits', after: 'expires_at' },
  // Kept a day past expiry, for the account pages and audit questions.
  { table: 'grants', after: 'expires_at', keep: '1 day' },
  { table: 'backchannel_logout_deliveries', after: 'expires_at' },
];

export interface PurgeStatement {
  table: string;
  /** Which rows of the table have expired. */
  where: string;
  sql: string;
}

/** The statements that each delete one batch (at most `batchSize` rows) of expired rows. */
export function purgeStatements(batchSize: number): PurgeStatement[] {
  return EXPIRED.map(({ table, after, keep }) => {
    const where = `${after} < ${keep ? `now() - interval '${keep}'` : 'now()'}`;
    return { table, where, sql: `DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE ${where} ORDER BY ${after} LIMIT ${batchSize})` };
  });
}

/** Rows deleted per table in one round; empty when another instance held the lock. */
export type PurgeResult = Record<string, number>;

/**
 * Purges expired codes, refresh tokens, grants, sessions, deny-list entries, rate-limit windows
 * and back-channel logout deliveries, so no table grows without bound. Every
 * MAINTENANCE_INTERVAL one round deletes, per statement, at most MAINTENANCE_MAX_BATCHES
 * batches of MAINTENANCE_BATCH_SIZE rows, each its own short transaction, with
 * MAINTENANCE_BATCH_PAUSE_MS between them, so that it never holds many locks or a connection
 * for long next to the hot paths; what is left waits for the next round. One instance at a
 * time runs a round: it holds a session advisory lock taken with try-lock, and the others skip
 * the round instead of waiting or deadlocking. (The embedded database has a single process
 * and a single connection: there the statements take the connection one at a time.)
 */
@Injectable()
export class ExpiredTokenCleanup implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ExpiredTokenCleanup.name);
  private readonly statements: PurgeStatement[];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {
    this.statements = purgeStatements(config.maintenanceBatchSize);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.run(), this.config.maintenanceIntervalSeconds * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** One cleanup round; returns the rows deleted per table (empty when another instance holds the lock). */
  async run(): Promise<PurgeResult> {
    if (this.running) return {};
    this.running = true;
    const deleted: PurgeResult = {};
    const started = Date.now();
    let runner: QueryRunner | undefined;
    try {
      if (this.config.databaseUrl) {
        runner = this.db.createQueryRunner();
        await runner.connect();
        const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [CLEANUP_LOCK_ID])) as { locked: boolean }[];
        if (!locked) return {};
      }
      try {
        await this.purge(runner, deleted);
      } finally {
        if (runner) await runner.query('SELECT pg_advisory_unlock($1)', [CLEANUP_LOCK_ID]);
      }
      const total = Object.values(deleted).reduce((sum, count) => sum + count, 0);
      if (total > 0) this.logger.log(`purged ${total} expired rows in ${Date.now() - started} ms: ${JSON.stringify(deleted)}`);
      return deleted;
    } catch (error) {
      this.logger.warn(`cleanup round failed: ${(error as Error).message}`);
      return deleted;
    } finally {
      this.running = false;
      await runner?.release();
    }
  }

  private async purge(runner: QueryRunner | undefined, deleted: PurgeResult): Promise<void> {
    const { maintenanceBatchSize: size, maintenanceMaxBatches: maxBatches, maintenanceBatchPauseMs: pause } = this.config;
    // The pause follows a batch that deleted something: a round with nothing to purge takes no longer for it.
    let previousDeleted = 0;
    for (const { table, sql } of this.statements) {
      deleted[table] ??= 0;
      for (let batch = 0; batch < maxBatches && !this.stopped; batch++) {
        if (previousDeleted > 0 && pause > 0) await sleep(pause);
        // `true`: the structured result, whose `affected` is the DELETE's row count.
        const affected = runner ? (((await runner.query(sql, [], true)) as { affected?: number }).affected ?? 0) : await affectedRows(this.db, sql, []);
        previousDeleted = affected;
        deleted[table] += affected;
        if (affected < size) break;
      }
    }
  }
}
