import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, CLUSTER_SETUP_TIMEOUT_MS, RegisteredClient, startCluster } from '../helpers/cluster';
import { basic, expectOAuthError, HttpResult, postForm, request, waitUntil } from '../helpers/http';
import { describeOutcome, Outcome, startLoad } from '../helpers/load';
import { PrivatePostgres, startPrivatePostgres } from '../helpers/private-postgres';
import { startServer } from '../helpers/processes';

const PASSWORD = 'correct horse battery staple';

/**
 * PostgreSQL restarted under load, on a cluster of the test's own (the shared server is
 * never restarted): two Gatehouse instances behind nginx. Keys and revocations are
 * re-read by timer only every 60 s here, so that what propagates sooner came by
 * LISTEN/NOTIFY.
 */
describe('PostgreSQL restarted under load', { timeout: 180_000 }, () => {
  let pg: PrivatePostgres;
  let cluster: Cluster;
  let mobile: RegisteredClient;
  let service: RegisteredClient;

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    const databaseUrl = await pg.createDatabase('gatehouse');
    cluster = await startCluster({ instances: 2, databaseUrl, env: { SYNC_INTERVAL_MS: '60000' } });
    [mobile, service] = await Promise.all([
      cluster.createClient({ client_name: 'Mobile', grant_types: ['password', 'refresh_token'], scope: 'notes:read' }),
      cluster.createClient({ client_name: 'Reports', grant_types: ['client_credentials'], scope: 'notes:read' }),
      cluster.createUser({ username: 'alice', password: PASSWORD }),
    ]);
  }, CLUSTER_SETUP_TIMEOUT_MS);
  afterAll(async () => {
    await cluster?.stop();
    await pg?.destroy();
  });

  const tokenInit = (client: RegisteredClient, params: Record<string, string>) => ({
    method: 'POST',
    headers: { authorization: basic(client.client_id, client.client_secret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  const token = (client: RegisteredClient, params: Record<string, string>, baseUrl = cluster.url) =>
    postForm(`${baseUrl}/oauth/token`, params, { authorization: basic(client.client_id, client.client_secret!) });
  const meStatus = async (baseUrl: string, accessToken: string) =>
    (await request(`${baseUrl}/api/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
  const asResult = (outcome: Outcome): HttpResult<unknown> => ({
    status: outcome.status,
    headers: new Headers(Object.entries(outcome.headers).map(([name, value]) => [name, String(value)])),
    text: outcome.text,
    body: outcome.body,
  });

  it('while it is down: 503 JSON errors, quickly; /health names the database down; JWTs and JWKS keep working; back within 5 s, notifications too', async () => {
    // Access tokens issued before the outage, most of them first seen by an instance during it.
    const issued = await Promise.all(
      Array.from({ length: 40 }, async (_, i) =>
        i % 2 ? token(mobile, { grant_type: 'password', username: 'alice', password: PASSWORD }) : token(service, { grant_type: 'client_credentials' }),
      ),
    );
    expect(issued.map((result) => result.status)).toEqual(Array(40).fill(200));
    const accessTokens = issued.map((result) => result.body.access_token as string);
    let next = 0;
    // Tokens to revoke after the restart, already checked (and cached) by both instances.
    const revocable = await Promise.all([1, 2].map(async () => (await token(service, { grant_type: 'client_credentials' })).body.access_token as string));
    for (const instance of cluster.instances) for (const candidate of revocable) expect(await meStatus(instance.url, candidate)).toBe(200);

    // The load: what needs no database (the sample API with a JWT, JWKS, discovery) and what does (a password login).
    const load = startLoad(4, async (worker, recorded) => {
      if (worker === 0)
        await recorded('login', `${cluster.url}/oauth/token`, tokenInit(mobile, { grant_type: 'password', username: 'alice', password: PASSWORD }));
      else if (worker === 1)
        await recorded('api', `${cluster.url}/api/me`, { headers: { authorization: `Bearer ${accessTokens[next++ % accessTokens.length]}` } });
      else if (worker === 2) {
        await recorded('jwks', `${cluster.url}/.well-known/jwks.json`);
        await recorded('metadata', `${cluster.url}/.well-known/openid-configuration`);
      } else await recorded('health', `${cluster.url}/health`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    try {
      await load.completed(40);
      const downAt = performance.now();
      await pg.stop('fast');
      const stoppedAt = performance.now();
      // Down for a while, under load.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const startingAt = performance.now();
      await pg.start();
      const upAt = performance.now();

      // Right away, before the instances may have noticed: a revocation on one instance. Its
      // notification may come before the other is listening again; it must learn of it anyway.
      const revokeOn = (baseUrl: string, accessToken: string) =>
        postForm(`${baseUrl}/oauth/revoke`, { token: accessToken }, { authorization: basic(service.client_id, service.client_secret!) });
      await waitUntil(async () => (await revokeOn(cluster.instances[0].url, revocable[0])).status === 200, 5000, 10);

      // Back within 5 s of its return: logins succeed and /health is ready on every instance,
      // and the early revocation reached the other instance.
      await waitUntil(
        async () => {
          const results = await Promise.all(
            cluster.instances.map(async (instance) => [
              (await token(mobile, { grant_type: 'password', username: 'alice', password: PASSWORD }, instance.url)).status,
              (await request(`${instance.url}/health`)).status,
            ]),
          );
          return results.flat().every((status) => status === 200) && (await meStatus(cluster.instances[1].url, revocable[0])) === 401;
        },
        5000 - (performance.now() - upAt),
        50,
      );
      expect(performance.now() - upAt).toBeLessThan(5000);

      // Notifications work again: a revocation reaches the other instance within a second.
      expect((await revokeOn(cluster.instances[0].url, revocable[1])).status).toBe(200);
      await waitUntil(async () => (await meStatus(cluster.instances[1].url, revocable[1])) === 401, 1000, 10);

      await load.completed(20);
      const outcomes = await load.stop();
      expect(load.stepErrors).toEqual([]);
      const outage = outcomes.filter((outcome) => outcome.ended > downAt && outcome.started < upAt);
      const byKind = (kind: string) => outage.filter((outcome) => outcome.kind === kind);

      // What needs no database kept working throughout.
      expect(outcomes.filter((outcome) => ['api', 'jwks', 'metadata'].includes(outcome.kind) && outcome.status !== 200).map(describeOutcome)).toEqual([]);
      expect(byKind('api').length).toBeGreaterThan(10);
      expect(byKind('jwks').length).toBeGreaterThan(10);
      expect(byKind('metadata').length).toBeGreaterThan(10);

      // What needs it answered 503 with an RFC 6749 error and Retry-After, quickly: never a hang, a 500 or a stack.
      const refused = byKind('login').filter((outcome) => outcome.started > stoppedAt && outcome.ended < startingAt);
      expect(refused.length).toBeGreaterThan(3);
      for (const outcome of refused) {
        expectOAuthError(asResult(outcome), 503, 'temporarily_unavailable');
        expect(outcome.headers['retry-after']).toBe('1');
        expect(outcome.ended - outcome.started).toBeLessThan(4000);
      }
      expect(outcomes.filter((outcome) => outcome.status >= 500 && outcome.status !== 503).map(describeOutcome)).toEqual([]);
      // Also while it stopped and started: every 503 of the token endpoint in the RFC's shape.
      for (const outcome of outcomes.filter((candidate) => candidate.kind === 'login' && candidate.status === 503)) {
        expectOAuthError(asResult(outcome), 503, 'temporarily_unavailable');
      }

      // /health said so, naming the database.
      const unhealthy = byKind('health').filter((outcome) => outcome.started > stoppedAt && outcome.ended < startingAt);
      expect(unhealthy.length).toBeGreaterThan(3);
      for (const outcome of unhealthy) {
        expect(outcome.status).toBe(503);
        expect(outcome.body).toMatchObject({ status: 'error', error: { database: { status: 'down' } } });
        expect(outcome.text, 'no detail of the failure (a host, a port)').not.toMatch(/ECONN|127\.0\.0\.1|timeout/i);
        expect(outcome.ended - outcome.started).toBeLessThan(4000);
      }
    } finally {
      await load.stop();
    }
  });

  it('start-up loads no bulk state: only schema, keys, live revocations (bounded) and resource servers, and counts at most', async () => {
    // Every statement of one instance starting, as PostgreSQL logs it.
    await pg.superuser(`ALTER SYSTEM SET log_statement = 'all'`);
    await pg.superuser('SELECT pg_reload_conf()');
    await Promise.all(cluster.instances.map((instance) => instance.stop('SIGTERM')));
    const before = pg.log().length;
    try {
      const instance = await startServer(cluster.env, undefined, 150_000);
      await instance.stop('SIGTERM');
    } finally {
      await pg.superuser(`ALTER SYSTEM RESET log_statement`);
      await pg.superuser('SELECT pg_reload_conf()');
    }
    const statements = [
      ...pg
        .log()
        .slice(before)
        .matchAll(/LOG: {2}(?:statement|execute [^:]*): ([\s\S]*?)(?=\n\S|$)/g),
    ].map((match) => match[1].replace(/\s+/g, ' '));
    expect(statements.length).toBeGreaterThan(0);
    const bulk = [
      'users',
      'clients',
      'grants',
      'refresh_tokens',
      'sessions',
      'consents',
      'authorization_codes',
      'notes',
      'audit_events',
      'rate_limits',
      'backchannel_logout_deliveries',
    ];
    // Reading or changing rows of a bulk table; appending to the audit log is neither.
    const touchesBulk = (sql: string) =>
      !/^\s*INSERT INTO audit_events\b/i.test(sql) && bulk.some((table) => new RegExp(`\\b(FROM|JOIN|INTO|UPDATE)\\s+"?${table}"?\\b`, 'i').test(sql));
    // A bulk table may be summed up (how many client secrets each key-encryption key sealed),
    // never read row by row into the instance.
    const summary = (sql: string) => /^SELECT .*\bcount\(\*\).* GROUP BY [^()]*$/i.test(sql);
    expect(statements.filter((sql) => touchesBulk(sql) && !summary(sql))).toEqual([]);
    const revocationReads = statements.filter((sql) => /FROM revocations/i.test(sql));
    expect(revocationReads.length).toBeGreaterThan(0);
    for (const sql of revocationReads) expect(sql).toMatch(/expires_at > now\(\).*LIMIT \d+/i);
  });
});
