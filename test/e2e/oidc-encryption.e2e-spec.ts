import { createHash, generateKeyPairSync } from 'node:crypto';
import { compactDecrypt, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicFor, postForm } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/**
 * Encrypted ID tokens and UserInfo (OpenID Connect Core §10.2, Registration §2): nested
 * signed-then-encrypted JWTs with the client's public key (RSA-OAEP-256, ECDH-ES) or a key
 * derived from its secret (dir, A256KW).
 */
describe('encrypted ID tokens and UserInfo (JWE)', () => {
  let gatehouse: TestApp;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = (key: typeof rsa.publicKey, kid: string) => ({ ...key.export({ format: 'jwk' }), kid, use: 'enc' });

  beforeAll(async () => {
    gatehouse = await startTestApp();
    await gatehouse.createUser({ username: 'erin', password: 'erin-password-1', email: 'erin@example.com', name: 'Erin' });
  });
  afterAll(() => gatehouse?.close());

  const register = (metadata: Record<string, unknown>) => gatehouse.createClient({ grant_types: ['password'], scope: 'openid profile email', ...metadata });
  const login = async (client: TestClient) => {
    const result = await postForm(
      `${gatehouse.baseUrl}/oauth/token`,
      { grant_type: 'password', username: 'erin', password: 'erin-password-1', scope: 'openid profile email' },
      { authorization: basicFor(client) },
    );
    expect(result.status).toBe(200);
    return result.body as { id_token: string; access_token: string };
  };
  const jwks = () => createRemoteJWKSet(new URL(`${gatehouse.baseUrl}/.well-known/jwks.json`));
  const secretKey = (client: TestClient) => new Uint8Array(createHash('sha256').update(client.client_secret!).digest());

  it('encrypts the ID token with RSA-OAEP-256 for the client’s RSA key; inside is the RS256-signed ID token', async () => {
    const client = await register({
      jwks: { keys: [jwk(rsa.publicKey, 'rsa-1')] },
      id_token_encrypted_response_alg: 'RSA-OAEP-256',
      id_token_encrypted_response_enc: 'A256GCM',
    });
    const { id_token: encrypted } = await login(client);
    expect(encrypted.split('.')).toHaveLength(5);
    expect(decodeProtectedHeader(encrypted)).toMatchObject({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT', kid: 'rsa-1' });
    const { plaintext } = await compactDecrypt(encrypted, rsa.privateKey);
    const { payload, protectedHeader } = await jwtVerify(new TextDecoder().decode(plaintext), jwks(), {
      issuer: gatehouse.config.issuer,
      audience: client.client_id,
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.sub).toEqual(expect.any(String));
  });

  it('encrypts with ECDH-ES for an EC key, with the default content encryption A128CBC-HS256', async () => {
    const client = await register({ jwks: { keys: [jwk(ec.publicKey, 'ec-1')] }, id_token_encrypted_response_alg: 'ECDH-ES' });
    const { id_token: encrypted } = await login(client);
    expect(decodeProtectedHeader(encrypted)).toMatchObject({ alg: 'ECDH-ES', enc: 'A128CBC-HS256' });
    const { plaintext } = await compactDecrypt(encrypted, ec.privateKey);
    await jwtVerify(new TextDecoder().decode(plaintext), jwks(), { issuer: gatehouse.config.issuer, audience: client.client_id });
  });

  it('encrypts with dir and A256KW using a key derived from the client secret (SHA-256, Core §10.2)', async () => {
    for (const alg of ['dir', 'A256KW']) {
      const client = await register({ id_token_encrypted_response_alg: alg, id_token_encrypted_response_enc: 'A256GCM' });
      const { id_token: encrypted } = await login(client);
      expect(decodeProtectedHeader(encrypted)).toMatchObject({ alg, enc: 'A256GCM' });
      const { plaintext } = await compactDecrypt(encrypted, secretKey(client));
      await jwtVerify(new TextDecoder().decode(plaintext), jwks(), { issuer: gatehouse.config.issuer, audience: client.client_id });
    }
  });

  it('returns UserInfo signed then encrypted (application/jwt) when the client registered both', async () => {
    const client = await register({
      jwks: { keys: [jwk(rsa.publicKey, 'rsa-2')] },
      userinfo_signed_response_alg: 'ES256',
      userinfo_encrypted_response_alg: 'RSA-OAEP-256',
    });
    const { access_token } = await login(client);
    const response = await fetch(`${gatehouse.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(response.headers.get('content-type')).toBe('application/jwt');
    const { plaintext } = await compactDecrypt(await response.text(), rsa.privateKey);
    const { payload, protectedHeader } = await jwtVerify(new TextDecoder().decode(plaintext), jwks(), {
      issuer: gatehouse.config.issuer,
      audience: client.client_id,
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ email: 'erin@example.com', name: 'Erin' });
  });

  it('returns UserInfo as encrypted JSON when the client registered encryption only', async () => {
    const client = await register({ userinfo_encrypted_response_alg: 'dir', userinfo_encrypted_response_enc: 'A128CBC-HS256' });
    const { access_token } = await login(client);
    const response = await fetch(`${gatehouse.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${access_token}` } });
    const { plaintext, protectedHeader } = await compactDecrypt(await response.text(), secretKey(client));
    expect(protectedHeader.cty).toBeUndefined();
    expect(JSON.parse(new TextDecoder().decode(plaintext))).toMatchObject({ email: 'erin@example.com' });
  });

  it.each([
    [{ id_token_encrypted_response_alg: 'RSA-OAEP-256' }, /jwks/],
    [{ id_token_encrypted_response_alg: 'RSA1_5', jwks: { keys: [] } }, /must be one of/],
    [{ id_token_encrypted_response_enc: 'A256GCM' }, /needs id_token_encrypted_response_alg/],
    [{ userinfo_encrypted_response_alg: 'dir', userinfo_encrypted_response_enc: 'A999GCM' }, /must be one of/],
    [{ id_token_encrypted_response_alg: 'dir', token_endpoint_auth_method: 'none' }, /secret/],
  ])('refuses inconsistent encryption metadata %j', async (metadata, message) => {
    await expect(register(metadata)).rejects.toMatchObject({ code: 'invalid_client_metadata', description: expect.stringMatching(message) });
  });
});
