import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SharedCounters } from '../../src/rate-limit/shared-counters';
import { basicFor, expectOAuthError, HttpResult, postForm, postLoginForm, request } from '../helpers/http';
import { startTestApp, TestApp, TestClient, TestInstance } from '../helpers/test-app';

/**
 * Rate limits shared by two instances over one PostgreSQL database. TRUST_PROXY lets each
 * test come from an address of its own (X-Forwarded-For), so that the tests do not share
 * per-address counters. No timed flush: the tests flush when they mean to (exact limits
 * still flush on their own, as they always do).
 */
const SETTINGS = {
  TRUST_PROXY: 'true',
  RATE_LIMIT_SYNC_INTERVAL_MS: '60000',
  TOKEN_RATE_LIMIT_PER_CLIENT: '10',
  TOKEN_RATE_LIMIT_PER_ADDRESS: '12',
  LOGIN_RATE_LIMIT: '4',
  REGISTRATION_RATE_LIMIT: '3',
  DATABASE_POOL_SIZE: '3',
};

const flushed = (...instances: TestInstance[]) => Promise.all(instances.map((instance) => instance.app.get(SharedCounters).flush()));

function tokenRequest(instance: TestInstance, client: TestClient, address: string): Promise<HttpResult> {
  return postForm(`${instance.baseUrl}/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basicFor(client), 'x-forwarded-for': address });
}

async function statuses(requests: Promise<HttpResult>[]): Promise<number[]> {
  return (await Promise.all(requests)).map((result) => result.status);
}

/** A 429 in the RFC 6749 §5.2 shape, with Retry-After within the minute window. */
function expectTooManyRequests(result: HttpResult): void {
  expectOAuthError(result, 429, 'too_many_requests');
  const retryAfter = Number(result.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

const signIn = (instance: TestInstance, username: string, password: string, address: string) =>
  postLoginForm(instance.baseUrl, username, password, { 'x-forwarded-for': address });

describe('rate limits across instances', () => {
  let t: TestApp;
  let other: TestInstance;
  let one: TestClient;
  let two: TestClient;
  let mobile: TestClient;

  beforeAll(async () => {
    t = await startTestApp({ env: SETTINGS });
    other = await t.startInstance();
    one = await t.createClient({ client_id: 'one', grant_types: ['client_credentials'], scope: 'notes:read' });
    two = await t.createClient({ client_id: 'two', grant_types: ['client_credentials'], scope: 'notes:read' });
    mobile = await t.createClient({ client_id: 'mobile', grant_types: ['password'], scope: 'notes:read', first_party: true });
  });
  afterAll(() => t?.close());

  it('holds TOKEN_RATE_LIMIT_PER_CLIENT reached half on each instance: both then answer 429 too_many_requests with Retry-After', async () => {
    expect(await statuses(Array.from({ length: 5 }, (_, i) => tokenRequest(t, one, `198.51.100.${i}`)))).toEqual([200, 200, 200, 200, 200]);
    await flushed(t);
    expect(await statuses(Array.from({ length: 5 }, (_, i) => tokenRequest(other, one, `198.51.100.${10 + i}`)))).toEqual([200, 200, 200, 200, 200]);
    await flushed(other);
    await flushed(t); // the first instance re-reads the counter it holds at half its limit
    for (const instance of [t, other]) {
      const refused = await tokenRequest(instance, one, '198.51.100.99');
      expectTooManyRequests(refused);
      expect(refused.body.error_description).toMatch(/this client/);
    }
    // Another client is not affected.
    expect((await tokenRequest(other, two, '198.51.100.98')).status).toBe(200);
  });

  it('holds TOKEN_RATE_LIMIT_PER_ADDRESS across instances and clients, counting requests whose client authentication fails', async () => {
    const address = '203.0.113.20';
    const wrong = { ...two, client_secret: 'not-the-secret' };
    expect(await statuses(Array.from({ length: 6 }, () => tokenRequest(t, wrong, address)))).toEqual([401, 401, 401, 401, 401, 401]);
    await flushed(t);
    expect(await statuses(Array.from({ length: 6 }, () => tokenRequest(other, two, address)))).toEqual([200, 200, 200, 200, 200, 200]);
    await flushed(other);
    await flushed(t);
    for (const instance of [t, other]) {
      const refused = await tokenRequest(instance, two, address);
      expectTooManyRequests(refused);
      expect(refused.body.error_description).toMatch(/this address/);
    }
    expect((await tokenRequest(t, two, '203.0.113.21')).status).toBe(200);
  });

  it('counts the login form and the password grant against one LOGIN_RATE_LIMIT per address, exactly, on every instance', async () => {
    const address = '203.0.113.30';
    // Unknown usernames: the attempts are throttled without locking any account.
    const attempts = await Promise.all([
      signIn(t, 'nobody', 'guess-1', address).then((response) => response.status),
      signIn(other, 'nobody', 'guess-2', address).then((response) => response.status),
      ...[t, other, t, other].map((instance) =>
        postForm(
          `${instance.baseUrl}/oauth/token`,
          { grant_type: 'password', client_id: mobile.client_id, username: 'nobody', password: 'guess' },
          {
            authorization: basicFor(mobile),
            'x-forwarded-for': address,
          },
        ).then((result) => result.status),
      ),
    ]);
    // Four of the six attempts are checked (401 page or invalid_grant); exactly two are refused.
    expect(attempts.filter((status) => status === 429)).toHaveLength(2);
    expect(attempts.filter((status) => status === 401 || status === 400)).toHaveLength(4);

    const page = await signIn(other, 'nobody', 'guess-3', address);
    expect(page.status).toBe(429);
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const grant = await postForm(
      `${t.baseUrl}/oauth/token`,
      { grant_type: 'password', username: 'nobody', password: 'guess' },
      {
        authorization: basicFor(mobile),
        'x-forwarded-for': address,
      },
    );
    expectTooManyRequests(grant);
    expect((await signIn(t, 'nobody', 'guess-4', '203.0.113.31')).status).toBe(401);
  });

  it('holds REGISTRATION_RATE_LIMIT exactly across instances, even for requests that arrive at the same moment', async () => {
    const address = '203.0.113.40';
    const register = (instance: TestInstance) =>
      request(`${instance.baseUrl}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' }),
      });
    const results = await Promise.all([t, other, t, other, t].map(register));
    expect(results.map((result) => result.status).sort()).toEqual([201, 201, 201, 429, 429]);
    for (const result of results.filter((r) => r.status === 429)) expectTooManyRequests(result);
  });

  it('writes every hit of an instance in one statement per flush; with nothing new it only re-reads counters at half their limit or more', async () => {
    const three = await t.createClient({ client_id: 'three', grant_types: ['client_credentials'], scope: 'notes:read' });
    const query = vi.spyOn(t.app.get(DataSource), 'query');
    const flushes = () => query.mock.calls.filter(([sql]) => sql.includes('rate_limits'));
    await flushed(t);
    query.mockClear();
    expect(await statuses(Array.from({ length: 4 }, (_, i) => tokenRequest(t, three, `192.0.2.${i}`)))).toEqual([200, 200, 200, 200]);
    expect(flushes()).toHaveLength(0);
    await flushed(t);
    expect(flushes()).toHaveLength(1);
    const keys = (flushes()[0][1] as string[][])[0];
    expect(keys).toEqual(expect.arrayContaining(['token-client:three', 'token-address:192.0.2.0', 'token-address:192.0.2.3']));
    query.mockClear();
    await flushed(t);
    expect(flushes()).toHaveLength(1);
    for (const [, [keys, , hits]] of flushes() as [string, [string[], number[], number[]]][]) {
      expect(hits.every((count) => count === 0)).toBe(true);
      expect(keys).not.toContain('token-client:three'); // 4 of 10
      expect(keys).toContain('token-client:two'); // 8 of 10
    }
    query.mockRestore();
  });
});

