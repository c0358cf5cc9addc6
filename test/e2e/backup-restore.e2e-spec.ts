import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Client as PgClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyEncryptionKeyId } from '../../src/common/secret-box';
import {
  ADMIN_DATABASE_URL,
  createDatabase,
  newKeyEncryptionKey,
  runCli,
  runServerToExit,
  ServerProcess,
  startServer,
  tokenRequest,
} from '../helpers/processes';

const run = promisify(execFile);
const ISSUER = 'http://gatehouse.test';

/** The major version of a PostgreSQL tool (`pg_dump (PostgreSQL) 15.18 ...` → 15), or undefined when it does not run. */
async function toolMajor(path: string): Promise<number | undefined> {
  try {
    const { stdout } = await run(path, ['--version']);
    const match = /\(PostgreSQL\)\s+(\d+)/.exec(stdout);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * pg_dump and pg_restore for the test server's major version: Debian's versioned binaries
 * first, then whatever is on PATH if it is that version or newer (pg_dump refuses newer servers).
 */
async function postgresTools(): Promise<{ pgDump: string; pgRestore: string }> {
  const db = new PgClient({ connectionString: ADMIN_DATABASE_URL });
  await db.connect();
  const major = Math.floor(Number((await db.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0].v) / 10_000);
  await db.end();
  const find = async (tool: string): Promise<string> => {
    for (const candidate of [`/usr/lib/postgresql/${major}/bin/${tool}`, tool]) {
      if (candidate.includes('/') && !existsSync(candidate)) continue;
      const version = await toolMajor(candidate);
      if (version !== undefined && version >= major) return candidate;
    }
    throw new Error(
      `${tool} for PostgreSQL ${major} (or newer) not found: install the postgresql-client-${major} package, or put a ${tool} of version ${major} or newer on PATH`,
    );
  };
  return { pgDump: await find('pg_dump'), pgRestore: await find('pg_restore') };
}

const apiStatus = async (server: ServerProcess, token: string) =>
  (await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status;

/**
 * The README's backup procedure, run for real: pg_dump -Fc of a live database, pg_restore
 * into a fresh one, a new server on it with the same key-encryption key. Tokens issued
 * before the backup keep working; what happened after it is lost.
 */
describe('backup with pg_dump and restore with pg_restore into a fresh database', { timeout: 180_000 }, () => {
  const workDir = mkdtempSync(join(tmpdir(), 'gatehouse-backup-'));
  const dumpFile = join(workDir, 'gatehouse.dump');
  const keyEncryptionKey = newKeyEncryptionKey();
  let source: { url: string; drop: () => Promise<void> } | undefined;
  let restored: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  let machine: { id: string; secret: string };
  let app: { id: string; secret: string };
  let accessToken: string;
  let refreshToken: string;
  let idToken: string;
  let afterBackup: { refreshToken: string; revokedAccessToken: string };

  const login = (target: ServerProcess) =>
    tokenRequest(target.url, { grant_type: 'password', username: 'erin', password: 'erin-password-1', scope: 'openid notes:read' }, app);

  beforeAll(async () => {
    const tools = await postgresTools();
    source = await createDatabase();
    const env = { DATABASE_URL: source.url, KEY_ENCRYPTION_KEY: keyEncryptionKey, ISSUER, DATABASE_POOL_SIZE: '3' };
    const original = await startServer(env);
    try {
      const create = async (metadata: object) => {
        const result = await runCli(['clients', 'create'], env, JSON.stringify(metadata));
        expect(result.code, result.stderr).toBe(0);
        const client = JSON.parse(result.stdout) as { client_id: string; client_secret: string };
        return { id: client.client_id, secret: client.client_secret };
      };
      machine = await create({ grant_types: ['client_credentials'], scope: 'notes:read' });
      app = await create({ grant_types: ['password'], scope: 'openid notes:read' });
      const user = await runCli(['users', 'create'], env, JSON.stringify({ username: 'erin', password: 'erin-password-1', email: 'erin@example.com' }));
      expect(user.code, user.stderr).toBe(0);

      accessToken = (await tokenRequest(original.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string;
      const signedIn = await login(original);
      expect(signedIn.status).toBe(200);
      refreshToken = signedIn.body.refresh_token as string;
      idToken = signedIn.body.id_token as string;
      const laterToken = (await tokenRequest(original.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string;

      // The backup, taken while the server runs (pg_dump reads one consistent snapshot).
      await run(tools.pgDump, ['--format=custom', '--no-owner', `--file=${dumpFile}`, source.url]);

      // After the backup: a refresh rotates the token, a revocation. Neither is in the dump.
      const rotated = await tokenRequest(original.url, { grant_type: 'refresh_token', refresh_token: refreshToken }, app);
      expect(rotated.status).toBe(200);
      const revoked = await fetch(`${original.url}/oauth/revoke`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${machine.id}:${machine.secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token: laterToken }),
      });
      expect(revoked.status).toBe(200);
      const deadline = Date.now() + 3000;
      while ((await apiStatus(original, laterToken)) !== 401) {
        if (Date.now() > deadline) throw new Error('the revoked token was still accepted before the restore');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      afterBackup = { refreshToken: rotated.body.refresh_token as string, revokedAccessToken: laterToken };
    } finally {
      await original.stop();
    }
    // The original database is gone: only the dump and the key remain.
    await source.drop();
    source = undefined;

    restored = await createDatabase();
    await run(tools.pgRestore, ['--no-owner', '--exit-on-error', `--dbname=${restored.url}`, dumpFile]);
    server = await startServer({ DATABASE_URL: restored.url, KEY_ENCRYPTION_KEY: keyEncryptionKey, ISSUER, DATABASE_POOL_SIZE: '3' });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    await source?.drop();
    await restored?.drop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('pg_dump wrote a custom-format archive', () => {
    expect(statSync(dumpFile).size).toBeGreaterThan(0);
  });

  it('an access token issued before the backup validates at /api/me after the restore (its signing key is in the backup)', async () => {
    expect(await apiStatus(server, accessToken)).toBe(200);
  });

  it('an ID token issued before the backup verifies against the restored server’s JWKS', async () => {
    const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`)), { issuer: ISSUER, audience: app.id });
    expect(payload.sub).toEqual(expect.any(String));
  });

  it('the client authenticates with its secret and gets tokens that validate', async () => {
    const issued = await tokenRequest(server.url, { grant_type: 'client_credentials' }, machine);
    expect(issued.status).toBe(200);
    expect(await apiStatus(server, issued.body.access_token as string)).toBe(200);
  });

  it('the user signs in with their password', async () => {
    const signedIn = await login(server);
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
    expect(await apiStatus(server, signedIn.body.access_token as string)).toBe(200);
  });

  it('a refresh token issued after the backup is lost: refused with invalid_grant', async () => {
    const result = await tokenRequest(server.url, { grant_type: 'refresh_token', refresh_token: afterBackup.refreshToken }, app);
    expect(result.status).toBe(400);
    expect(result.body.error).toBe('invalid_grant');
  });

  it('the refresh token from before the backup refreshes (in the backup it was never rotated)', async () => {
    const result = await tokenRequest(server.url, { grant_type: 'refresh_token', refresh_token: refreshToken }, app);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(await apiStatus(server, result.body.access_token as string)).toBe(200);
  });

  it('a revocation made after the backup is lost: the token validates again until it expires', async () => {
    expect(await apiStatus(server, afterBackup.revokedAccessToken)).toBe(200);
  });

  it('without its key-encryption key the backup is useless: a server with another key refuses to start, naming the key it needs', async () => {
    const result = await runServerToExit({ DATABASE_URL: restored.url, KEY_ENCRYPTION_KEY: newKeyEncryptionKey(), ISSUER, PORT: '0', HOST: '127.0.0.1' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`sealed with key-encryption key ${keyEncryptionKeyId(Buffer.from(keyEncryptionKey, 'hex'))}, which is not configured`);
  });
});
