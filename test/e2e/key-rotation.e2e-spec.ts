import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, newKeyEncryptionKey, runCli, ServerProcess, startServer, tokenRequest } from '../helpers/processes';

const kidOf = (jwt: string): string => (JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()) as { kid: string }).kid;

/** Signing-key rollover with two instances over one PostgreSQL. */
describe('signing-key rotation across instances', { timeout: 60_000 }, () => {
  let database: { url: string; drop: () => Promise<void> };
  let env: Record<string, string>;
  let first: ServerProcess;
  let second: ServerProcess;
  let basic: { id: string; secret: string };

  beforeAll(async () => {
    database = await createDatabase();
    // One issuer for both instances, as behind a load balancer.
    env = {
      DATABASE_URL: database.url,
      KEY_ENCRYPTION_KEY: newKeyEncryptionKey(),
      KEY_PUBLISH_DELAY: '3s',
      SYNC_INTERVAL_MS: '500',
      ISSUER: 'http://gatehouse.test',
    };
    first = await startServer(env);
    second = await startServer(env);
    const created = await runCli(['clients', 'create'], env, JSON.stringify({ grant_types: ['client_credentials'], scope: 'notes:read' }));
    const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    basic = { id: client.client_id, secret: client.client_secret };
  });

  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
    await database?.drop();
  });

  const issue = async (server: ServerProcess) => {
    const response = await tokenRequest(server.url, { grant_type: 'client_credentials' }, basic);
    expect(response.status).toBe(200);
    return response.body.access_token as string;
  };
  const jwksKids = async (server: ServerProcess) =>
    ((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; alg: string }[] }).keys;
  const accepted = async (server: ServerProcess, token: string) =>
    (await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('both instances generated nothing twice: they publish the same single key per algorithm', async () => {
    const [a, b] = await Promise.all([jwksKids(first), jwksKids(second)]);
    expect(a.map((key) => key.alg).sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
    expect(b.map((key) => key.kid).sort()).toEqual(a.map((key) => key.kid).sort());
  });

  it('a new key is published before it signs, then both instances sign with it, and the old key stays published with its tokens still valid', async () => {
    const oldToken = await issue(first);
    const oldKid = kidOf(oldToken);
    const rotated = await runCli(['keys', 'rotate'], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    const newKid = (JSON.parse(rotated.stdout) as { kid: string; alg: string }[]).find((key) => key.alg === 'ES256')!.kid;

    // Published at once on both instances (notification), while the old key still signs.
    await expect.poll(async () => (await jwksKids(second)).map((key) => key.kid), { timeout: 1500 }).toContain(newKid);
    expect((await jwksKids(first)).map((key) => key.kid)).toContain(newKid);
    expect(kidOf(await issue(second))).toBe(oldKid);

    // After KEY_PUBLISH_DELAY both sign with the new key; nobody ever sees an unknown kid.
    await expect.poll(async () => kidOf(await issue(first)), { timeout: 6000, interval: 250 }).toBe(newKid);
    const fromSecond = await issue(second);
    expect(kidOf(fromSecond)).toBe(newKid);
    expect(await accepted(first, fromSecond)).toBe(200);
    expect(await accepted(second, await issue(first))).toBe(200);

    expect((await jwksKids(first)).map((key) => key.kid)).toContain(oldKid);
    expect(await accepted(second, oldToken)).toBe(200);
  });
});
