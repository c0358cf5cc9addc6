import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase, newKeyEncryptionKey, runCli, runServerToExit, startServer, tokenRequest } from '../helpers/processes';

describe('start-up configuration', () => {
  it.each([
    [{ PORT: 'abc' }, /^Invalid configuration: PORT /],
    [{ DATABASE_URL: 'mysql://db/x', KEY_ENCRYPTION_KEY: 'a'.repeat(64) }, /^Invalid configuration: DATABASE_URL /],
    [{ NODE_ENV: 'production', DATABASE_URL: 'postgres://u:p@127.0.0.1:1/db' }, /^Invalid configuration: KEY_ENCRYPTION_KEY /],
    [{ KEY_ENCRYPTION_KEY: 'tooshort' }, /^Invalid configuration: KEY_ENCRYPTION_KEY /],
    [{ ACCESS_TOKEN_TTL: 'ten minutes' }, /^Invalid configuration: ACCESS_TOKEN_TTL /],
    [{ ISSUER: 'not a url' }, /^Invalid configuration: ISSUER /],
  ])('a malformed setting (%j) stops the process with one line naming it', async (env, message) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
    const result = await runServerToExit({ DATA_DIR: dataDir, ...env });
    rmSync(dataDir, { recursive: true, force: true });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(message);
  });
});

describe('embedded database (no DATABASE_URL)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-embedded-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts on an embedded PostgreSQL in the data folder, says so first, serves the CLI through the running server, refuses a second server, and keeps data across restarts', async () => {
    const env = { DATA_DIR: dataDir };
    const server = await startServer(env);
    try {
      const firstLine = server.output().split('\n')[0];
      expect(firstLine).toMatch(/embedded PostgreSQL/);
      expect(server.output()).toMatch(/KEY_ENCRYPTION_KEY is not set/);

      const created = await runCli(['clients', 'create'], env, JSON.stringify({ grant_types: ['client_credentials'] }));
      expect(created.code, created.stderr).toBe(0);
      const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
      const basic = { id: client.client_id, secret: client.client_secret };
      expect((await tokenRequest(server.url, { grant_type: 'client_credentials' }, basic)).status).toBe(200);

      const second = await runServerToExit({ ...env, PORT: '0' });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/in use by process \d+/);

      expect(await server.stop()).toBe(0);
      const restarted = await startServer(env);
      try {
        expect((await tokenRequest(restarted.url, { grant_type: 'client_credentials' }, basic)).status).toBe(200);
      } finally {
        await restarted.stop();
      }
    } finally {
      await server.stop();
    }
  }, 90_000);
});

describe('PostgreSQL server (DATABASE_URL)', () => {
  it('starts with a pool of one connection: the migrations run on the connection that holds their lock', async () => {
    const database = await createDatabase();
    try {
      const server = await startServer({ DATABASE_URL: database.url, KEY_ENCRYPTION_KEY: newKeyEncryptionKey(), DATABASE_POOL_SIZE: '1' }, undefined, 120_000);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      expect(await server.stop()).toBe(0);
    } finally {
      await database.drop();
    }
  }, 150_000);
});
