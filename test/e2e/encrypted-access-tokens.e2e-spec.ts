import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminService } from '../../src/admin/admin.service';
import { basicFor, postForm } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/** Access tokens encrypted (JWE) for resource servers that registered a key; the sample API decrypts its own. */
describe('encrypted access tokens for resource servers', () => {
  const folder = mkdtempSync(join(tmpdir(), 'gatehouse-rs-'));
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let gatehouse: TestApp;
  let client: TestClient;
  let admin: AdminService;

  beforeAll(async () => {
    const keyFile = join(folder, 'sample-api.pem');
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    gatehouse = await startTestApp({ env: { SAMPLE_API_DECRYPTION_KEY: keyFile } });
    client = await gatehouse.createClient({ grant_types: ['client_credentials'], scope: 'notes:read' });
    admin = gatehouse.app.get(AdminService);
  });
  afterAll(async () => {
    await gatehouse?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const issue = async () => {
    const result = await postForm(`${gatehouse.baseUrl}/oauth/token`, { grant_type: 'client_credentials' }, { authorization: basicFor(client) });
    expect(result.status).toBe(200);
    return (result.body as { access_token: string }).access_token;
  };
  const me = async (token: string) => (await fetch(`${gatehouse.baseUrl}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('issues signed (JWS) access tokens while no resource server registered a key', async () => {
    expect((await issue()).split('.')).toHaveLength(3);
  });

  it('encrypts the access tokens of an audience whose resource server registered a key, with the signed token inside', async () => {
    await admin.run('resources.register', {
      input: { audience: gatehouse.config.accessTokenAudience, encryption_jwk: { ...publicKey.export({ format: 'jwk' }), kid: 'sample-api-1' } },
    });
    const token = await issue();
    expect(token.split('.')).toHaveLength(5);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'at+jwt', kid: 'sample-api-1' });
    const inner = new TextDecoder().decode((await compactDecrypt(token, privateKey)).plaintext);
    expect(decodeProtectedHeader(inner)).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
  });

  it('lets the sample API decrypt and accept them, twice (the second time from its cache)', async () => {
    const token = await issue();
    expect(await me(token)).toBe(200);
    expect(await me(token)).toBe(200);
  });

  it('refuses a tampered encrypted token', async () => {
    const parts = (await issue()).split('.');
    parts[3] = `${parts[3].slice(0, -2)}AA`;
    expect(await me(parts.join('.'))).toBe(401);
  });

  it('refuses a private key as a resource server key, and goes back to signed tokens once the key is removed', async () => {
    await expect(
      admin.run('resources.register', { input: { audience: 'https://rs.example', encryption_jwk: privateKey.export({ format: 'jwk' }) } }),
    ).rejects.toMatchObject({
      code: 'invalid_request',
    });
    await admin.run('resources.delete', { id: gatehouse.config.accessTokenAudience });
    expect((await issue()).split('.')).toHaveLength(3);
  });
});
