import { Client as PgClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditQuery, AuditRecord } from '../../src/audit/audit-query';
import { KeyStore } from '../../src/keys/key-store';
import { basicFor, jwtPayload, obtainToken, postForm, request, TokenSet } from '../helpers/http';
import { HttpBrowser } from '../helpers/http-browser';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/**
 * The audit log (append-only table audit_events): every security event lands with who
 * (subject, client, or the administrator), what, when and from where (the client's
 * address, here set by X-Forwarded-For behind TRUST_PROXY), and never a secret: each test
 * checks the rows it produced against the tokens, codes, secrets and passwords it handled.
 */
describe('audit log', () => {
  let t: TestApp;
  let machine: TestClient;
  let mobile: TestClient;
  let web: TestClient;
  let bob: string;
  const PASSWORD = 'audit-password-correct-horse';
  const redirectUri = 'http://127.0.0.1:7401/callback';
  let address = 0;
  /** A fresh client address per call, so that each test sees its own requests' addresses. */
  const nextAddress = () => `198.51.100.${++address}`;
  const from = (remote: string) => ({ 'x-forwarded-for': remote });

  beforeAll(async () => {
    t = await startTestApp({ env: { TRUST_PROXY: 'true', LOGIN_MAX_FAILURES: '3', KEY_PUBLISH_DELAY: '0s', AUDIT_FLUSH_INTERVAL_MS: '50' } });
    machine = await t.createClient({ client_name: 'Reports', grant_types: ['client_credentials'], scope: 'notes:read' });
    mobile = await t.createClient({ client_name: 'Mobile', grant_types: ['password', 'refresh_token'], scope: 'openid notes:read' });
    web = await t.createClient({
      client_name: 'Web',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid notes:read',
    });
    bob = (await t.createUser({ username: 'bob', password: PASSWORD })).id;
    await t.createUser({ username: 'carol', password: PASSWORD });
  });
  afterAll(() => t?.close());

  /** The events (oldest first) matching the filter, through the CLI's query. */
  const events = async (filter: { event?: string; subject?: string; clientId?: string } = {}): Promise<AuditRecord[]> =>
    (await t.app.get(AuditQuery).list({ limit: 1000, ...filter })).reverse();
  const newest = async (event: string, filter: { subject?: string; clientId?: string } = {}): Promise<AuditRecord> => {
    const found = (await events({ event, ...filter })).at(-1);
    expect(found, `an ${event} event`).toBeDefined();
    return found!;
  };
  /** Fails when any row of the log contains any of the given secrets. */
  const expectNoSecretIn = async (secrets: (string | undefined)[]) => {
    const serialized = JSON.stringify(await events());
    for (const secret of secrets.filter((value): value is string => typeof value === 'string' && value.length > 0)) {
      expect(serialized.includes(secret), `a secret (${secret.slice(0, 6)}…) is in the audit log`).toBe(false);
    }
  };
  const tokenFrom = async (client: TestClient, params: Record<string, string>, remote: string): Promise<TokenSet> => {
    const result = await postForm<TokenSet>(`${t.baseUrl}/oauth/token`, params, { authorization: basicFor(client), ...from(remote) });
    expect(result.status, result.text).toBe(200);
    return result.body;
  };
  const since = (row: AuditRecord, started: number) => expect(Date.parse(row.occurred_at)).toBeGreaterThanOrEqual(started - 1000);

  it('records a client_credentials token as token.issued: the client as subject, the grant type, the jti, the address', async () => {
    const started = Date.now();
    const remote = nextAddress();
    const tokens = await tokenFrom(machine, { grant_type: 'client_credentials' }, remote);
    const row = await newest('token.issued', { clientId: machine.client_id });
    since(row, started);
    expect(row).toMatchObject({
      client_id: machine.client_id,
      subject: machine.client_id,
      remote_address: remote,
      actor: null,
      details: { grant_type: 'client_credentials', jti: jwtPayload(tokens.access_token).jti, scope: 'notes:read', refresh_token: false, id_token: false },
    });
    await expectNoSecretIn([tokens.access_token, machine.client_secret, basicFor(machine)]);
  });

  it('records a password sign-in as login.succeeded and its tokens as token.issued, with the grant id; never the password or tokens', async () => {
    const remote = nextAddress();
    const tokens = await tokenFrom(mobile, { grant_type: 'password', username: 'bob', password: PASSWORD, scope: 'openid notes:read' }, remote);
    expect(await newest('login.succeeded', { subject: bob })).toMatchObject({
      client_id: mobile.client_id,
      remote_address: remote,
      details: { via: 'password_grant' },
    });
    const claims = jwtPayload(tokens.access_token);
    expect(await newest('token.issued', { clientId: mobile.client_id })).toMatchObject({
      subject: bob,
      remote_address: remote,
      details: { grant_type: 'password', jti: claims.jti, grant_id: claims.grant_id, refresh_token: true, id_token: true },
    });
    await expectNoSecretIn([PASSWORD, tokens.access_token, tokens.refresh_token, (tokens as TokenSet & { id_token?: string }).id_token, mobile.client_secret]);
  });

  it('records failed sign-ins (wrong password with the subject, unknown username without the typed name), then the lockout and refused attempts', async () => {
    const remote = nextAddress();
    const attempt = (username: string, password: string) =>
      postForm(`${t.baseUrl}/oauth/token`, { grant_type: 'password', username, password }, { authorization: basicFor(mobile), ...from(remote) });
    const typedName = 'carol-typed-a-password-here';
    expect((await attempt(typedName, 'wrong-password-1')).status).toBe(400);
    const unknown = await newest('login.failed', { clientId: mobile.client_id });
    expect(unknown).toMatchObject({ subject: null, remote_address: remote, details: { via: 'password_grant', reason: 'unknown_username' } });

    for (let i = 1; i <= 3; i++) expect((await attempt('carol', `wrong-password-${i}`)).status).toBe(400);
    const failures = (await events({ event: 'login.failed', clientId: mobile.client_id })).filter((row) => row.subject !== null);
    expect(failures.length).toBeGreaterThanOrEqual(3);
    const carolSub = failures.at(-1)!.subject!;
    expect(failures.at(-1)).toMatchObject({ remote_address: remote, details: { via: 'password_grant', reason: 'wrong_password' } });
    const locked = await newest('account.locked', { subject: carolSub });
    expect(locked).toMatchObject({ client_id: mobile.client_id, remote_address: remote, details: { via: 'password_grant' } });
    expect(Date.parse(locked.details.locked_until as string)).toBeGreaterThan(Date.now());

    expect((await attempt('carol', PASSWORD)).status).toBe(400);
    expect(await newest('login.locked', { subject: carolSub })).toMatchObject({ remote_address: remote, details: { via: 'password_grant' } });
    await expectNoSecretIn([PASSWORD, 'wrong-password-1', 'wrong-password-2', 'wrong-password-3', typedName]);
  });

  it('records a refresh as token.refreshed under the same grant, and a reused refresh token as refresh_token.reuse_detected', async () => {
    const remote = nextAddress();
    const first = await tokenFrom(mobile, { grant_type: 'password', username: 'bob', password: PASSWORD, scope: 'notes:read' }, remote);
    const grantId = jwtPayload(first.access_token).grant_id;
    const second = await tokenFrom(mobile, { grant_type: 'refresh_token', refresh_token: first.refresh_token! }, remote);
    expect(await newest('token.refreshed', { clientId: mobile.client_id })).toMatchObject({
      subject: bob,
      remote_address: remote,
      details: { grant_type: 'refresh_token', grant_id: grantId, jti: jwtPayload(second.access_token).jti, refresh_token: true },
    });
    const replay = await postForm(
      `${t.baseUrl}/oauth/token`,
      { grant_type: 'refresh_token', refresh_token: first.refresh_token! },
      { authorization: basicFor(mobile), ...from(remote) },
    );
    expect(replay.status).toBe(400);
    expect(await newest('refresh_token.reuse_detected', { clientId: mobile.client_id })).toMatchObject({
      subject: bob,
      remote_address: remote,
      details: { grant_id: grantId, reason: 'refresh_token_reuse' },
    });
    await expectNoSecretIn([first.access_token, first.refresh_token, second.access_token, second.refresh_token]);
  });

  it('records revocation: an access token as access_token.revoked (jti), a refresh token as grant.revoked (grant id), with the address', async () => {
    const remote = nextAddress();
    const tokens = await tokenFrom(mobile, { grant_type: 'password', username: 'bob', password: PASSWORD, scope: 'notes:read' }, remote);
    const claims = jwtPayload(tokens.access_token);
    const revoke = (token: string) => postForm(`${t.baseUrl}/oauth/revoke`, { token }, { authorization: basicFor(mobile), ...from(remote) });
    expect((await revoke(tokens.access_token)).status).toBe(200);
    expect(await newest('access_token.revoked', { clientId: mobile.client_id })).toMatchObject({
      subject: bob,
      remote_address: remote,
      details: { jti: claims.jti },
    });
    expect((await revoke(tokens.refresh_token!)).status).toBe(200);
    expect(await newest('grant.revoked', { clientId: mobile.client_id })).toMatchObject({
      subject: bob,
      remote_address: remote,
      details: { grant_id: claims.grant_id, reason: 'revoked_by_client' },
    });
    await expectNoSecretIn([tokens.access_token, tokens.refresh_token]);
  });

  it('records the browser journey: login page sign-in, session start, consent granted, the code redemption, a replayed code, consent withdrawn, logout', async () => {
    const remote = nextAddress();
    const browser = new HttpBrowser(t.baseUrl, from(remote));
    const { code, verifier } = await browser.authorize(web, { redirectUri, scope: 'openid notes:read', username: 'bob', password: PASSWORD });
    expect(await newest('login.succeeded', { subject: bob })).toMatchObject({ client_id: null, remote_address: remote, details: { via: 'login_page' } });
    const session = await newest('session.started', { subject: bob });
    expect(session).toMatchObject({ remote_address: remote, details: { session_id: expect.any(String) } });
    expect(await newest('consent.granted', { subject: bob })).toMatchObject({
      client_id: web.client_id,
      remote_address: remote,
      details: { scope: 'openid notes:read', session_id: session.details.session_id },
    });

    const tokenRemote = nextAddress();
    const redeem = () =>
      postForm<TokenSet>(
        `${t.baseUrl}/oauth/token`,
        { grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri, code_verifier: verifier },
        { authorization: basicFor(web), ...from(tokenRemote) },
      );
    const tokens = (await redeem()).body;
    expect(await newest('token.issued', { clientId: web.client_id })).toMatchObject({
      subject: bob,
      remote_address: tokenRemote,
      details: { grant_type: 'authorization_code', jti: jwtPayload(tokens.access_token).jti, grant_id: jwtPayload(tokens.access_token).grant_id },
    });
    expect((await redeem()).status).toBe(400);
    expect(await newest('authorization_code.reuse_detected', { clientId: web.client_id })).toMatchObject({
      subject: bob,
      remote_address: tokenRemote,
      details: { grant_id: jwtPayload(tokens.access_token).grant_id, reason: 'authorization_code_reuse' },
    });

    const csrf = await browser.csrfToken();
    expect((await browser.delete(`/account/consents/${encodeURIComponent(web.client_id)}`, { 'x-csrf-token': csrf })).status).toBe(204);
    expect(await newest('consent.withdrawn', { subject: bob })).toMatchObject({ client_id: web.client_id, remote_address: remote });

    expect((await browser.post('/logout', { csrf_token: csrf })).status).toBeLessThan(400);
    expect(await newest('session.logged_out', { subject: bob })).toMatchObject({
      remote_address: remote,
      details: { session_id: session.details.session_id, reason: 'user' },
    });
    await expectNoSecretIn([
      PASSWORD,
      code,
      verifier,
      tokens.access_token,
      tokens.refresh_token,
      (tokens as TokenSet & { id_token?: string }).id_token,
      csrf,
      browser.cookie,
    ]);
  });

  it("records an implicit grant's token as token.issued with grant_type implicit and the browser's address", async () => {
    const legacy = await t.createClient({ redirect_uris: [redirectUri], grant_types: ['implicit'], response_types: ['token'], scope: 'notes:read' });
    const remote = nextAddress();
    const browser = new HttpBrowser(t.baseUrl, from(remote));
    const { fragment } = await browser.authorize(legacy, { redirectUri, scope: 'notes:read', username: 'bob', password: PASSWORD, responseType: 'token' });
    const token = fragment.get('access_token')!;
    expect(token).toBeTruthy();
    expect(await newest('token.issued', { clientId: legacy.client_id })).toMatchObject({
      subject: bob,
      remote_address: remote,
      details: { grant_type: 'implicit', jti: jwtPayload(token).jti, refresh_token: false },
    });
    await expectNoSecretIn([token, PASSWORD, browser.cookie]);
  });

  it('records dynamic registration: client.created, client.updated and client.deleted with the address, never the registration access token or secret', async () => {
    const remote = nextAddress();
    const registered = await request<Record<string, string>>(`${t.baseUrl}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...from(remote) },
      body: JSON.stringify({ client_name: 'Registered', redirect_uris: ['https://app.example.com/cb'] }),
    });
    expect(registered.status, registered.text).toBe(201);
    const { client_id: clientId, client_secret: secret, registration_access_token: token, registration_client_uri: uri } = registered.body;
    expect(await newest('client.created', { clientId })).toMatchObject({ remote_address: remote, actor: null, details: { via: 'dynamic_registration' } });
    const management = { authorization: `Bearer ${token}`, ...from(remote) };
    const updated = await request(uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...management },
      body: JSON.stringify({ client_id: clientId, client_name: 'Renamed', redirect_uris: ['https://app.example.com/cb'] }),
    });
    expect(updated.status, updated.text).toBe(200);
    expect(await newest('client.updated', { clientId })).toMatchObject({ remote_address: remote, details: { via: 'dynamic_registration' } });
    expect((await request(uri, { method: 'DELETE', headers: management })).status).toBe(204);
    expect(await newest('client.deleted', { clientId })).toMatchObject({ remote_address: remote, details: { via: 'dynamic_registration' } });
    await expectNoSecretIn([secret, token]);
  });

  it('records the first keys as key.created by the system, with their ids and algorithms only', async () => {
    const [created] = await events({ event: 'key.created' });
    expect(created).toMatchObject({ actor: 'system', subject: null, client_id: null });
    const keys = created.details.keys as { kid: string; alg: string }[];
    expect(keys.map((key) => key.alg).sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
    for (const key of keys) expect(Object.keys(key).sort()).toEqual(['alg', 'kid']);
  });

  it('records a key rollover as key.activated for the new keys and key.retired (with the successor) for the old ones, by the system', async () => {
    const keys = t.app.get(KeyStore);
    const before = keys.activeKey('ES256').kid;
    await keys.rotate();
    const after = keys.activeKey('ES256').kid;
    expect(after).not.toBe(before);
    const activated = (await events({ event: 'key.activated' })).find((row) => row.details.kid === after);
    expect(activated).toMatchObject({ actor: 'system', details: { alg: 'ES256' } });
    const retired = (await events({ event: 'key.retired' })).find((row) => row.details.kid === before);
    expect(retired).toMatchObject({ actor: 'system', details: { alg: 'ES256', successor_kid: after, unpublish_at: expect.any(String) } });
    // One row per activation, however often it is observed.
    await keys.reload();
    await keys.reload();
    expect((await events({ event: 'key.activated' })).filter((row) => row.details.kid === after)).toHaveLength(1);
  });

  it('is append-only: UPDATE, DELETE and TRUNCATE of audit_events are refused, and the rows stay', async () => {
    const count = (await events()).length;
    expect(count).toBeGreaterThan(0);
    const sql = new PgClient({ connectionString: t.databaseUrl });
    await sql.connect();
    try {
      for (const statement of [
        `UPDATE audit_events SET event = 'erased'`,
        `DELETE FROM audit_events`,
        `DELETE FROM audit_events WHERE false`,
        `TRUNCATE audit_events`,
      ]) {
        await expect(sql.query(statement), statement).rejects.toThrow(/audit_events is append-only/);
      }
      await sql.query(`INSERT INTO audit_events (event, details) VALUES ('test.inserted', '{}')`);
    } finally {
      await sql.end();
    }
    const after = await events();
    expect(after.length).toBe(count + 1);
    expect(after.some((row) => row.event === 'erased')).toBe(false);
  });

  it('costs the token endpoint no wait: a burst of tokens all land in the log, in one or a few multi-row writes', async () => {
    const before = (await events({ event: 'token.issued', clientId: machine.client_id })).length;
    const burst = await Promise.all(Array.from({ length: 60 }, () => obtainToken(t.baseUrl, machine, { grant_type: 'client_credentials' })));
    const rows = await events({ event: 'token.issued', clientId: machine.client_id });
    expect(rows.length).toBe(before + burst.length);
    const jtis = new Set(rows.map((row) => row.details.jti));
    for (const tokens of burst) expect(jtis.has(jwtPayload(tokens.access_token).jti)).toBe(true);
    await expectNoSecretIn(burst.map((tokens) => tokens.access_token));
  });
});
