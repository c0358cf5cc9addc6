import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log';
import { SharedCounters } from '../../src/rate-limit/shared-counters';
import { basicFor, expectOAuthError, HttpResult, postForm, postLoginForm, waitUntil } from '../helpers/http';
import { runCli } from '../helpers/processes';
import { startTestApp, TestApp, TestClient, TestInstance } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

type Auth = 'basic' | 'post';

/** A client_credentials request authenticated with `secret` (Basic or in the form). */
function tokenRequest(instance: TestInstance, client: TestClient, secret: string, auth: Auth = 'basic'): Promise<HttpResult> {
  const presented = { ...client, client_secret: secret };
  if (auth === 'basic') return postForm(`${instance.baseUrl}/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basicFor(presented) });
  return postForm(`${instance.baseUrl}/oauth/token`, { grant_type: 'client_credentials', client_id: client.client_id, client_secret: secret });
}

function passwordGrant(instance: TestInstance, client: TestClient, username: string, password: string): Promise<HttpResult> {
  return postForm(`${instance.baseUrl}/oauth/token`, { grant_type: 'password', username, password }, { authorization: basicFor(client) });
}

async function signIn(instance: TestInstance, username: string, password: string): Promise<number> {
  const response = await postLoginForm(instance.baseUrl, username, password);
  await response.arrayBuffer();
  return response.status;
}

/** The audit rows of an event, once every instance has written what it queued. */
async function auditEvents(
  t: TestApp,
  instances: TestInstance[],
  event: string,
  clientId: string,
): Promise<{ remote_address: string | null; details: Record<string, unknown> }[]> {
  for (const instance of instances) await instance.app.get(AuditLog).flush();
  return t.app.get(DataSource).query(`SELECT remote_address, details FROM audit_events WHERE event = $1 AND client_id = $2`, [event, clientId]);
}

describe('account lockout across instances (LOGIN_MAX_FAILURES=4)', () => {
  let t: TestApp;
  let other: TestInstance;
  let mobile: TestClient;

  beforeAll(async () => {
    t = await startTestApp({ env: { LOGIN_MAX_FAILURES: '4', LOGIN_LOCKOUT: '60s', LOGIN_RATE_LIMIT: '1000', DATABASE_POOL_SIZE: '3' } });
    other = await t.startInstance();
    mobile = await t.createClient({ client_id: 'mobile', grant_types: ['password'], scope: 'notes:read', first_party: true });
    for (const username of ['carol', 'dave', 'erin']) await t.createUser({ username, password: PASSWORD });
  });
  afterAll(() => t?.close());

  it('locks the account on both instances after failures spread over both, through the login form and the password grant', async () => {
    expect(await signIn(t, 'carol', 'wrong-1')).toBe(401);
    expect((await passwordGrant(other, mobile, 'carol', 'wrong-2')).status).toBe(400);
    expect(await signIn(other, 'carol', 'wrong-3')).toBe(401);
    expect((await passwordGrant(t, mobile, 'carol', 'wrong-4')).status).toBe(400);
    for (const instance of [t, other]) {
      expect(await signIn(instance, 'carol', PASSWORD)).toBe(401);
      expectOAuthError(await passwordGrant(instance, mobile, 'carol', PASSWORD), 400, 'invalid_grant');
    }
    // Another account is not affected, on either instance.
    expect(await signIn(other, 'dave', PASSWORD)).toBe(200);
    expect((await passwordGrant(t, mobile, 'dave', PASSWORD)).status).toBe(200);
  });

  it('counts failures that arrive on both instances at the same moment', async () => {
    const failures = await Promise.all([t, other, t, other].map((instance) => passwordGrant(instance, mobile, 'erin', 'wrong')));
    expect(failures.map((result) => result.status)).toEqual([400, 400, 400, 400]);
    expect(await signIn(t, 'erin', PASSWORD)).toBe(401);
    expect((await passwordGrant(other, mobile, 'erin', PASSWORD)).status).toBe(400);
  });
});

describe('client secret lockout across instances (CLIENT_AUTH_MAX_FAILURES=6)', () => {
  let t: TestApp;
  let other: TestInstance;
  let svc: TestClient;
  let bystander: TestClient;
  let cliEnv: Record<string, string>;

  beforeAll(async () => {
    t = await startTestApp({
      env: { CLIENT_AUTH_MAX_FAILURES: '6', CLIENT_AUTH_LOCKOUT: '5m', RATE_LIMIT_SYNC_INTERVAL_MS: '100', SYNC_INTERVAL_MS: '500', DATABASE_POOL_SIZE: '3' },
    });
    other = await t.startInstance();
    svc = await t.createClient({
      client_id: 'svc',
      grant_types: ['client_credentials'],
      scope: 'notes:read',
      token_endpoint_auth_method: 'client_secret_basic',
    });
    bystander = await t.createClient({ client_id: 'bystander', grant_types: ['client_credentials'], scope: 'notes:read' });
    cliEnv = { DATABASE_URL: t.databaseUrl, KEY_ENCRYPTION_KEY: t.keyEncryptionKey, LOG_LEVEL: 'error', DATABASE_POOL_SIZE: '2' };
  });
  afterAll(() => t?.close());

  const lockedOnBoth = (secret: string) =>
    waitUntil(async () => (await tokenRequest(t, svc, secret)).status === 401 && (await tokenRequest(other, svc, secret)).status === 401, 5000);
  const openOnBoth = (secret: string) =>
    waitUntil(async () => (await tokenRequest(t, svc, secret)).status === 200 && (await tokenRequest(other, svc, secret)).status === 200, 5000);

  it('locks the secret path on both instances after wrong secrets spread over both (Basic and post): the right secret then gets invalid_client 401', async () => {
    expect((await tokenRequest(t, svc, svc.client_secret!)).status).toBe(200);
    for (let i = 0; i < 3; i++) expectOAuthError(await tokenRequest(t, svc, `wrong-${i}`), 401, 'invalid_client');
    for (let i = 0; i < 3; i++) expectOAuthError(await tokenRequest(other, svc, `wrong-${i}`, 'post'), 401, 'invalid_client');
    await lockedOnBoth(svc.client_secret!);

    // What the client sees is exactly what a wrong secret gets: nothing tells it is locked.
    const wrong = await tokenRequest(other, { ...bystander }, 'wrong-secret');
    for (const instance of [t, other]) {
      const locked = await tokenRequest(instance, svc, svc.client_secret!);
      expectOAuthError(locked, 401, 'invalid_client');
      expect(locked.body).toEqual(wrong.body);
      expect(locked.headers.get('www-authenticate')).toBe(wrong.headers.get('www-authenticate'));
      expect(locked.headers.get('retry-after')).toBeNull();
      expectOAuthError(await tokenRequest(instance, svc, svc.client_secret!, 'post'), 401, 'invalid_client');
      const introspect = await postForm(`${instance.baseUrl}/oauth/introspect`, { token: 'x' }, { authorization: basicFor(svc) });
      expectOAuthError(introspect, 401, 'invalid_client');
    }
    // Another client is not affected.
    expect((await tokenRequest(other, bystander, bystander.client_secret!)).status).toBe(200);
    expect(await auditEvents(t, [t, other], 'client.locked', 'svc')).toEqual([
      { remote_address: '127.0.0.1', details: { failures: 6, locked_until: expect.any(String) } },
    ]);
  });

  it('clients unlock <id> ends the lockout on every instance and clears the failures; it is recorded in the audit log', async () => {
    const unlocked = await runCli(['clients', 'unlock', 'svc'], cliEnv);
    expect(unlocked.code, unlocked.stderr).toBe(0);
    expect(JSON.parse(unlocked.stdout)).toEqual({ client_id: 'svc', was_locked: true });
    await openOnBoth(svc.client_secret!);
    expect(await auditEvents(t, [t, other], 'client.unlocked', 'svc')).toHaveLength(1);
    // The failures before the lockout are gone: five more do not lock it again.
    for (let i = 0; i < 5; i++) expect((await tokenRequest(i % 2 ? t : other, svc, 'wrong')).status).toBe(401);
    await Promise.all([t, other].map((instance) => instance.app.get(SharedCounters).flush()));
    expect((await tokenRequest(t, svc, svc.client_secret!)).status).toBe(200);
    expect((await tokenRequest(other, svc, svc.client_secret!)).status).toBe(200);

    const again = await runCli(['clients', 'unlock', 'svc'], cliEnv);
    expect(JSON.parse(again.stdout)).toEqual({ client_id: 'svc', was_locked: false });
    const unknown = await runCli(['clients', 'unlock', 'no-such-client'], cliEnv);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no client no-such-client/);
  });

  it('clients rotate-secret ends a lockout too: the new secret works on both instances', async () => {
    for (let i = 0; i < 6; i++) await tokenRequest(i % 2 ? t : other, svc, 'wrong');
    await lockedOnBoth(svc.client_secret!);
    const rotated = await runCli(['clients', 'rotate-secret', 'svc'], cliEnv);
    expect(rotated.code, rotated.stderr).toBe(0);
    const secret = (JSON.parse(rotated.stdout) as { client_secret: string }).client_secret;
    await openOnBoth(secret);
    expect((await tokenRequest(t, svc, svc.client_secret!)).status).toBe(401);
  });
});

describe('client secret lockout: its duration and its cost', () => {
  let t: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    // No background polling and no timed flush (rate limits, audit): every query the test sees comes from the requests.
    t = await startTestApp({
      env: {
        CLIENT_AUTH_MAX_FAILURES: '1000',
        RATE_LIMIT_SYNC_INTERVAL_MS: '60000',
        SYNC_INTERVAL_MS: '600000',
        MAINTENANCE_INTERVAL: '1h',
        AUDIT_FLUSH_INTERVAL_MS: '60000',
      },
    });
    client = await t.createClient({ client_id: 'hot', grant_types: ['client_credentials'], scope: 'notes:read' });
  });
  afterAll(() => t?.close());

  it('costs a successful client authentication no database round trip, and writes failed ones in one batched statement', async () => {
    expect((await tokenRequest(t, client, client.client_secret!)).status).toBe(200); // the client is now cached
    const db = t.app.get(DataSource);
    const runners = vi.spyOn(db, 'createQueryRunner');
    const queries = vi.spyOn(db, 'query');
    for (let i = 0; i < 100; i++) expect((await tokenRequest(t, client, client.client_secret!, i % 2 ? 'basic' : 'post')).status).toBe(200);
    for (let i = 0; i < 100; i++) expect((await tokenRequest(t, client, `wrong-${i}`)).status).toBe(401);
    expect(runners).not.toHaveBeenCalled();
    await t.app.get(SharedCounters).flush();
    expect(queries).toHaveBeenCalledTimes(1);
    const [keys, , hits] = queries.mock.calls[0][1] as [string[], number[], number[]];
    expect(hits[keys.indexOf('client-auth:hot')]).toBe(100);
    runners.mockRestore();
    queries.mockRestore();
  });
});

describe('client secret lockout: it ends by itself after CLIENT_AUTH_LOCKOUT', () => {
  let t: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    t = await startTestApp({ env: { CLIENT_AUTH_MAX_FAILURES: '1', CLIENT_AUTH_LOCKOUT: '2s' } });
    client = await t.createClient({ client_id: 'brief', grant_types: ['client_credentials'], scope: 'notes:read' });
  });
  afterAll(() => t?.close());

  it('refuses the right secret while locked and accepts it again once the lockout is over', async () => {
    expect((await tokenRequest(t, client, 'wrong')).status).toBe(401);
    const lockedAt = performance.now();
    expect((await tokenRequest(t, client, client.client_secret!)).status).toBe(401);
    await waitUntil(async () => (await tokenRequest(t, client, client.client_secret!)).status === 200, 10_000, 100);
    expect(performance.now() - lockedAt).toBeGreaterThan(1500);
  });
});
