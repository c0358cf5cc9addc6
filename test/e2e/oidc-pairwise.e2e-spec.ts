import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicFor, jwtPayload, postForm } from '../helpers/http';
import { startTestApp, TestApp, TestClient } from '../helpers/test-app';

/** Pairwise subject identifiers (OpenID Connect Core §8.1). */
describe('pairwise subject identifiers', () => {
  let gatehouse: TestApp;
  let userId: string;

  beforeAll(async () => {
    gatehouse = await startTestApp();
    userId = (await gatehouse.createUser({ username: 'pia', password: 'pia-password-1', email: 'pia@example.com' })).id;
  });
  afterAll(() => gatehouse?.close());

  const client = (metadata: Record<string, unknown>) =>
    gatehouse.createClient({ grant_types: ['authorization_code', 'password'], scope: 'openid email', ...metadata });
  const subjects = async (rp: TestClient) => {
    const tokens = await postForm(
      `${gatehouse.baseUrl}/oauth/token`,
      { grant_type: 'password', username: 'pia', password: 'pia-password-1', scope: 'openid email' },
      { authorization: basicFor(rp) },
    );
    expect(tokens.status).toBe(200);
    const body = tokens.body as { id_token: string; access_token: string };
    const userinfo = (await (await fetch(`${gatehouse.baseUrl}/oauth/userinfo`, { headers: { authorization: `Bearer ${body.access_token}` } })).json()) as {
      sub: string;
    };
    return { idToken: jwtPayload(body.id_token).sub as string, userinfo: userinfo.sub };
  };

  it('gives a pairwise client a subject of its own, the same in the ID token and UserInfo', async () => {
    const seen = await subjects(await client({ subject_type: 'pairwise', redirect_uris: ['https://one.example/cb'] }));
    expect(seen.idToken).not.toBe(userId);
    expect(seen.userinfo).toBe(seen.idToken);
  });

  it('gives clients of one sector the same subject, and clients of different sectors different ones', async () => {
    const a = await subjects(await client({ subject_type: 'pairwise', redirect_uris: ['https://one.example/a'] }));
    const b = await subjects(await client({ subject_type: 'pairwise', redirect_uris: ['https://one.example/b'] }));
    const c = await subjects(await client({ subject_type: 'pairwise', redirect_uris: ['https://two.example/cb'] }));
    expect(a.idToken).toBe(b.idToken);
    expect(c.idToken).not.toBe(a.idToken);
  });

  it('keeps the public subject (the user id) for other clients', async () => {
    expect((await subjects(await client({ redirect_uris: ['https://one.example/cb'] }))).idToken).toBe(userId);
  });

  it('refuses a pairwise client with redirect URIs on several hosts and no sector_identifier_uri', async () => {
    await expect(client({ subject_type: 'pairwise', redirect_uris: ['https://one.example/cb', 'https://two.example/cb'] })).rejects.toMatchObject({
      code: 'invalid_client_metadata',
    });
  });

  it('lists pairwise in the discovery document', async () => {
    const discovery = (await (await fetch(`${gatehouse.baseUrl}/.well-known/openid-configuration`)).json()) as { subject_types_supported: string[] };
    expect(discovery.subject_types_supported).toEqual(['public', 'pairwise']);
  });
});

describe('sector_identifier_uri (OpenID Connect Core §8.1)', () => {
  let gatehouse: TestApp;
  let sector: import('node:http').Server;
  let sectorUrl: string;
  const listed = ['https://a.example/cb', 'https://b.example/cb'];

  beforeAll(async () => {
    gatehouse = await startTestApp();
    const { createServer } = await import('node:http');
    sector = createServer((request, response) => {
      if (request.url === '/sector.json') response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(listed));
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => sector.listen(0, '127.0.0.1', resolve));
    sectorUrl = `http://127.0.0.1:${(sector.address() as import('node:net').AddressInfo).port}`;
  });
  afterAll(async () => {
    sector?.close();
    await gatehouse?.close();
  });

  it('accepts a pairwise client whose redirect URIs on several hosts are all listed by its sector_identifier_uri', async () => {
    const client = await gatehouse.createClient({ subject_type: 'pairwise', redirect_uris: listed, sector_identifier_uri: `${sectorUrl}/sector.json` });
    expect(client.sector_identifier_uri).toBe(`${sectorUrl}/sector.json`);
  });

  it.each([
    ['a redirect URI the sector document does not list', ['https://a.example/cb', 'https://c.example/cb'], '/sector.json', /does not list/],
    ['a sector document that cannot be fetched', listed, '/missing.json', /answered 404/],
  ])('refuses %s', async (_, redirectUris, path, message) => {
    await expect(
      gatehouse.createClient({ subject_type: 'pairwise', redirect_uris: redirectUris, sector_identifier_uri: `${sectorUrl}${path}` }),
    ).rejects.toMatchObject({
      code: 'invalid_client_metadata',
      description: expect.stringMatching(message),
    });
  });
});
