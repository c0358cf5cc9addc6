import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactDecrypt, CompactEncrypt, decodeProtectedHeader, exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminService } from '../../src/admin/admin.service';
import { AuditQuery } from '../../src/audit/audit-query';
import { KeyStore } from '../../src/keys/key-store';
import { api, basicFor, jwtPayload, obtainToken, postForm, request } from '../helpers/http';
import { hiddenField, HttpBrowser } from '../helpers/http-browser';
import { accessTokenClaims, rawJwt, signWithServerKey } from '../helpers/jwt';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/**
 * Rules of RFC 9700 (OAuth 2.0 Security BCP) and RFC 8725 (JWT BCP) that Gatehouse follows
 * and that no other spec states on its own; docs/security.md maps every rule to its test.
 */
describe('OAuth 2.0 and JWT best current practice', () => {
  const folder = mkdtempSync(join(tmpdir(), 'gatehouse-bcp-'));
  const resourceKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const PASSWORD = 'bcp-password-correct-horse';
  const redirectUri = 'http://127.0.0.1:7501/callback';
  let t: TestApp;
  let web: TestClient;
  let mobile: TestClient;
  let machine: TestClient;

  beforeAll(async () => {
    const keyFile = join(folder, 'sample-api.pem');
    writeFileSync(keyFile, resourceKey.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    t = await startTestApp({ env: { SAMPLE_API_DECRYPTION_KEY: keyFile } });
    web = await t.createClient({ redirect_uris: [redirectUri], grant_types: ['authorization_code'], scope: 'openid notes:read' });
    mobile = await t.createClient({
      grant_types: ['password'],
      scope: 'openid notes:read',
      jwks: { keys: [{ ...(await exportJWK(clientKey.publicKey)), kid: 'client-rsa-1', use: 'enc' }] },
      id_token_encrypted_response_alg: 'RSA-OAEP-256',
      id_token_encrypted_response_enc: 'A256GCM',
    });
    machine = await t.createClient({ grant_types: ['client_credentials'], scope: 'notes:read' });
    await t.createUser({ username: 'erin', password: PASSWORD });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const me = async (token: string) => (await api(t.baseUrl, '/api/me', token)).status;
  const introspected = async (token: string) =>
    ((await postForm(`${t.baseUrl}/oauth/introspect`, { token }, { authorization: basicFor(machine) })).body as { active: boolean }).active;

  it('answers the login and consent form posts with 303 See Other, never 307, so the password is not posted on to the client (RFC 9700 §4.12)', async () => {
    const browser = new HttpBrowser(t.baseUrl);
    const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    const query = new URLSearchParams({
      client_id: web.client_id,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const loginPage = await (await browser.get(`/oauth/authorize?${query}`)).text();
    const login = await browser.post('/login', {
      csrf_token: hiddenField(loginPage, 'csrf_token'),
      return_to: hiddenField(loginPage, 'return_to'),
      username: 'erin',
      password: PASSWORD,
    });
    expect(login.status).toBe(303);
    const consentPage = await (await browser.get(login.headers.get('location')!)).text();
    expect(consentPage).toContain('data-page="consent"');
    const consent = await browser.post('/consent', {
      csrf_token: hiddenField(consentPage, 'csrf_token'),
      return_to: hiddenField(consentPage, 'return_to'),
      decision: 'allow',
    });
    expect(consent.status).toBe(303);
    expect(new URL(consent.headers.get('location')!, t.baseUrl).pathname).toBe('/oauth/authorize');
  });

  it('trusts no key a token names itself: jku, x5u and an embedded jwk are ignored, the token refused, and nothing is fetched (RFC 8725 §3.10)', async () => {
    const fetched: string[] = [];
    const attackerSite: Server = createServer((req, res) => {
      fetched.push(req.url ?? '/');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => attackerSite.listen(0, '127.0.0.1', resolve));
    const site = `http://127.0.0.1:${(attackerSite.address() as AddressInfo).port}`;
    try {
      const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = await exportJWK(attacker.publicKey);
      const realKid = t.app.get(KeyStore).activeKey('ES256').kid;
      const forged = (header: Record<string, unknown>) =>
        new SignJWT(accessTokenClaims(t)).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header }).sign(attacker.privateKey);
      for (const token of [
        await forged({ kid: 'attacker-1', jku: `${site}/jwks.json` }),
        await forged({ kid: realKid, jku: `${site}/jwks.json` }),
        await forged({ kid: 'attacker-2', x5u: `${site}/cert.pem` }),
        await forged({ kid: realKid, jwk }),
      ]) {
        expect(await me(token)).toBe(401);
        expect(await introspected(token)).toBe(false);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(fetched).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => attackerSite.close(() => resolve()));
    }
  });

  it('reads JWTs as UTF-8 only: a token the server really signed, but whose JSON is UTF-16, is refused (RFC 8725 §3.7)', async () => {
    const key = t.app.get(KeyStore).activeKey('ES256');
    const header = { alg: 'ES256', typ: 'at+jwt', kid: key.kid };
    const encoded = (encoding: BufferEncoding) => {
      const input = `${Buffer.from(JSON.stringify(header), encoding).toString('base64url')}.${Buffer.from(JSON.stringify(accessTokenClaims(t)), encoding).toString('base64url')}`;
      return `${input}.${sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    expect(await me(encoded('utf8')), 'the same construction in UTF-8 is accepted').toBe(200);
    expect(await me(encoded('utf16le'))).toBe(401);
    expect(await introspected(encoded('utf16le'))).toBe(false);
  });

  it('never takes an access token for an ID token: as id_token_hint it is refused at the authorization and end-session endpoints (RFC 8725 §3.12)', async () => {
    const tokens = await obtainToken(t.baseUrl, mobile, { grant_type: 'password', username: 'erin', password: PASSWORD, scope: 'openid notes:read' });
    const authorize = (hint: string) =>
      request(
        `${t.baseUrl}/oauth/authorize?${new URLSearchParams({
          client_id: web.client_id,
          redirect_uri: redirectUri,
          response_type: 'code',
          scope: 'openid',
          code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'),
          code_challenge_method: 'S256',
          id_token_hint: hint,
        })}`,
        { redirect: 'manual' },
      );
    const refused = await authorize(tokens.access_token);
    expect(refused.status).toBe(302);
    const location = new URL(refused.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/id_token_hint/);

    const logout = await request(`${t.baseUrl}/oauth/logout?${new URLSearchParams({ id_token_hint: tokens.access_token })}`, { redirect: 'manual' });
    expect(logout.status).toBe(400);
    expect(logout.text).toContain('data-error="invalid_request"');
  });

  it('takes the client address from X-Forwarded-For only when TRUST_PROXY says so: by default the audit log records the connection (RFC 9700 §4.13)', async () => {
    const forwarded = await postForm<{ access_token: string }>(
      `${t.baseUrl}/oauth/token`,
      { grant_type: 'client_credentials' },
      { authorization: basicFor(machine), 'x-forwarded-for': '203.0.113.50' },
    );
    expect(forwarded.status).toBe(200);
    const jti = jwtPayload(forwarded.body.access_token).jti;
    const rows = await t.app.get(AuditQuery).list({ event: 'token.issued', clientId: machine.client_id, limit: 100 });
    expect(rows.find((row) => row.details.jti === jti)?.remote_address).toBe('127.0.0.1');
  });

  it('never compresses before encrypting: an encrypted ID token has no zip header (RFC 8725 §3.6), and its inner token is signed and typed', async () => {
    const tokens = (await obtainToken(t.baseUrl, mobile, { grant_type: 'password', username: 'erin', password: PASSWORD, scope: 'openid' })) as {
      id_token?: string;
    };
    const idToken = tokens.id_token!;
    expect(idToken.split('.')).toHaveLength(5);
    expect(decodeProtectedHeader(idToken)).not.toHaveProperty('zip');
    const inner = new TextDecoder().decode((await compactDecrypt(idToken, clientKey.privateKey)).plaintext);
    expect(decodeProtectedHeader(inner)).toMatchObject({ alg: 'RS256', kid: expect.any(String) });
  });

  it('validates both layers of a nested token: an encrypted access token around a forged, unsigned or untyped JWS is refused (RFC 8725 §3.3, §3.11)', async () => {
    await t.app.get(AdminService).run('resources.register', {
      input: { audience: t.config.accessTokenAudience, encryption_jwk: { ...resourceKey.publicKey.export({ format: 'jwk' }), kid: 'sample-api-1' } },
    });
    const issued = (await obtainToken(t.baseUrl, machine, { grant_type: 'client_credentials' })).access_token;
    expect(issued.split('.')).toHaveLength(5);
    expect(decodeProtectedHeader(issued)).not.toHaveProperty('zip');
    const inner = new TextDecoder().decode((await compactDecrypt(issued, resourceKey.privateKey)).plaintext);
    const wrap = (jws: string) =>
      new CompactEncrypt(new TextEncoder().encode(jws))
        .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'at+jwt', kid: 'sample-api-1' })
        .encrypt(resourceKey.publicKey);
    expect(await me(await wrap(inner)), 'the genuine inner token, wrapped again, is accepted').toBe(200);

    const [header, payload, signature] = inner.split('.');
    const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    for (const forged of [`${header}.${payload}.${flipped}`, rawJwt({ alg: 'none', typ: 'at+jwt' }, claims), signWithServerKey(t, claims, { typ: 'JWT' })]) {
      expect(await me(await wrap(forged))).toBe(401);
    }
  });
});
