import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { Client as PgClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJwt } from '../../src/common/jwt';
import { SecretBox } from '../../src/common/secret-box';
import { sealingContext } from '../../src/secrets/sealed-columns';
import { Cluster, CLUSTER_SETUP_TIMEOUT_MS, RegisteredClient, startCluster } from '../helpers/cluster';
import { basic, jwtHeader, jwtPayload, postForm, request, waitUntil } from '../helpers/http';
import { describeOutcome, startLoad } from '../helpers/load';
import { authorizeCode, WebBrowser } from '../helpers/web-flow';

const PASSWORD = 'correct horse battery staple';
const REDIRECT_URI = 'http://127.0.0.1:7601/callback';

/**
 * Scale-out: three Gatehouse processes over one PostgreSQL database behind nginx
 * (round-robin). Everything goes through nginx unless a test needs one instance in
 * particular; nginx's upstream header tells which instance answered.
 */
describe('three instances behind nginx over one PostgreSQL', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let db: PgClient;
  /** A first-party web app: authorization code + refresh token, no consent page. */
  let web: RegisteredClient;
  /** A password-grant app with refresh tokens. */
  let mobile: RegisteredClient;
  /** A machine client: client_credentials. */
  let service: RegisteredClient;
  /** A signed-in browser (its session cookie). */
  const browser: WebBrowser = { headers: { 'x-forwarded-for': '198.51.100.10' } };

  beforeAll(async () => {
    cluster = await startCluster({ env: { KEY_PUBLISH_DELAY: '2s' } });
    db = new PgClient({ connectionString: cluster.env.DATABASE_URL, application_name: 'gatehouse-tests' });
    await db.connect();
    [web, mobile, service] = await Promise.all([
      cluster.createClient({
        client_name: 'Web',
        first_party: true,
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        scope: 'notes:read',
      }),
      cluster.createClient({ client_name: 'Mobile', grant_types: ['password', 'refresh_token'], scope: 'notes:read' }),
      cluster.createClient({ client_name: 'Reports', grant_types: ['client_credentials'], scope: 'notes:read' }),
      cluster.createUser({ username: 'alice', password: PASSWORD, email: 'alice@example.com' }),
    ]);
  }, CLUSTER_SETUP_TIMEOUT_MS);
  afterAll(async () => {
    await db?.end();
    await cluster?.stop();
  });

  const token = (client: RegisteredClient, params: Record<string, string>, baseUrl = cluster.url) =>
    postForm(`${baseUrl}/oauth/token`, params, { authorization: basic(client.client_id, client.client_secret!) });
  const code = () =>
    authorizeCode(cluster.url, browser, { clientId: web.client_id, redirectUri: REDIRECT_URI, scope: 'notes:read', username: 'alice', password: PASSWORD });
  const redeem = (result: { code: string; verifier: string }) =>
    token(web, { grant_type: 'authorization_code', code: result.code, redirect_uri: REDIRECT_URI, code_verifier: result.verifier });
  const passwordLogin = () => token(mobile, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'notes:read' });
  const me = async (baseUrl: string, accessToken: string) =>
    (await request(`${baseUrl}/api/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
  const summary = (results: { status: number; body: Record<string, unknown> }[]) =>
    results.map((result) => (result.status === 200 ? 'ok' : `${result.status} ${String(result.body?.error)}`)).sort();

  it('starts all instances at once on an empty database: migrations run once, one key per algorithm, the same JWKS everywhere', async () => {
    const { rows: migrations } = await db.query<{ name: string; count: string }>('SELECT name, count(*) AS count FROM migrations GROUP BY name');
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations.every((row) => row.count === '1')).toBe(true);
    const { rows: keys } = await db.query<{ alg: string }>('SELECT alg FROM signing_keys ORDER BY alg');
    expect(keys.map((key) => key.alg)).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
    const sets = await Promise.all(cluster.instances.map(async (instance) => (await request(`${instance.url}/.well-known/jwks.json`)).text));
    expect(new Set(sets).size).toBe(1);
  });

  it('balances round-robin over every instance, and each sees the client address from X-Forwarded-For', async () => {
    const slots = new Set<number>();
    for (let i = 0; i < 6; i++) slots.add(cluster.slotOf(await request(`${cluster.url}/health/live`)));
    expect([...slots].sort()).toEqual([0, 1, 2]);

    await code();
    // The audit log is written in the background (within AUDIT_FLUSH_INTERVAL_MS).
    const signedInFrom = async () =>
      (await db.query<{ remote_address: string }>(`SELECT remote_address FROM audit_events WHERE event = 'login.succeeded'`)).rows.map(
        (row) => row.remote_address,
      );
    await waitUntil(async () => (await signedInFrom()).includes('198.51.100.10'), 5000);
    expect(await signedInFrom()).toContain('198.51.100.10');
  });

  it('redeems a code issued by one instance on another', async () => {
    for (let round = 0; round < 3; round++) {
      const issued = await code();
      const redeemed = await redeem(issued);
      expect(redeemed.status, redeemed.text).toBe(200);
      const [issuer, redeemer] = [cluster.slotOf(issued.upstream), cluster.slotOf(redeemed)];
      expect(issuer).toBeGreaterThanOrEqual(0);
      expect(redeemer).toBeGreaterThanOrEqual(0);
      expect(redeemer).not.toBe(issuer);
      expect(await me(cluster.url, redeemed.body.access_token as string)).toBe(200);
    }
  });

  it('honours a code redeemed in parallel on all three instances exactly once; the others get invalid_grant', async () => {
    for (let round = 0; round < 5; round++) {
      const issued = await code();
      const results = await Promise.all([redeem(issued), redeem(issued), redeem(issued)]);
      expect(new Set(results.map((result) => cluster.slotOf(result))).size, 'one request per instance').toBe(3);
      expect(summary(results), results.map((result) => result.text).join('\n')).toEqual(['400 invalid_grant', '400 invalid_grant', 'ok']);
    }
  });

  it('rotates a refresh token used in parallel on all three instances exactly once; the others get invalid_grant', async () => {
    for (let round = 0; round < 5; round++) {
      const login = await passwordLogin();
      expect(login.status, login.text).toBe(200);
      const refreshToken = login.body.refresh_token as string;
      const refresh = () => token(mobile, { grant_type: 'refresh_token', refresh_token: refreshToken });
      const results = await Promise.all([refresh(), refresh(), refresh()]);
      expect(new Set(results.map((result) => cluster.slotOf(result))).size, 'one request per instance').toBe(3);
      expect(summary(results), results.map((result) => result.text).join('\n')).toEqual(['400 invalid_grant', '400 invalid_grant', 'ok']);
      const { rows } = await db.query<{ rotations: string }>(
        `SELECT count(*) FILTER (WHERE rotated_at IS NOT NULL) AS rotations FROM refresh_tokens WHERE grant_id = $1`,
        [jwtPayload(login.body.access_token as string).grant_id],
      );
      expect(rows[0].rotations).toBe('1');
    }
  });

  /** Calls /api/me on every instance directly until each caches the token as valid. */
  const warm = async (accessToken: string) => {
    for (const instance of cluster.instances) expect(await me(instance.url, accessToken)).toBe(200);
  };
  /** After a revocation answered by `revoker`, every other instance refuses the token within a second. */
  const expectRefusedElsewhereWithinOneSecond = async (accessToken: string, revoker: number) => {
    const others = cluster.instances.filter((_, slot) => slot !== revoker);
    expect(others).toHaveLength(2);
    const elapsed = await Promise.all(others.map((instance) => waitUntil(async () => (await me(instance.url, accessToken)) === 401, 1000, 10)));
    expect(Math.max(...elapsed)).toBeLessThan(1000);
  };

  it('honours a revoked access token on every other instance within one second', async () => {
    const issued = await token(service, { grant_type: 'client_credentials' });
    const accessToken = issued.body.access_token as string;
    await warm(accessToken);
    const revoked = await postForm(`${cluster.url}/oauth/revoke`, { token: accessToken }, { authorization: basic(service.client_id, service.client_secret!) });
    expect(revoked.status).toBe(200);
    await expectRefusedElsewhereWithinOneSecond(accessToken, cluster.slotOf(revoked));
  });

  it('honours a revoked grant (its refresh token revoked) on every other instance within one second', async () => {
    const login = await passwordLogin();
    const accessToken = login.body.access_token as string;
    await warm(accessToken);
    const revoked = await postForm(
      `${cluster.url}/oauth/revoke`,
      { token: login.body.refresh_token as string },
      { authorization: basic(mobile.client_id, mobile.client_secret!) },
    );
    expect(revoked.status).toBe(200);
    await expectRefusedElsewhereWithinOneSecond(accessToken, cluster.slotOf(revoked));
  });

  it('accepts at once a token signed by a key an instance has not loaded yet (it re-reads the keys), and refuses unknown kids', async () => {
    // A key added to the table behind the instances' backs (no notification), as if by an
    // instance whose notification was lost; it is not active, so no instance signs with it.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = randomUUID();
    const sealed = new SecretBox(Buffer.from(cluster.env.KEY_ENCRYPTION_KEY, 'hex')).seal(
      JSON.stringify(privateKey.export({ format: 'jwk' })),
      sealingContext.signingKey(kid),
    );
    await db.query(
      `INSERT INTO signing_keys (kid, alg, public_jwk, private_key_sealed, activates_at) VALUES ($1, 'ES256', $2, $3, now() + interval '1 hour')`,
      [kid, JSON.stringify({ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }), sealed],
    );
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: cluster.url,
      sub: 'someone',
      aud: `${cluster.url}/api`,
      client_id: service.client_id,
      scope: 'notes:read',
      iat: now,
      exp: now + 300,
      jti: randomBytes(8).toString('hex'),
    };
    const signed = signJwt({ alg: 'ES256', typ: 'at+jwt', kid }, claims, 'ES256', privateKey);
    for (const instance of cluster.instances) expect(await me(instance.url, signed), instance.url).toBe(200);

    const stranger = signJwt({ alg: 'ES256', typ: 'at+jwt', kid: randomUUID() }, claims, 'ES256', privateKey);
    for (const instance of cluster.instances) expect(await me(instance.url, stranger)).toBe(401);
    await db.query('DELETE FROM signing_keys WHERE kid = $1', [kid]);
  });

  it('picks up a key rotation on every instance with no failed issuance or validation under continuous load', async () => {
    const kidOf = (accessToken: string) => jwtHeader(accessToken).kid as string;
    const issueFrom = async (baseUrl: string) => (await token(service, { grant_type: 'client_credentials' }, baseUrl)).body.access_token as string;
    const oldKid = kidOf(await issueFrom(cluster.url));
    const validatedElsewhere: { kid: string; issuer: number; validator: number }[] = [];
    const load = startLoad(6, async (_, recorded) => {
      const issued = await recorded('token', `${cluster.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: basic(service.client_id, service.client_secret!), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      if (issued.status !== 200) return;
      const accessToken = issued.body!.access_token as string;
      // The next request goes to another instance (round-robin), which has to know the key.
      const validated = await recorded('api', `${cluster.url}/api/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      validatedElsewhere.push({ kid: kidOf(accessToken), issuer: cluster.slotOf(issued.upstream), validator: cluster.slotOf(validated.upstream) });
    });
    try {
      await load.completed(60);
      const rotated = await cluster.cli(['keys', 'rotate']);
      expect(rotated.code, rotated.stderr).toBe(0);
      const newKid = (JSON.parse(rotated.stdout) as { kid: string; alg: string }[]).find((key) => key.alg === 'ES256')!.kid;
      // Every instance signs with the new key once KEY_PUBLISH_DELAY (2 s) has passed.
      await waitUntil(
        async () => (await Promise.all(cluster.instances.map(async (instance) => kidOf(await issueFrom(instance.url))))).every((kid) => kid === newKid),
        8000,
        100,
      );
      await load.completed(60);
      const outcomes = await load.stop();
      expect(load.stepErrors).toEqual([]);
      const failed = outcomes.filter((outcome) => outcome.status !== 200);
      expect(failed.map(describeOutcome)).toEqual([]);
      const crossed = validatedElsewhere.filter((entry) => entry.kid === newKid && entry.issuer !== entry.validator);
      expect(crossed.length, 'tokens signed with the new key were validated by other instances').toBeGreaterThan(10);
      expect(validatedElsewhere.some((entry) => entry.kid === oldKid)).toBe(true);
    } finally {
      await load.stop();
    }
  });
});
