import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditRecord } from '../../src/audit/audit-query';
import { createDatabase, newKeyEncryptionKey, runCli, ServerProcess, startServer, tokenRequest } from '../helpers/processes';

type AuditRow = AuditRecord;

const cli = async (args: string[], env: Record<string, string>, input?: object) => {
  const result = await runCli(args, env, input === undefined ? undefined : JSON.stringify(input));
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as unknown;
};
const auditList = async (env: Record<string, string>, ...options: string[]) => (await cli(['audit', 'list', ...options], env)) as AuditRow[];

/** `npm run cli -- audit list`, and what administrators do through the CLI, against a running server. */
describe('audit log from the CLI, over a PostgreSQL server', { timeout: 120_000 }, () => {
  let database: { url: string; drop: () => Promise<void> };
  let env: Record<string, string>;
  let server: ServerProcess;

  beforeAll(async () => {
    database = await createDatabase();
    env = { DATABASE_URL: database.url, KEY_ENCRYPTION_KEY: newKeyEncryptionKey(), KEY_PUBLISH_DELAY: '0s', SYNC_INTERVAL_MS: '500', DATABASE_POOL_SIZE: '3' };
    server = await startServer(env);
  });
  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('records what administrators change with the CLI as actor (and the account that ran it), never the secret it printed', async () => {
    const started = new Date(Date.now() - 1000).toISOString();
    const client = (await cli(['clients', 'create'], env, { client_name: 'Billing', grant_types: ['client_credentials'] })) as Record<string, string>;
    const rotated = (await cli(['clients', 'rotate-secret', client.client_id], env)) as Record<string, string>;
    const user = (await cli(['users', 'create'], env, { username: 'dora', password: 'dora-password-long-enough' })) as Record<string, string>;
    await cli(['users', 'disable', 'dora'], env);
    await cli(['users', 'enable', 'dora'], env);
    const keys = (await cli(['keys', 'rotate'], env)) as { kid: string }[];
    const audience = 'https://reports.example.com/api';
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
    await cli(['resources', 'register'], env, { audience, encryption_jwk: { ...jwk, kid: 'reports-1' } });
    await cli(['resources', 'delete', audience], env);
    await cli(['clients', 'delete', client.client_id], env);

    const rows = await auditList(env, '--since', started, '--limit', '1000');
    const administered = rows.filter((row) => row.actor === 'cli').reverse();
    expect(administered.map((row) => row.event)).toEqual([
      'client.created',
      'client.secret_rotated',
      'user.created',
      'user.disabled',
      'user.enabled',
      'key.rotated',
      'resource_server.registered',
      'resource_server.deleted',
      'client.deleted',
    ]);
    for (const row of administered) expect(row.details.os_user).toBe(userInfo().username);
    expect(administered[0].client_id).toBe(client.client_id);
    expect(administered[2].subject).toBe(user.sub);
    expect(administered[4].subject).toBe(user.sub);
    expect((administered[5].details.keys as { kid: string }[]).map((key) => key.kid)).toEqual(keys.map((key) => key.kid));
    expect(administered[6].details.audience).toBe(audience);

    const printed = JSON.stringify(rows);
    for (const secret of [client.client_secret, rotated.client_secret, 'dora-password-long-enough']) expect(printed).not.toContain(secret);
  });

  it('audit list filters by event (exact or prefix*), client, subject, time window and count, newest first', async () => {
    const client = (await cli(['clients', 'create'], env, { grant_types: ['client_credentials'], scope: 'notes:read' })) as Record<string, string>;
    for (let i = 0; i < 3; i++)
      expect((await tokenRequest(server.url, { grant_type: 'client_credentials' }, { id: client.client_id, secret: client.client_secret })).status).toBe(200);

    const issued = await auditList(env, '--event', 'token.issued', '--client', client.client_id);
    expect(issued).toHaveLength(3);
    expect(issued.every((row) => row.event === 'token.issued' && row.client_id === client.client_id && row.remote_address === '127.0.0.1')).toBe(true);
    expect(Number(issued[0].id)).toBeGreaterThan(Number(issued[1].id));

    const ofClient = await auditList(env, '--event', 'client.*', '--client', client.client_id);
    expect(ofClient.map((row) => row.event)).toEqual(['client.created']);
    expect(await auditList(env, '--client', client.client_id, '--limit', '2')).toHaveLength(2);
    expect(await auditList(env, '--subject', client.client_id, '--event', 'token.issued')).toHaveLength(3);
    expect(await auditList(env, '--client', client.client_id, '--until', '2000-01-01')).toEqual([]);
    expect(await auditList(env, '--client', client.client_id, '--since', '10m')).toHaveLength(4);

    const bad = await runCli(['audit', 'list', '--since', 'last tuesday'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--since must be an ISO 8601 date-time or a duration ago/);
  });
});

/**
 * The embedded database: the CLI reads the log through the running server's admin socket,
 * which writes what it still has queued first; SIGTERM writes the rest before the database
 * closes. The flush interval is a minute here, so nothing reaches the table by the timer.
 */
describe('audit log with the embedded database', { timeout: 180_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-'));
  const env = { DATA_DIR: dataDir, AUDIT_FLUSH_INTERVAL_MS: '60000' };
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('lists what was just done through the admin socket, and loses no event of a burst on SIGTERM', async () => {
    let server = await startServer(env);
    let client: Record<string, string>;
    const issued: string[] = [];
    try {
      client = (await cli(['clients', 'create'], env, { grant_types: ['client_credentials'] })) as Record<string, string>;
      const created = await auditList(env, '--event', 'client.created', '--client', client.client_id);
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({ actor: 'cli', details: { os_user: userInfo().username } });

      const basic = { id: client.client_id, secret: client.client_secret };
      const responses = await Promise.all(Array.from({ length: 120 }, () => tokenRequest(server.url, { grant_type: 'client_credentials' }, basic)));
      for (const response of responses) {
        expect(response.status).toBe(200);
        issued.push(response.body.access_token as string);
      }
      expect(await server.stop('SIGTERM')).toBe(0);
    } finally {
      await server.stop();
    }

    server = await startServer(env);
    try {
      const rows = await auditList(env, '--event', 'token.issued', '--client', client.client_id, '--limit', '1000');
      expect(rows).toHaveLength(issued.length);
      const jtis = new Set(rows.map((row) => row.details.jti));
      for (const token of issued) expect(jtis.has(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti)).toBe(true);
      const printed = JSON.stringify(rows);
      for (const token of issued) expect(printed).not.toContain(token);
      expect(printed).not.toContain(client.client_secret);
    } finally {
      await server.stop();
    }
  });
});
