import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit/audit-log';
import { AppConfig } from '../config/configuration';
import { CoalescedRefresh } from '../common/coalesced-refresh';
import { ChangeFeed } from '../database/change-feed';
import { SharedCounters } from '../rate-limit/shared-counters';
import { WindowLimit } from '../rate-limit/window-counters';

/** Starts the lockouts of a batch of clients; a client already locked (by another instance) keeps its lock. */
const START_LOCKS = `
  INSERT INTO client_auth_lockouts AS l (client_id, locked_at, locked_until)
  SELECT id, now(), now() + make_interval(secs => $2) FROM unnest($1::text[]) AS ids(id)
  WHERE EXISTS (SELECT 1 FROM clients c WHERE c.client_id = ids.id)
  ORDER BY id
  ON CONFLICT (client_id) DO UPDATE SET locked_at = EXCLUDED.locked_at, locked_until = EXCLUDED.locked_until WHERE l.locked_until <= now()
  RETURNING client_id, locked_until`;

const ACTIVE_LOCKS = `SELECT client_id, locked_until FROM client_auth_lockouts WHERE locked_until > now()`;

/**
 * Locks a confidential client's secret path after CLIENT_AUTH_MAX_FAILURES failed
 * authentications within CLIENT_AUTH_LOCKOUT, for CLIENT_AUTH_LOCKOUT, on every instance.
 *
 * The way of a successful authentication stays in memory: `isLocked` is a Map lookup.
 * Failures are counted by the shared rate-limit counters (batched, so a flood of wrong
 * secrets costs one row per client per flush, not one write per attempt); a lockout starts
 * when the count reaches the limit, on this instance at once and in PostgreSQL in one
 * batched statement, then every instance learns it from a change notification (and, as a
 * safety net, by re-reading the active lockouts every SYNC_INTERVAL_MS). An operator ends
 * one with `clients unlock <id>` or by rotating the secret.
 */
