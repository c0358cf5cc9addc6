import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/common/secret-box';
import { ADMIN_DATABASE_URL, CliResult, createDatabase, freePort, newKeyEncryptionKey, runCli, runScript } from '../helpers/processes';
import { startInstance } from '../helpers/test-app';

/** What bench:seed is asked for here, and the rows each table must then hold. */
const SIZES = { SEED_USERS: '300', SEED_CLIENTS: '60', SEED_GRANTS: '3000', SEED_BATCH: '700' };
const ROWS = {
  users: 300,
  clients: 60,
  sessions: 300,
  consents: 300,
  grants: 3000,
  refresh_tokens: 3000,
  authorization_codes: 30,
  revocations: 30,
  rate_limits: 30,
  backchannel_logout_deliveries: 3,
  audit_events: 300,
};

/** bench:seed, bench:explain, bench:purge and bench:data-growth, end to end on a tiny seed (no timing is asserted). */
describe('data-growth benchmark tools on a tiny seed', () => {
  const database = `gh_test_seed_${randomBytes(6).toString('hex')}`;
  const results = mkdtempSync(join(tmpdir(), 'gatehouse-seed-'));
  const env = { BENCH_DATABASE_URL: ADMIN_DATABASE_URL, SEED_DATABASE: database, BENCH_RESULTS_DIR: results };
  const url = (() => {
    const parsed = new URL(ADMIN_DATABASE_URL);
    parsed.pathname = `/${database}`;
    return parsed.toString();
  })();
  let seeded: CliResult;
  let summary: { database_url: string; key_encryption_key: string; password: string; rows: Record<string, number>; complete: boolean; seeded_at: string };

  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  };
  const counts = async () =>
    Object.fromEntries(
      (
        await query<{ t: string; n: string }>(
          Object.keys(ROWS)
            .map((table) => `SELECT '${table}' AS t, count(*) AS n FROM ${table}`)
            .join(' UNION ALL '),
        )
      ).map((row) => [row.t, Number(row.n)]),
    );
  /** The rows of every table but the audit log, which is append-only: what a tool logs stays. */
  const seedRows = async () => {
    const { audit_events: _audit, ...rest } = await counts();
    return rest;
  };
  const { audit_events: _auditRows, ...SEED_ROWS } = ROWS;
  const expectSucceeded = (result: CliResult) => expect(result.code, `${result.stderr.slice(-3000)}\n${result.stdout.slice(-2000)}`).toBe(0);

  beforeAll(async () => {
    seeded = await runScript('bench/seed.mjs', [], { ...env, ...SIZES });
    expectSucceeded(seeded);
    summary = JSON.parse(seeded.stdout.trim().split('\n').pop()!);
  }, 120_000);

  afterAll(async () => {
    const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
    rmSync(results, { recursive: true, force: true });
  });

  it('seeds every table with the rows asked for, reports the time per table, and prints the key-encryption key to use', async () => {
    expect(summary).toMatchObject({ complete: true, rows: ROWS, password: 'seed-password-123' });
    expect(summary.database_url).toBe(url);
    expect(summary.key_encryption_key).toMatch(/^[0-9a-f]{64}$/);
    // Gatehouse's own start for the migrations logs a few audit events (its first signing keys) besides the seeded ones.
    expect(await seedRows()).toEqual(SEED_ROWS);
    expect((await counts()).audit_events).toBeGreaterThanOrEqual(ROWS.audit_events);
    for (const table of Object.keys(ROWS)) expect(seeded.stderr).toMatch(new RegExp(`\\[seed\\] ${table} +[\\d,]+ rows +[\\d.]+ s`));
    expect(JSON.parse(readFileSync(join(results, `seed-${database}.json`), 'utf8')).key_encryption_key).toBe(summary.key_encryption_key);
  });

  it('keeps the schema of the migrations: the same indexes and constraints as a freshly migrated database', async () => {
    const fresh = await createDatabase();
    try {
      const migrated = await runCli(['migrate'], { DATABASE_URL: fresh.url, KEY_ENCRYPTION_KEY: newKeyEncryptionKey(), LOG_LEVEL: 'warn' });
      expect(migrated.code, migrated.stderr).toBe(0);
      const schema = async (connectionString: string) => {
        const client = new Client({ connectionString });
        await client.connect();
        try {
          const indexes = (await client.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`)).rows.map((row) => row.indexdef);
          const constraints = (
            await client.query(
              `SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS c FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`,
            )
          ).rows.map((row) => row.c);
          return { indexes, constraints };
        } finally {
          await client.end();
        }
      };
      expect(await schema(url)).toEqual(await schema(fresh.url));
    } finally {
      await fresh.drop();
    }
  });

  it('seeds rows the hot paths use as they are: references hold, a seeded user signs in with the seed password through a seeded client, and refreshes', async () => {
    const [orphans] = await query<{ clients: string; users: string; sessions: string }>(
      `SELECT (SELECT count(*) FROM grants g WHERE NOT EXISTS (SELECT 1 FROM clients c WHERE c.client_id = g.client_id)) AS clients,
              (SELECT count(*) FROM grants g WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id::text = g.subject)) AS users,
              (SELECT count(*) FROM grants g WHERE g.session_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id::text = g.session_id)) AS sessions`,
    );
    expect(orphans).toEqual({ clients: '0', users: '0', sessions: '0' });
    const [shares] = await query<{ revoked: string; expired: string; rotated: string }>(
      `SELECT (SELECT count(*) FROM grants WHERE revoked_at IS NOT NULL) AS revoked, (SELECT count(*) FROM grants WHERE expires_at < now()) AS expired,
              (SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NOT NULL) AS rotated`,
    );
    for (const share of Object.values(shares)) expect(Number(share)).toBeGreaterThan(0);

    const [client] = await query<{ client_id: string; secret_sealed: string }>(
      `SELECT client_id, secret_sealed FROM clients WHERE grant_types = '{password,refresh_token}' AND token_endpoint_auth_method = 'client_secret_basic' LIMIT 1`,
    );
    const [user] = await query<{ username: string }>(`SELECT username FROM users WHERE NOT disabled ORDER BY username LIMIT 1`);
    const secret = new SecretBox(Buffer.from(summary.key_encryption_key, 'hex')).open(client.secret_sealed, `client-secret:${client.client_id}`);
    const instance = await startInstance({ databaseUrl: url, keyEncryptionKey: summary.key_encryption_key, env: { DATABASE_POOL_SIZE: '2' } });
    try {
      const token = (body: Record<string, string>) =>
        fetch(`${instance.baseUrl}/oauth/token`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${client.client_id}:${secret}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: new URLSearchParams(body),
        });
      const signedIn = await token({ grant_type: 'password', username: user.username, password: summary.password, scope: 'openid notes:read' });
      const tokens = (await signedIn.json()) as { refresh_token: string };
      expect(signedIn.status, JSON.stringify(tokens)).toBe(200);
      expect((await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).status).toBe(200);
    } finally {
      await instance.close();
      // What the sign-in added, so that the seed stays as seeded.
      await query(`DELETE FROM grants WHERE client_id = $1 AND created_at > $2`, [client.client_id, summary.seeded_at]);
      await query(`DELETE FROM rate_limits WHERE window_start >= $1 AND key NOT LIKE '%:seed-%'`, [
        Math.floor(new Date(summary.seeded_at).getTime() / 60_000) * 60_000,
      ]);
    }
    expect(await seedRows()).toEqual(SEED_ROWS);
  });

  it('leaves an existing seed of the same size alone, and refuses another size without --replace', async () => {
    const before = await counts();
    const again = await runScript('bench/seed.mjs', [], { ...env, ...SIZES });
    expectSucceeded(again);
    expect(again.stderr).toContain('already holds this seed');
    const other = await runScript('bench/seed.mjs', ['--users', '301'], { ...env, ...SIZES });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('--replace');
    expect(await counts()).toEqual(before);
  });

  it('explains every hot-path query and cleanup statement on the seed, and leaves the seed as it was', async () => {
    const explained = await runScript('bench/explain.mjs', ['--min-rows', '1000000'], env);
    expectSucceeded(explained);
    for (const step of [
      'client_credentials (client lookup)',
      'password grant (user by username, grant creation)',
      'refresh-token rotation',
      'introspection of a refresh token',
      'revocation poll by seq',
      'authorize (session lookup, remembered consent, code issue)',
      'session touch',
      'authorization code redemption',
      'cleanup job: one batch of grants',
      'foreign key: purging a grant deletes its refresh tokens',
    ]) {
      expect(explained.stdout).toContain(step);
    }
    expect(readFileSync(join(results, `explain-${database}.md`), 'utf8')).toMatch(/Index Scan using refresh_tokens_pkey/);
    expect(await seedRows()).toEqual(SEED_ROWS);
  }, 120_000);

  it('purges the seed’s expired rows on a copy and reports the rate, leaving the seed itself untouched', async () => {
    const purged = await runScript('bench/purge.mjs', ['--seconds', '60'], env);
    expectSucceeded(purged);
    const result = JSON.parse(purged.stdout.trim().split('\n').pop()!) as { rows: number; rows_per_second: number; backlog_before: Record<string, number> };
    const backlog = Object.values(result.backlog_before).reduce((sum, rows) => sum + rows, 0);
    expect(backlog).toBeGreaterThan(0);
    // Every row expired at the start went (and whatever expired meanwhile).
    expect(result.rows).toBeGreaterThanOrEqual(backlog);
    expect(result.rows_per_second).toBeGreaterThan(0);
    expect(await seedRows()).toEqual(SEED_ROWS);
  }, 120_000);

  it('runs the benchmark on an empty database and on the seed in turn and prints both figures per scenario, and leaves the seed as it was', async () => {
    const compared = await runScript('bench/data-growth.mjs', ['--rounds', '1'], {
      ...env,
      BENCH_DURATION: '1',
      BENCH_WARMUP: '0',
      BENCH_TOKENS: '5',
      BENCH_SCENARIOS: 'client_credentials,metadata',
      BENCH_PORT: String(await freePort()),
    });
    expectSucceeded(compared);
    const passes = compared.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { side: string; scenario: string });
    expect(passes.map((row) => `${row.side} ${row.scenario}`).sort()).toEqual([
      'empty client_credentials',
      'empty metadata',
      'seeded client_credentials',
      'seeded metadata',
    ]);
    expect(compared.stdout).toMatch(/\| scenario \| unit \| empty \(median\) \| seeded \(median\) \| change \|/);
    expect(compared.stdout).toMatch(/\| client_credentials \| req\/s \|/);
    expect(existsSync(join(results, 'data-growth.json'))).toBe(true);
    expect(await seedRows()).toEqual(SEED_ROWS);
  }, 180_000);
});
