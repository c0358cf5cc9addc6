import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, newKeyEncryptionKey, runCli, ServerProcess, startServer, tokenRequest } from '../helpers/processes';

/** The administration CLI, run as a separate process beside a running server over one PostgreSQL. */
describe('CLI (npm run cli -- ...)', { timeout: 90_000 }, () => {
  let database: { url: string; drop: () => Promise<void> };
  let env: Record<string, string>;
  let server: ServerProcess;

  beforeAll(async () => {
    database = await createDatabase();
    env = { DATABASE_URL: database.url, KEY_ENCRYPTION_KEY: newKeyEncryptionKey(), KEY_PUBLISH_DELAY: '0s', SYNC_INTERVAL_MS: '500' };
    server = await startServer(env);
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  const createClient = async (metadata: object) => {
    const result = await runCli(['clients', 'create'], env, JSON.stringify(metadata));
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Record<string, string>;
  };

  it('clients create reads RFC 7591 metadata on stdin and prints only the registration response JSON, secret included once', async () => {
    const client = await createClient({ client_name: 'Billing', grant_types: ['client_credentials'], scope: 'notes:read' });
    expect(client.client_id).toMatch(/^[\w-]+$/);
    expect(client.client_secret.length).toBeGreaterThanOrEqual(43);
    expect(client).toMatchObject({
      client_name: 'Billing',
      grant_types: ['client_credentials'],
      scope: 'notes:read',
      token_endpoint_auth_method: 'client_secret_basic',
      client_secret_expires_at: 0,
    });
    const token = await tokenRequest(server.url, { grant_type: 'client_credentials' }, { id: client.client_id, secret: client.client_secret });
    expect(token.status).toBe(200);

    const shown = await runCli(['clients', 'show', client.client_id], env);
    expect(JSON.parse(shown.stdout)).not.toHaveProperty('client_secret');
    const listed = JSON.parse((await runCli(['clients', 'list'], env)).stdout) as { client_id: string }[];
    expect(listed.map((c) => c.client_id)).toContain(client.client_id);
    expect(JSON.stringify(listed)).not.toContain(client.client_secret);
  });

  it('clients rotate-secret prints a new secret; the running server refuses the old one at once', async () => {
    const client = await createClient({ grant_types: ['client_credentials'] });
    const basic = { id: client.client_id, secret: client.client_secret };
    expect((await tokenRequest(server.url, { grant_type: 'client_credentials' }, basic)).status).toBe(200); // now cached by the server
    const rotated = await runCli(['clients', 'rotate-secret', client.client_id], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    const fresh = JSON.parse(rotated.stdout) as { client_secret: string };
    expect(fresh.client_secret).not.toBe(client.client_secret);
    await expect.poll(async () => (await tokenRequest(server.url, { grant_type: 'client_credentials' }, basic)).status, { timeout: 2000 }).toBe(401);
    expect((await tokenRequest(server.url, { grant_type: 'client_credentials' }, { id: client.client_id, secret: fresh.client_secret })).status).toBe(200);
  });

  it('clients delete removes the client everywhere', async () => {
    const client = await createClient({ grant_types: ['client_credentials'] });
    const basic = { id: client.client_id, secret: client.client_secret };
    expect((await tokenRequest(server.url, { grant_type: 'client_credentials' }, basic)).status).toBe(200);
    expect((await runCli(['clients', 'delete', client.client_id], env)).code).toBe(0);
    await expect
      .poll(async () => (await tokenRequest(server.url, { grant_type: 'client_credentials' }, basic)).body.error, { timeout: 2000 })
      .toBe('invalid_client');
  });

  it('users create prints the user with its sub; users disable stops the password grant', async () => {
    const client = await createClient({ grant_types: ['password'], scope: 'openid notes:read' });
    const created = await runCli(
      ['users', 'create'],
      env,
      JSON.stringify({ username: 'Carol', password: 'a long enough secret', email: 'carol@example.com', name: 'Carol C' }),
    );
    expect(created.code, created.stderr).toBe(0);
    const user = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(user).toMatchObject({ username: 'Carol', email: 'carol@example.com', name: 'Carol C', disabled: false });
    expect(user.sub).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(user)).not.toContain('a long enough secret');

    const basic = { id: client.client_id, secret: client.client_secret };
    const login = await tokenRequest(server.url, { grant_type: 'password', username: 'carol', password: 'a long enough secret' }, basic);
    expect(login.status).toBe(200);
    expect(login.body.refresh_token).toEqual(expect.any(String));

    expect((await runCli(['users', 'disable', 'carol'], env)).code).toBe(0);
    const refused = await tokenRequest(server.url, { grant_type: 'password', username: 'carol', password: 'a long enough secret' }, basic);
    expect(refused.body.error).toBe('invalid_grant');
    const listed = JSON.parse((await runCli(['users', 'list'], env)).stdout) as { username: string; disabled: boolean }[];
    expect(listed.find((u) => u.username === 'Carol')?.disabled).toBe(true);
  });

  const apiStatus = async (token: unknown) => (await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${String(token)}` } })).status;

  /** A user signed in through a password-grant client: their access and refresh tokens (a grant of no session). */
  const signedInUser = async (username: string, scope: string) => {
    const client = await createClient({ grant_types: ['password'], scope, first_party: true });
    const basic = { id: client.client_id, secret: client.client_secret };
    const created = await runCli(['users', 'create'], env, JSON.stringify({ username, password: 'a long enough secret' }));
    expect(created.code, created.stderr).toBe(0);
    const login = await tokenRequest(server.url, { grant_type: 'password', username, password: 'a long enough secret', scope }, basic);
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(await apiStatus(login.body.access_token)).toBe(200);
    return { client, basic, accessToken: login.body.access_token, refreshToken: String(login.body.refresh_token) };
  };

  it('users disable ends what the user holds: their refresh tokens at once, their access tokens on the running server within a second', async () => {
    const { basic, accessToken, refreshToken } = await signedInUser('dora', 'notes:read offline_access');
    const disabled = await runCli(['users', 'disable', 'dora'], env);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ username: 'dora', disabled: true });
    const refreshed = await tokenRequest(server.url, { grant_type: 'refresh_token', refresh_token: refreshToken }, basic);
    expect(refreshed.body.error).toBe('invalid_grant');
    await expect.poll(() => apiStatus(accessToken), { timeout: 1000, interval: 100 }).toBe(401);
    // Enabling again lets the user sign in anew; what was revoked stays revoked.
    expect((await runCli(['users', 'enable', 'dora'], env)).code).toBe(0);
    expect((await tokenRequest(server.url, { grant_type: 'password', username: 'dora', password: 'a long enough secret' }, basic)).status).toBe(200);
    expect(await apiStatus(accessToken)).toBe(401);
  });

  it('clients delete also ends the grants made to the client: their access tokens are refused by the running server within a second', async () => {
    const { client, accessToken } = await signedInUser('erin', 'notes:read');
    expect((await runCli(['clients', 'delete', client.client_id], env)).code).toBe(0);
    await expect.poll(() => apiStatus(accessToken), { timeout: 1000, interval: 100 }).toBe(401);
  });

  it('keys rotate publishes new keys that every running instance serves', async () => {
    const before = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const rotated = await runCli(['keys', 'rotate'], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    const created = JSON.parse(rotated.stdout) as { kid: string; alg: string }[];
    expect(created.map((key) => key.alg).sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
    await expect
      .poll(
        async () => {
          const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
          return jwks.keys.map((key) => key.kid);
        },
        { timeout: 3000 },
      )
      .toEqual(expect.arrayContaining([...before.keys.map((key) => key.kid), ...created.map((key) => key.kid)]));
  });

  it('migrate reports what it applied (nothing after the server ran them)', async () => {
    const result = await runCli(['migrate'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ applied: [] });
  });

  it.each([
    [['clients', 'create'], 'not json', /not valid JSON/],
    [['clients', 'create'], '{"redirect_uris":["http://evil.example/cb"]}', /https/],
    [['clients', 'show', 'no-such-client'], '', /no client no-such-client/],
    [['users', 'create'], '{"username":"x"}', /password is required/],
    [['users', 'disable', 'nobody-here'], '', /no user nobody-here/],
    [['nonsense'], '', /unknown command/],
  ])('bad input (%j) gives one clear line on stderr, nothing on stdout, and a non-zero exit', async (args, input, message) => {
    const result = await runCli(args, env, input);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });
});
