import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.factory';
import { loadConfig } from '../../src/config/configuration';
import { CLEANUP_LOCK_ID, ExpiredTokenCleanup, purgeStatements } from '../../src/tokens/expired-token-cleanup';
import { startTestApp, TestApp, TestInstance } from '../helpers/test-app';

const TABLES = ['revocations', 'refresh_tokens', 'grants', 'authorization_codes', 'sessions', 'rate_limits', 'backchannel_logout_deliveries'];

/** Expired rows are purged in bounded batches, oldest first, by one instance at a time. */
describe('expired-row cleanup', () => {
  let gatehouse: TestApp;
  let db: DataSource;
  /** An instance whose rounds are small: 3 batches of 100 rows per statement. */
  let small: TestInstance;
  /** An instance whose rounds are slow: batches of 50 rows with 100 ms between them. */
  let slow: TestInstance;

  beforeAll(async () => {
    gatehouse = await startTestApp();
    db = gatehouse.app.get(DataSource);
    small = await gatehouse.startInstance({ env: { MAINTENANCE_BATCH_SIZE: '100', MAINTENANCE_MAX_BATCHES: '3', DATABASE_POOL_SIZE: '2' } });
    slow = await gatehouse.startInstance({ env: { MAINTENANCE_BATCH_SIZE: '50', MAINTENANCE_BATCH_PAUSE_MS: '100', DATABASE_POOL_SIZE: '2' } });
  });
  afterAll(() => gatehouse?.close());
  beforeEach(async () => {
    for (const table of TABLES) await db.query(`DELETE FROM ${table}`);
  });

  const cleanup = (instance: TestInstance = gatehouse) => instance.app.get(ExpiredTokenCleanup);
  const count = async (table: string) => Number(((await db.query(`SELECT count(*) AS n FROM ${table}`)) as { n: string }[])[0].n);
  const column = async (sql: string) => ((await db.query(sql)) as { v: string }[]).map((row) => row.v).sort();
  const insertGrant = async (expiresAt: string) =>
    (
      (await db.query(
        `INSERT INTO grants (client_id, subject, scopes, grant_type, expires_at) VALUES ('c', 's', '{}', 'password', ${expiresAt}) RETURNING id`,
      )) as { id: string }[]
    )[0].id;
  const expiredRevocations = (rows: number) =>
    db.query(`INSERT INTO revocations (kind, id, expires_at) SELECT 'token', 'old-' || g, now() - g * interval '1 minute' FROM generate_series(1, ${rows}) g`);
  /** Whether some connection of this test's database holds the cleanup lock. */
  const lockHeld = async () =>
    Number(
      (
        (await db.query(
          `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [CLEANUP_LOCK_ID],
        )) as { n: string }[]
      )[0].n,
    ) > 0;

  it('purges what has expired in every table that expires, and keeps what has not', async () => {
    await expiredRevocations(12000);
    await db.query(`INSERT INTO revocations (kind, id, expires_at) VALUES ('token', 'live', now() + interval '1 hour')`);
    const oldGrant = await insertGrant(`now() - interval '2 days'`);
    const recentlyExpiredGrant = await insertGrant(`now() - interval '2 hours'`);
    const liveGrant = await insertGrant(`now() + interval '1 day'`);
    await db.query(
      `INSERT INTO refresh_tokens (token_hash, grant_id, generation, expires_at) VALUES ('expired', $1, 1, now() - interval '1 second'), ('live', $1, 2, now() + interval '1 day')`,
      [liveGrant],
    );
    await db.query(`INSERT INTO refresh_tokens (token_hash, grant_id, generation, expires_at) VALUES ('of-old-grant', $1, 1, now() + interval '1 day')`, [
      oldGrant,
    ]);
    const code = (name: string, expiresAt: string) =>
      db.query(
        `INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, redirect_uri_given, scopes, subject, session_id, auth_time, grant_id, expires_at)
         VALUES ($1, 'c', 'https://app.example/cb', true, '{}', gen_random_uuid(), gen_random_uuid(), now(), gen_random_uuid(), ${expiresAt})`,
        [name],
      );
    await code('expired-2-hours-ago', `now() - interval '2 hours'`);
    await code('expired-10-minutes-ago', `now() - interval '10 minutes'`);
    await code('live', `now() + interval '1 minute'`);
    const session = (name: string, expiresAt: string, endedAt: string) =>
      db.query(`INSERT INTO sessions (token_hash, csrf_token, expires_at, ended_at) VALUES ($1, 'csrf', ${expiresAt}, ${endedAt})`, [name]);
    await session('expired', `now() - interval '1 minute'`, 'NULL');
    await session('ended-2-days-ago', `now() + interval '1 hour'`, `now() - interval '2 days'`);
    await session('ended-1-hour-ago', `now() + interval '1 hour'`, `now() - interval '1 hour'`);
    await session('live', `now() + interval '1 hour'`, 'NULL');
    await db.query(
      `INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES ('old', 0, 3, now() - interval '1 second'), ('current', 1, 1, now() + interval '1 minute')`,
    );
    await db.query(
      `INSERT INTO backchannel_logout_deliveries (client_id, uri, logout_token, expires_at) VALUES
         ('c', 'https://app.example/logout', 'expired', now() - interval '1 second'), ('c', 'https://app.example/logout', 'live', now() + interval '1 minute')`,
    );

    const deleted = await cleanup().run();

    expect(deleted).toEqual({
      revocations: 12000,
      refresh_tokens: 1,
      authorization_codes: 1,
      sessions: 2,
      rate_limits: 1,
      grants: 1,
      backchannel_logout_deliveries: 1,
    });
    expect(await column(`SELECT id AS v FROM revocations`)).toEqual(['live']);
    expect(await column(`SELECT id AS v FROM grants`)).toEqual([recentlyExpiredGrant, liveGrant].sort());
    // The old grant's token went with it (ON DELETE CASCADE).
    expect(await column(`SELECT token_hash AS v FROM refresh_tokens`)).toEqual(['live']);
    expect(await column(`SELECT code_hash AS v FROM authorization_codes`)).toEqual(['expired-10-minutes-ago', 'live']);
    expect(await column(`SELECT token_hash AS v FROM sessions`)).toEqual(['ended-1-hour-ago', 'live']);
    expect(await column(`SELECT key AS v FROM rate_limits`)).toEqual(['current']);
    expect(await column(`SELECT logout_token AS v FROM backchannel_logout_deliveries`)).toEqual(['live']);
  });

  it('deletes at most MAINTENANCE_MAX_BATCHES batches of MAINTENANCE_BATCH_SIZE rows per table and round, the oldest first; later rounds take the rest', async () => {
    await expiredRevocations(1000); // old-1 expired a minute ago, old-1000 1000 minutes ago

    expect((await cleanup(small).run()).revocations).toBe(300);
    expect(await count('revocations')).toBe(700);
    // The 300 that expired longest ago went first.
    expect(await column(`SELECT id AS v FROM revocations WHERE substr(id, 5)::integer > 700`)).toEqual([]);

    const rounds: number[] = [];
    for (let round = 0; round < 4; round++) rounds.push((await cleanup(small).run()).revocations);
    expect(rounds).toEqual([300, 300, 100, 0]);
    expect(await count('revocations')).toBe(0);
  });

  it('with MAINTENANCE_BATCH_PAUSE_MS between batches, a round still purges all it may', async () => {
    await expiredRevocations(500);
    expect((await cleanup(slow).run()).revocations).toBe(500);
    expect(await count('revocations')).toBe(0);
  });

  it('runs one round at a time across instances: another instance skips the round at once instead of waiting', async () => {
    await expiredRevocations(500); // 10 batches of 50 with 100 ms pauses on the slow instance
    let slowDone = false;
    const slowRound = cleanup(slow)
      .run()
      .finally(() => (slowDone = true));
    const deadline = Date.now() + 10_000;
    while (!(await lockHeld()) && !slowDone && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await lockHeld()).toBe(true);

    expect(await cleanup().run()).toEqual({});
    expect(slowDone).toBe(false);

    expect((await slowRound).revocations).toBe(500);
    expect(await lockHeld()).toBe(false);
    expect(await count('revocations')).toBe(0);
  });

  it('rounds started together on three instances purge every row exactly once, with no error or deadlock', async () => {
    await expiredRevocations(3000);
    const grants = await Promise.all(Array.from({ length: 20 }, () => insertGrant(`now() - interval '2 days'`)));
    for (const grant of grants) {
      await db.query(`INSERT INTO refresh_tokens (token_hash, grant_id, generation, expires_at) VALUES ($1, $2, 1, now() - interval '1 hour')`, [
        `t-${grant}`,
        grant,
      ]);
    }

    const results = await Promise.all([cleanup(), cleanup(small), cleanup(slow)].map((job) => job.run()));

    const total = (table: string) => results.reduce((sum, result) => sum + (result[table] ?? 0), 0);
    // The small instance may take its bounded share; whatever is left goes to the next round.
    const left = await cleanup().run();
    expect(total('revocations') + left.revocations).toBe(3000);
    expect(total('refresh_tokens') + left.refresh_tokens).toBe(20);
    expect(total('grants') + left.grants).toBe(20);
    expect(await count('revocations')).toBe(0);
    expect(await count('grants')).toBe(0);
    expect(await lockHeld()).toBe(false);
  });

  it('skips the round while another instance holds the cleanup lock', async () => {
    const runner = small.app.get(DataSource).createQueryRunner();
    await runner.connect();
    await runner.query('SELECT pg_advisory_lock($1)', [CLEANUP_LOCK_ID]);
    try {
      await db.query(`INSERT INTO revocations (kind, id, expires_at) VALUES ('token', 'stale', now() - interval '1 minute')`);
      expect(await cleanup().run()).toEqual({});
      expect(await count('revocations')).toBe(1);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [CLEANUP_LOCK_ID]);
      await runner.release();
    }
    expect((await cleanup().run()).revocations).toBe(1);
  });

  it('finds every batch through an index on the expiry column, not by reading the table', async () => {
    // Enough rows for the planner to prefer an index to a sequential scan when it can.
    await db.query(
      `INSERT INTO sessions (token_hash, csrf_token, expires_at, ended_at)
       SELECT 's-' || g, 'csrf', now() + interval '1 hour', CASE WHEN g % 100 = 0 THEN now() - interval '2 days' END FROM generate_series(1, 20000) g`,
    );
    await db.query(
      `INSERT INTO backchannel_logout_deliveries (client_id, uri, logout_token, expires_at)
       SELECT 'c', 'https://app.example/logout', 't-' || g, now() + interval '1 minute' - CASE WHEN g % 100 = 0 THEN interval '1 hour' ELSE interval '0' END FROM generate_series(1, 20000) g`,
    );
    await db.query('ANALYZE sessions');
    await db.query('ANALYZE backchannel_logout_deliveries');
    for (const { table, sql } of purgeStatements(100).filter(({ table }) => ['sessions', 'backchannel_logout_deliveries'].includes(table))) {
      const plan = ((await db.query(`EXPLAIN ${sql}`)) as { 'QUERY PLAN': string }[]).map((row) => row['QUERY PLAN']).join('\n');
      expect(plan, plan).toMatch(new RegExp(`Index (Only )?Scan using ${table}_\\w+_idx`));
      expect(plan, plan).not.toMatch(/Seq Scan/);
    }
  });
});

describe('expired-row cleanup on the embedded database', () => {
  it('purges without the cross-instance lock (the embedded database has one process and one connection)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-cleanup-'));
    const app = await createApp(
      loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'error', MAINTENANCE_BATCH_SIZE: '10', MAINTENANCE_BATCH_PAUSE_MS: '1' }),
    );
    try {
      await app.init();
      const db = app.get(DataSource);
      await db.query(`INSERT INTO revocations (kind, id, expires_at) SELECT 'token', 'old-' || g, now() - interval '1 minute' FROM generate_series(1, 25) g`);
      await db.query(`INSERT INTO revocations (kind, id, expires_at) VALUES ('token', 'live', now() + interval '1 hour')`);

      expect((await app.get(ExpiredTokenCleanup).run()).revocations).toBe(25);
      expect(((await db.query(`SELECT id FROM revocations`)) as { id: string }[]).map((row) => row.id)).toEqual(['live']);
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
