import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { KeyStore } from '../keys/key-store';

/** Back-Channel Logout 1.0 §2.4: the event that makes a JWT a logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Attempts per delivery before giving up. */
export const BACKCHANNEL_MAX_ATTEMPTS = 3;
/** Wait before the 2nd and 3rd attempt. */
const BACKOFF_MS = [1000, 4000];
/** How long one POST may take (§2.8: the OP must not wait long for an RP). */
const REQUEST_TIMEOUT_MS = 5000;
/** A claimed delivery whose instance died is picked up again after this. */
const CLAIM_MS = 30_000;
/** Logout tokens live this long: retries happen within it (§2.4 recommends a short lifetime). */
const LOGOUT_TOKEN_TTL_SECONDS = 120;
const BATCH = 20;

export interface BackchannelTarget {
  clientId: string;
  uri: string;
  /** The subject as that client knows it (pairwise or public). */
  subject: string;
  sessionId: string;
}

interface DeliveryRow {
  id: string;
  client_id: string;
  uri: string;
  logout_token: string;
  attempts: number;
}

/**
 * Sends logout tokens to clients' backchannel_logout_uri, never on the user's request
 * path: deliveries are rows in PostgreSQL that any instance claims (FOR UPDATE SKIP
 * LOCKED), sends with a short timeout and retries with backoff, so a crash of the
 * instance that queued them only delays them. Failures are logged with the client and
 * status, never the token.
 */
@Injectable()
export class BackchannelLogoutSender implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(BackchannelLogoutSender.name);
  private timer: NodeJS.Timeout | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly keys: KeyStore,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    // The safety net: deliveries queued by an instance that stopped, or whose retry timer was lost.
    this.timer = setInterval(() => this.kick(), Math.max(this.config.syncIntervalMs, 1000));
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.abort.abort();
    await Promise.allSettled([this.running, ...this.inFlight]);
  }

  /** The signed logout token for one client (§2.4): iss, aud, iat, exp, jti, sub, sid, events; never a nonce. */
  logoutToken(target: BackchannelTarget): string {
    const now = Math.floor(Date.now() / 1000);
    return this.keys.sign(
      'RS256',
      {
        iss: this.config.issuer,
        aud: target.clientId,
        iat: now,
        exp: now + LOGOUT_TOKEN_TTL_SECONDS,
        jti: randomUUID(),
        sub: target.subject,
        sid: target.sessionId,
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      },
      'logout+jwt',
    ).token;
  }

  /** Queues one delivery per target and starts sending in the background. */
  async enqueue(targets: readonly BackchannelTarget[]): Promise<void> {
    if (targets.length === 0) return;
    const expiresAt = new Date(Date.now() + LOGOUT_TOKEN_TTL_SECONDS * 1000);
    for (const target of targets) {
      await this.db.query(`INSERT INTO backchannel_logout_deliveries (client_id, uri, logout_token, expires_at) VALUES ($1, $2, $3, $4)`, [
        target.clientId,
        target.uri,
        this.logoutToken(target),
        expiresAt,
      ]);
    }
    this.kick();
  }

  /** Sends whatever is due; never throws (it runs detached from any request). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((error: Error) => this.logger.warn(`back-channel logout: could not read pending deliveries: ${error.message}`))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Waits until nothing is being sent (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.inFlight.size > 0) await Promise.allSettled([this.running, ...this.inFlight]);
  }

  private async drain(): Promise<void> {
    // Expired deliveries are never claimed; the expired-row cleanup deletes them in bounded batches.
    // Bounded: what is left waits for the next kick.
    for (let batch = 0; batch < 50; batch++) {
      if (this.stopped) return;
      const rows: DeliveryRow[] = await this.db.query(
        // A CTE so that the driver returns the rows (a bare UPDATE … RETURNING comes back as [rows, count]).
        `WITH claimed AS (
           UPDATE backchannel_logout_deliveries d SET claimed_until = now() + $1::integer * interval '1 millisecond', attempts = d.attempts + 1
           WHERE d.id IN (
             SELECT id FROM backchannel_logout_deliveries
             WHERE next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until <= now()) AND expires_at > now()
             ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING d.id, d.client_id, d.uri, d.logout_token, d.attempts
         )
         SELECT id, client_id, uri, logout_token, attempts FROM claimed`,
        [CLAIM_MS, BATCH],
      );
      if (rows.length === 0) return;
      for (const row of rows) {
        const delivery = this.deliver(row).finally(() => this.inFlight.delete(delivery));
        this.inFlight.add(delivery);
      }
    }
  }

  private async deliver(row: DeliveryRow): Promise<void> {
    const failure = await this.post(row);
    try {
      if (failure === undefined) {
        await this.db.query(`DELETE FROM backchannel_logout_deliveries WHERE id = $1`, [row.id]);
        return;
      }
      if (row.attempts >= BACKCHANNEL_MAX_ATTEMPTS) {
        this.logger.warn(`back-channel logout to client ${row.client_id} failed ${row.attempts} times, giving up: ${failure}`);
        await this.db.query(`DELETE FROM backchannel_logout_deliveries WHERE id = $1`, [row.id]);
        return;
      }
      const delay = BACKOFF_MS[Math.min(row.attempts - 1, BACKOFF_MS.length - 1)];
      this.logger.warn(`back-channel logout to client ${row.client_id} failed (attempt ${row.attempts}), retrying in ${delay} ms: ${failure}`);
      await this.db.query(
        `UPDATE backchannel_logout_deliveries SET claimed_until = NULL, next_attempt_at = now() + $2::integer * interval '1 millisecond' WHERE id = $1`,
        [row.id, delay],
      );
      if (this.stopped) return;
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.kick();
      }, delay + 50);
      timer.unref();
      this.retryTimers.add(timer);
    } catch (error) {
      this.logger.warn(`back-channel logout to client ${row.client_id}: could not record the outcome: ${(error as Error).message}`);
    }
  }

  /** POSTs the logout token; undefined on success (2xx), else why it failed (no token, no body). */
  private async post(row: DeliveryRow): Promise<string | undefined> {
    try {
      const response = await fetch(row.uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ logout_token: row.logout_token }).toString(),
        redirect: 'manual',
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.ok ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      const name = (error as Error).name;
      return name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS} ms` : `${name}: ${(error as Error).message}`;
    }
  }
}