describe('rate limits while PostgreSQL cannot take the counters', () => {
  let t: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    // Only explicit flushes: the test decides when the instance talks to the database.
    t = await startTestApp({ env: { TOKEN_RATE_LIMIT_PER_CLIENT: '20', RATE_LIMIT_SYNC_INTERVAL_MS: '60000' } });
    client = await t.createClient({ client_id: 'batch', grant_types: ['client_credentials'], scope: 'notes:read' });
  });
  afterAll(() => t?.close());

  it('fails open to local counting, logs once, keeps answering without waiting, and shares the counts again once it can', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const log = vi.spyOn(Logger.prototype, 'log');
    const db = t.app.get(DataSource);
    await db.query('ALTER TABLE rate_limits RENAME TO rate_limits_away');
    try {
      for (let round = 0; round < 3; round++) {
        expect(await statuses(Array.from({ length: 5 }, () => tokenRequest(t, client, '192.0.2.50')))).toEqual([200, 200, 200, 200, 200]);
        await flushed(t);
      }
      // Counted locally meanwhile: the limit still holds on this instance.
      expect(await statuses(Array.from({ length: 6 }, () => tokenRequest(t, client, '192.0.2.50')))).toEqual([200, 200, 200, 200, 200, 429]);
      const outages = warn.mock.calls.filter(([message]) => String(message).includes('rate-limit counters cannot be shared'));
      expect(outages).toHaveLength(1);
    } finally {
      await db.query('ALTER TABLE rate_limits_away RENAME TO rate_limits');
    }
    await flushed(t);
    expect(log.mock.calls.filter(([message]) => String(message).includes('rate-limit counters are shared again'))).toHaveLength(1);
    const [{ hits }] = (await db.query(`SELECT hits FROM rate_limits WHERE key = 'token-client:batch'`)) as { hits: string }[];
    expect(Number(hits)).toBe(20);
    warn.mockRestore();
    log.mockRestore();
  });
});
