import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExpiredTokenCleanup } from '../../src/tokens/expired-token-cleanup';
import { startTestApp, TestApp } from '../helpers/test-app';

/** Expired rows are purged in bounded batches by one instance at a time. */
describe('expired token cleanup', () => {
  let gatehouse: TestApp;
  let db: DataSource;

  beforeAll(async () => {
    gatehouse = await startTestApp();
    db = gatehouse.app.get(DataSource);
  });
  afterAll(() => gatehouse?.close());

  const count = async (table: string) => Number(((await db.query(`SELECT count(*) AS n FROM ${table}`)) as { n: string }[])[0].n);

  it('deletes expired deny-list entries, refresh tokens and long-expired grants, and keeps live ones', async () => {
    await db.query(`INSERT INTO revocations (kind, id, expires_at) SELECT 'token', 'old-' || g, now() - interval '1 minute' FROM generate_series(1, 12000) g`);
    await db.query(`INSERT INTO revocations (kind, id, expires_at) VALUES ('token', 'live', now() + interval '1 hour')`);
    const [{ id: oldGrant }] = (await db.query(
      `INSERT INTO grants (client_id, subject, scopes, grant_type, expires_at) VALUES ('c', 's', '{}', 'password', now() - interval '2 days') RETURNING id`,
    )) as { id: string }[];
    const [{ id: liveGrant }] = (await db.query(
      `INSERT INTO grants (client_id, subject, scopes, grant_type, expires_at) VALUES ('c', 's', '{}', 'password', now() + interval '1 day') RETURNING id`,
    )) as { id: string }[];
    await db.query(
      `INSERT INTO refresh_tokens (token_hash, grant_id, generation, expires_at) VALUES ('expired', $1, 1, now() - interval '1 second'), ('live', $1, 2, now() + interval '1 day')`,
      [liveGrant],
    );
    await db.query(`INSERT INTO refresh_tokens (token_hash, grant_id, generation, expires_at) VALUES ('old', $1, 1, now() - interval '2 days')`, [oldGrant]);

    const deleted = await gatehouse.app.get(ExpiredTokenCleanup).run();

    expect(deleted).toEqual({ revocations: 12000, refresh_tokens: 2, authorization_codes: 0, sessions: 0, rate_limits: 0, grants: 1 });
    expect(await count('revocations')).toBe(1);
    expect(((await db.query(`SELECT token_hash FROM refresh_tokens`)) as { token_hash: string }[]).map((row) => row.token_hash)).toEqual(['live']);
    expect(((await db.query(`SELECT id FROM grants`)) as { id: string }[]).map((row) => row.id)).toEqual([liveGrant]);
  });

  it('skips the round while another instance holds the cleanup lock', async () => {
    const other = await gatehouse.startInstance();
    const runner = other.app.get(DataSource).createQueryRunner();
    await runner.connect();
    await runner.query('SELECT pg_advisory_lock(7231002)');
    try {
      await db.query(`INSERT INTO revocations (kind, id, expires_at) VALUES ('token', 'stale', now() - interval '1 minute')`);
      expect(await gatehouse.app.get(ExpiredTokenCleanup).run()).toEqual({});
      expect(await count('revocations')).toBe(2);
    } finally {
      await runner.query('SELECT pg_advisory_unlock(7231002)');
      await runner.release();
    }
    expect((await gatehouse.app.get(ExpiredTokenCleanup).run()).revocations).toBe(1);
  });
});