@Injectable()
export class ClientAuthLockout implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ClientLockout');
  private readonly failures: WindowLimit;
  /** Client id → locked until (ms), as this instance knows it. */
  private locks = new Map<string, number>();
  /** The address of each client's latest failure on this instance (for the audit record of a lockout). */
  private readonly lastFailureFrom = new Map<string, string>();
  /** Lockouts started here and not yet in PostgreSQL, with the address of the failure that started each. */
  private readonly unwritten = new Map<string, string | undefined>();
  /** Lockouts being written right now. */
  private readonly writingIds = new Set<string>();
  /** When this instance last wrote each lockout (so that a re-read that started earlier does not drop it). */
  private readonly writtenAt = new Map<string, number>();
  private writing: Promise<void> | undefined;
  /** Re-reads run one at a time; a request during one gets the next, shared by everyone asking meanwhile. */
  private readonly reloads = new CoalescedRefresh(() => this.readActiveLocks(), 0);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly counters: SharedCounters,
    private readonly changes: ChangeFeed,
    private readonly audit: AuditLog,
    private readonly config: AppConfig,
    @InjectDataSource() private readonly db: DataSource,
  ) {
    this.failures = counters.define({
      name: 'client-auth',
      limit: config.clientAuthMaxFailures,
      windowSeconds: config.clientAuthLockoutSeconds,
      mode: 'local',
      // Failures spread over several instances reach the limit in the global count.
      onGlobalCount: (clientId, count) => {
        if (count >= config.clientAuthMaxFailures) this.lock(clientId, undefined);
      },
    });
  }

  onModuleInit(): void {
    this.changes.subscribe('client-lockouts', (clientId) => {
      // A payload names a client an operator unlocked; every notification means "re-read".
      if (clientId) {
        this.locks.delete(clientId);
        this.unwritten.delete(clientId);
        this.writtenAt.delete(clientId);
        this.failures.forget(clientId);
      }
      void this.reload();
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.failures.enabled) return;
    this.timer = setInterval(() => void this.reload(), this.config.syncIntervalMs);
    this.timer.unref();
    await this.reload();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Whether the client's secret path is locked (memory only). */
  isLocked(clientId: string, now = Date.now()): boolean {
    const until = this.locks.get(clientId);
    return until !== undefined && until > now;
  }

  /** Counts a wrong secret presented for an existing confidential client; starts a lockout when that reaches the limit. */
  recordFailure(clientId: string, remoteAddress: string | undefined): void {
    if (!this.failures.enabled) return;
    if (remoteAddress !== undefined) this.lastFailureFrom.set(clientId, remoteAddress);
    const decision = this.failures.take(clientId);
    if (!decision.allowed || decision.count >= this.config.clientAuthMaxFailures) this.lock(clientId, remoteAddress);
  }

  /** Ends a client's lockout on every instance and clears its failures; says whether it was locked. */
  async unlock(clientId: string): Promise<boolean> {
    const [{ active }] = (await this.db.query(
      `WITH ended AS (DELETE FROM client_auth_lockouts WHERE client_id = $1 RETURNING locked_until) SELECT coalesce(bool_or(locked_until > now()), false) AS active FROM ended`,
      [clientId],
    )) as { active: boolean }[];
    await this.counters.reset(this.failures, clientId);
    this.locks.delete(clientId);
    this.unwritten.delete(clientId);
    if (active) await this.audit.record('client.unlocked', { clientId });
    await this.changes.publish('client-lockouts', clientId);
    return active;
  }

  private lock(clientId: string, remoteAddress: string | undefined): void {
    if (this.isLocked(clientId)) return;
    this.locks.set(clientId, Date.now() + this.config.clientAuthLockoutSeconds * 1000);
    this.unwritten.set(clientId, remoteAddress ?? this.lastFailureFrom.get(clientId));
    this.lastFailureFrom.delete(clientId);
    this.writing ??= this.writeLocks().finally(() => (this.writing = undefined));
  }

  /**
   * Writes the lockouts started here, one statement per batch; records in the audit log
   * those this instance started (another instance may have been first) and tells the others.
   */
  private async writeLocks(): Promise<void> {
    await Promise.resolve(); // let the failures of the same moment join the batch
    while (this.unwritten.size > 0) {
      const batch = new Map(this.unwritten);
      this.unwritten.clear();
      for (const clientId of batch.keys()) this.writingIds.add(clientId);
      try {
        const started: { client_id: string; locked_until: Date }[] = await this.db.query(START_LOCKS, [
          [...batch.keys()],
          this.config.clientAuthLockoutSeconds,
        ]);
        const now = Date.now();
        for (const clientId of batch.keys()) this.writtenAt.set(clientId, now);
        for (const { client_id: clientId, locked_until: until } of started) {
          this.locks.set(clientId, until.getTime());
          this.logger.warn(`client ${clientId} is locked until ${until.toISOString()} after ${this.config.clientAuthMaxFailures} failed authentications`);
          await this.audit.record('client.locked', {
            clientId,
            remoteAddress: batch.get(clientId),
            details: { failures: this.config.clientAuthMaxFailures, locked_until: until.toISOString() },
          });
        }
        if (started.length > 0) await this.changes.publish('client-lockouts');
        // Lockouts another instance started first: take their end from PostgreSQL.
        if (started.length < batch.size) void this.reload();
      } catch (error) {
        // The lockouts hold here meanwhile; the next reload writes them again.
        for (const [clientId, address] of batch) if (!this.unwritten.has(clientId)) this.unwritten.set(clientId, address);
        this.logger.warn(`could not record client lockouts: ${(error as Error).message}`);
        return;
      } finally {
        this.writingIds.clear();
      }
    }
  }

  /** Re-reads the active lockouts (notifications and the safety-net timer); keeps those not written yet. */
  private reload(): Promise<void> {
    return this.reloads.request();
  }

  private async readActiveLocks(): Promise<void> {
    try {
      if (this.unwritten.size > 0) this.writing ??= this.writeLocks().finally(() => (this.writing = undefined));
      const since = Date.now();
      const rows: { client_id: string; locked_until: Date }[] = await this.db.query(ACTIVE_LOCKS);
      const locks = new Map(rows.map((row) => [row.client_id, row.locked_until.getTime()]));
      for (const [clientId, until] of this.locks) {
        const pending = this.unwritten.has(clientId) || this.writingIds.has(clientId) || (this.writtenAt.get(clientId) ?? 0) >= since;
        if (pending && !locks.has(clientId)) locks.set(clientId, until);
      }
      for (const [clientId, at] of this.writtenAt) if (at < since) this.writtenAt.delete(clientId);
      this.locks = locks;
    } catch {
      // PostgreSQL unreachable: keep what this instance knows; the next round retries.
    }
  }
}
