import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJwt } from '../../src/common/jwt';
import { KeyStore } from '../../src/keys/key-store';
import { api, expectOAuthError, HttpResult, jwtHeader, obtainToken, request } from '../helpers/http';
import { accessTokenClaims, hs256Jwt, rawJwt, signWithServerKey, withPayload } from '../helpers/jwt';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

const PASSWORD = 'correct horse battery staple';

interface Note {
  id: string;
  text: string;
  created_at: string;
}

/** The sample resource API (RFC 6750 bearer tokens, RFC 9068 validation) at /api. */
describe('resource API', () => {
  let t: TestApp;
  /** Another, independent Gatehouse deployment in the same process. */
  let elsewhere: TestApp;
  let svc: TestClient;
  let reader: TestClient;
  let bare: TestClient;
  let foreignAudience: TestClient;
  let app: TestClient;
  let aliceId: string;

  beforeAll(async () => {
    [t, elsewhere] = await Promise.all([startTestApp(), startTestApp()]);
    svc = await t.createClient({ client_id: 'svc', grant_types: ['client_credentials'], scope: 'notes:read notes:write' });
    reader = await t.createClient({ client_id: 'reader', grant_types: ['client_credentials'], scope: 'notes:read' });
    bare = await t.createClient({ client_id: 'bare', grant_types: ['client_credentials'], scope: 'openid' });
    foreignAudience = await t.createClient({
      client_id: 'other-api-client',
      grant_types: ['client_credentials'],
      scope: 'notes:read',
      audience: ['https://other.example'],
    });
    app = await t.createClient({ client_id: 'app', grant_types: ['password'], scope: 'notes:read notes:write' });
    aliceId = (await t.createUser({ username: 'alice', password: PASSWORD })).id;
    await t.createUser({ username: 'bob', password: PASSWORD });
  });
  afterAll(async () => {
    await Promise.all([t?.close(), elsewhere?.close()]);
  });

  const clientToken = async (client: TestClient, scope?: string) =>
    (await obtainToken(t.baseUrl, client, { grant_type: 'client_credentials', scope })).access_token;
  const userToken = async (username: string) => (await obtainToken(t.baseUrl, app, { grant_type: 'password', username, password: PASSWORD })).access_token;
  const createNote = (token: string, text: string) => api<Note>(t.baseUrl, '/api/notes', token, { method: 'POST', json: { text } });
  const listNotes = async (token: string) => {
    const result = await api<Note[]>(t.baseUrl, '/api/notes', token);
    expect(result.status, result.text).toBe(200);
    return result.body.map((note) => note.text);
  };

  /** RFC 6750 §3: 401, invalid_token in the body and in the Bearer challenge. */
  const expectInvalidToken = (result: HttpResult<unknown>, context?: string) => {
    expect(result.status, `${context ?? ''} ${result.text}`).toBe(401);
    expectOAuthError(result, 401, 'invalid_token');
    expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="invalid_token"/);
  };
  const me = (token: string) => api(t.baseUrl, '/api/me', token);

  describe('GET /api/me', () => {
    it('describes the caller: sub, client_id, scope, exp', async () => {
      const token = await userToken('alice');
      const result = await me(token);
      expect(result.status, result.text).toBe(200);
      expect(result.body).toEqual({ sub: aliceId, client_id: 'app', scope: 'notes:read notes:write', exp: expect.any(Number) });
    });

    it('accepts any valid token, whatever its scope', async () => {
      expect((await me(await clientToken(bare))).status).toBe(200);
    });

    it('accepts the bearer scheme name in any case', async () => {
      const token = await clientToken(svc);
      const result = await request(`${t.baseUrl}/api/me`, { headers: { authorization: `bearer ${token}` } });
      expect(result.status, result.text).toBe(200);
    });

    it('answers a request without a token with 401 and a bare Bearer challenge (RFC 6750 §3.1)', async () => {
      const result = await api(t.baseUrl, '/api/me', undefined);
      expect(result.status).toBe(401);
      expectOAuthError(result, 401, 'invalid_token');
      const challenge = result.headers.get('www-authenticate');
      expect(challenge).toBe(`Bearer realm="${t.config.issuer}"`);
    });

    it('does not take a token from the query string', async () => {
      const token = await clientToken(svc);
      const result = await request(`${t.baseUrl}/api/me?access_token=${token}`);
      expect(result.status).toBe(401);
      expect(result.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    });

    it('answers a malformed Authorization header with 400 invalid_request', async () => {
      const token = await clientToken(svc);
      for (const authorization of [`Bearer ${token} extra`, `Bearer  ${token}`, 'Bearer', `Basic ${Buffer.from('a:b').toString('base64')}`, `Token ${token}`]) {
        const result = await request(`${t.baseUrl}/api/me`, { headers: { authorization } });
        expectOAuthError(result, 400, 'invalid_request');
        expect(result.headers.get('www-authenticate')).toMatch(/^Bearer\b.*error="invalid_request"/);
      }
    });
  });

  describe('notes', () => {
    it('creates, lists and deletes notes of the caller', async () => {
      const token = await clientToken(svc);
      const created = await createNote(token, 'first note');
      expect(created.status, created.text).toBe(201);
      expect(created.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), text: 'first note', created_at: expect.any(String) });
      expect(new Date(created.body.created_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(await listNotes(token)).toContain('first note');

      const deleted = await api(t.baseUrl, `/api/notes/${created.body.id}`, token, { method: 'DELETE' });
      expect(deleted.status, deleted.text).toBe(204);
      expect(deleted.text).toBe('');
      expect(await listNotes(token)).not.toContain('first note');
      const again = await api(t.baseUrl, `/api/notes/${created.body.id}`, token, { method: 'DELETE' });
      expectOAuthError(again, 404, 'not_found');
    });

    it("keeps a user's notes to that user: another user neither sees nor deletes them", async () => {
      const [alice, bob] = await Promise.all([userToken('alice'), userToken('bob')]);
      const note = (await createNote(alice, "alice's secret")).body;
      expect(await listNotes(bob)).not.toContain("alice's secret");
      expectOAuthError(await api(t.baseUrl, `/api/notes/${note.id}`, bob, { method: 'DELETE' }), 404, 'not_found');
      expect(await listNotes(alice)).toContain("alice's secret");
    });

    it('lets client_credentials tokens own notes as the client: its later tokens see them, others do not', async () => {
      const first = await clientToken(svc);
      expect((await createNote(first, 'owned by svc')).status).toBe(201);
      expect(await listNotes(await clientToken(svc))).toContain('owned by svc');
      expect(await listNotes(await clientToken(reader))).not.toContain('owned by svc');
      expect(await listNotes(await userToken('alice'))).not.toContain('owned by svc');
    });

    it('needs notes:read to list: otherwise 403 insufficient_scope with a Bearer challenge naming the scope', async () => {
      const result = await api(t.baseUrl, '/api/notes', await clientToken(bare));
      expectOAuthError(result, 403, 'insufficient_scope');
      expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="insufficient_scope", scope="notes:read"$/);
    });

    it('needs notes:write to create and delete: a notes:read token gets 403 insufficient_scope', async () => {
      const writer = await clientToken(svc);
      const note = (await createNote(writer, 'to keep')).body;
      const readOnly = await clientToken(reader);
      expect((await api(t.baseUrl, '/api/notes', readOnly)).status).toBe(200);

      const create = await createNote(readOnly, 'not allowed');
      expectOAuthError(create, 403, 'insufficient_scope');
      expect(create.headers.get('www-authenticate')).toMatch(/error="insufficient_scope", scope="notes:write"/);
      expectOAuthError(await api(t.baseUrl, `/api/notes/${note.id}`, readOnly, { method: 'DELETE' }), 403, 'insufficient_scope');
    });

    it('checks the scope of the token, not of the client: a narrowed token cannot write', async () => {
      expectOAuthError(await createNote(await clientToken(svc, 'notes:read'), 'not allowed'), 403, 'insufficient_scope');
    });

    it('answers an invalid or unknown note id with a JSON 404', async () => {
      const token = await clientToken(svc);
      for (const id of ['not-a-uuid', '123', '00000000-0000-0000-0000-000000000000', `${'a'.repeat(200)}`]) {
        expectOAuthError(await api(t.baseUrl, `/api/notes/${id}`, token, { method: 'DELETE' }), 404, 'not_found');
      }
    });

    it('refuses an invalid body with 400 invalid_request', async () => {
      const token = await clientToken(svc);
      const bodies: { body: string; type?: string }[] = [
        { body: '{}' },
        { body: '{"text":""}' },
        { body: '{"text":5}' },
        { body: '{"text":null}' },
        { body: JSON.stringify({ text: 'x'.repeat(2001) }) },
        { body: '{"text":"ok","owner":"someone-else"}' },
        { body: '{"text":"ok","id":"00000000-0000-0000-0000-000000000000"}' },
        { body: '[]' },
        { body: 'null' },
        { body: '"text"' },
        { body: '{"text":' },
        { body: 'hello', type: 'text/plain' },
      ];
      for (const { body, type } of bodies) {
        const result = await request(`${t.baseUrl}/api/notes`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': type ?? 'application/json' },
          body,
        });
        expect(result.status, `${type ?? 'json'} ${body.slice(0, 40)}: ${result.text}`).toBe(400);
        expectOAuthError(result, 400, 'invalid_request');
      }
      expect(await listNotes(token)).not.toContain('ok');
    });
  });

  describe('refused tokens (401 invalid_token)', () => {
    let kid: string;
    let jwks: { keys: Record<string, unknown>[] };

    beforeAll(async () => {
      kid = jwtHeader(await clientToken(svc)).kid as string;
      jwks = (await (await fetch(`${t.baseUrl}/.well-known/jwks.json`)).json()) as typeof jwks;
    });

    it('accepts the control: a token the server signed with valid claims', async () => {
      expect((await me(signWithServerKey(t, accessTokenClaims(t)))).status).toBe(200);
    });

    it('refuses an unsigned token (alg none) under a real kid', async () => {
      for (const alg of ['none', 'None', 'NONE']) expectInvalidToken(await me(rawJwt({ alg, typ: 'at+jwt', kid }, accessTokenClaims(t))), alg);
    });

    it("refuses an HS256 token whose HMAC key is one of the server's public keys (as JWK JSON or PEM)", async () => {
      for (const jwk of jwks.keys) {
        const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
        for (const secret of [JSON.stringify(jwk), pem, pem.trim()]) {
          expectInvalidToken(await me(hs256Jwt({ typ: 'at+jwt', kid: jwk.kid }, accessTokenClaims(t), secret)), `${jwk.alg as string} key as HS256 secret`);
        }
      }
    });

    it('refuses a token signed by a foreign key under a real kid', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const forged = await new SignJWT(accessTokenClaims(t)).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
      expectInvalidToken(await me(forged));
    });

    it("refuses a token signed with one of the server's keys under another key's kid or algorithm", async () => {
      const keys = t.app.get(KeyStore);
      const rsa = keys.activeKey('RS256');
      // The RS256 key's signature, labelled as the ES256 key's.
      expectInvalidToken(await me(signJwt({ alg: 'RS256', typ: 'at+jwt', kid }, accessTokenClaims(t), 'RS256', rsa.privateKey)), 'RS256 under ES256 kid');
      // The RS256 key used for PS256, an algorithm it is not published for.
      expectInvalidToken(
        await me(signJwt({ alg: 'PS256', typ: 'at+jwt', kid: rsa.kid }, accessTokenClaims(t), 'PS256', rsa.privateKey)),
        'PS256 with RS256 key',
      );
    });

    it('refuses a token with an unknown kid, or none', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      expectInvalidToken(
        await me(await new SignJWT(accessTokenClaims(t)).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'unknown' }).sign(privateKey)),
      );
      expectInvalidToken(await me(await new SignJWT(accessTokenClaims(t)).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(privateKey)));
    });

    it('refuses a token with a tampered payload', async () => {
      const token = await clientToken(reader);
      const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
      expectInvalidToken(await me(withPayload(token, { ...claims, scope: 'notes:read notes:write' })));
      expectInvalidToken(await me(withPayload(token, { ...claims, sub: aliceId })));
    });

    it('refuses a token of another issuer, even signed with the right key', async () => {
      expectInvalidToken(await me(signWithServerKey(t, accessTokenClaims(t, { iss: 'https://evil.example' }))));
      expectInvalidToken(await me(signWithServerKey(t, accessTokenClaims(t, { iss: `${t.config.issuer}/` }))));
    });

    it('refuses a token from another Gatehouse deployment', async () => {
      const stranger = await elsewhere.createClient({ client_id: 'svc', grant_types: ['client_credentials'], scope: 'notes:read notes:write' });
      const foreign = await obtainToken(elsewhere.baseUrl, stranger, { grant_type: 'client_credentials' });
      expect((await api(elsewhere.baseUrl, '/api/me', foreign.access_token)).status).toBe(200);
      expectInvalidToken(await me(foreign.access_token));
      // ...and the other way round.
      expectInvalidToken(await api(elsewhere.baseUrl, '/api/me', await clientToken(svc)));
    });

    it('refuses a token issued for another audience', async () => {
      const token = await clientToken(foreignAudience);
      expectInvalidToken(await me(token));
      expectInvalidToken(await me(signWithServerKey(t, accessTokenClaims(t, { aud: 'https://other.example' }))));
    });

    it('refuses another audience even after introspection has seen (and cached) the token', async () => {
      const token = await clientToken(foreignAudience);
      const introspection = await request(`${t.baseUrl}/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${svc.client_secret}`).toString('base64')}` },
        body: `token=${token}`,
      });
      expect((introspection.body as { active: boolean }).active).toBe(true);
      expectInvalidToken(await me(token));
    });

    it('accepts a token whose aud lists this API among others', async () => {
      expect((await me(signWithServerKey(t, accessTokenClaims(t, { aud: ['https://other.example', t.config.accessTokenAudience] })))).status).toBe(200);
    });

    it('refuses an expired token, but honours the clock-skew leeway', async () => {
      const now = Math.floor(Date.now() / 1000);
      const skew = t.config.clockSkew;
      expectInvalidToken(await me(signWithServerKey(t, accessTokenClaims(t, { iat: now - 3600, exp: now - skew - 5 }))));
      expect((await me(signWithServerKey(t, accessTokenClaims(t, { iat: now - 3600, exp: now - Math.floor(skew / 2) })))).status).toBe(skew > 0 ? 200 : 401);
    });

    it('refuses a token that is not valid yet (nbf in the future)', async () => {
      const now = Math.floor(Date.now() / 1000);
      expectInvalidToken(await me(signWithServerKey(t, accessTokenClaims(t, { nbf: now + 3600 }))));
    });

    it('refuses a server-signed JWT whose typ is not at+jwt (RFC 9068 §4), e.g. an ID token', async () => {
      expectInvalidToken(await me(signWithServerKey(t, accessTokenClaims(t), { typ: 'JWT' })));
      expectInvalidToken(await me(signWithServerKey(t, accessTokenClaims(t), { typ: 'id_token+jwt' })));
    });

    it('refuses a server-signed token without a required claim', async () => {
      for (const claim of ['sub', 'client_id', 'jti', 'scope', 'exp', 'iat', 'aud', 'iss']) {
        const claims = accessTokenClaims(t);
        delete claims[claim];
        expectInvalidToken(await me(signWithServerKey(t, claims)), `without ${claim}`);
      }
    });

    it('refuses garbage', async () => {
      for (const token of ['garbage', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.', 'x'.repeat(9000)]) expectInvalidToken(await me(token), token.slice(0, 20));
    });
  });
});
