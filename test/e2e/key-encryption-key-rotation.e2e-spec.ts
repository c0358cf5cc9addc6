import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactDecrypt, decodeJwt, jwtVerify } from 'jose';
import { Client as PgClient } from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/common/crypto';
import { keyEncryptionKeyId, SecretBox } from '../../src/common/secret-box';
import { SEALED_COLUMNS, sealingContext } from '../../src/secrets/sealed-columns';
import { ServerSecrets } from '../../src/secrets/server-secrets';
import { ClientsService } from '../../src/clients/clients.service';
import { SubjectIdentifiers } from '../../src/tokens/subject-identifiers';
import { CliResult, createDatabase, newKeyEncryptionKey, runCli, runServerToExit, ServerProcess, startServer, tokenRequest } from '../helpers/processes';
import { startInstance, startTestApp, TestApp } from '../helpers/test-app';

const kidOf = (jwt: string): string => (JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()) as { kid: string }).kid;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const idOfKey = (hex: string) => keyEncryptionKeyId(Buffer.from(hex, 'hex'));

interface Credentials {
  id: string;
  secret: string;
}

/** Checks the JSON `keys reencrypt` printed as a whole: [resealed, already_current] per kind, nothing remaining. */
function expectResealed(result: CliResult, keyHex: string, counts: Record<'signing_keys' | 'client_secrets' | 'server_secrets', [number, number]>): void {
  expect(result.code, result.stderr).toBe(0);
  const kinds = Object.fromEntries(Object.entries(counts).map(([kind, [resealed, current]]) => [kind, { resealed, already_current: current }]));
  expect(JSON.parse(result.stdout)).toEqual({ key_id: idOfKey(keyHex), ...kinds, remaining: 0, remaining_key_ids: [] });
}

const apiStatus = async (server: ServerProcess, token: string) =>
  (await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status;

/** Every sealed value in the database with the key id it names, read with SQL. */
async function sealedKeyIds(databaseUrl: string): Promise<{ column: string; keyId: string }[]> {
  const db = new PgClient({ connectionString: databaseUrl });
  await db.connect();
  try {
    const found: { column: string; keyId: string }[] = [];
    for (const column of SEALED_COLUMNS) {
      const rows = await db.query<{ key_id: string }>(
        `SELECT split_part(${column.column}, '.', 2) AS key_id FROM ${column.table} WHERE ${column.column} IS NOT NULL`,
      );
      found.push(...rows.rows.map((row) => ({ column: `${column.table}.${column.column}`, keyId: row.key_id })));
    }
    return found;
  } finally {
    await db.end();
  }
}

/**
 * Rotating the key-encryption key with no downtime: instances roll to the new key with the
 * old one as a previous key, `keys reencrypt` re-seals every stored secret, then the old key
 * is dropped. Real processes over one PostgreSQL, tokens issued and checked all along.
 */
describe('key-encryption-key rotation (keys reencrypt) across instances', { timeout: 120_000 }, () => {
  const oldKey = newKeyEncryptionKey();
  const newKey = newKeyEncryptionKey();
  let database: { url: string; drop: () => Promise<void> };
  let oldEnv: Record<string, string>;
  let rollingEnv: Record<string, string>;
  let newEnv: Record<string, string>;
  let old: ServerProcess;
  let rolling: ServerProcess;
  let fresh: ServerProcess;
  let machine: Credentials;
  let hmacClient: Credentials;
  let pairwiseSubject: string;
  let earlyToken: string;
  let earlyRefreshToken: string;

  /** Background traffic for the whole scenario: issue on one instance, validate on another. */
  const traffic = { running: true, issued: [] as string[], failures: [] as string[], done: Promise.resolve() };
  const serving: ServerProcess[] = [];

  const passwordLogin = (server: ServerProcess, client: Credentials) =>
    tokenRequest(server.url, { grant_type: 'password', username: 'dana', password: 'dana-password-1', scope: 'openid profile email' }, client);

  beforeAll(async () => {
    database = await createDatabase();
    oldEnv = {
      DATABASE_URL: database.url,
      KEY_ENCRYPTION_KEY: oldKey,
      KEY_PUBLISH_DELAY: '2s',
      SYNC_INTERVAL_MS: '500',
      ISSUER: 'http://gatehouse.test',
      DATABASE_POOL_SIZE: '3',
    };
    rollingEnv = { ...oldEnv, KEY_ENCRYPTION_KEY: newKey, KEY_ENCRYPTION_KEYS_PREVIOUS: oldKey };
    newEnv = { ...oldEnv, KEY_ENCRYPTION_KEY: newKey };

    old = await startServer(oldEnv);
    serving.push(old);
    const create = async (metadata: object): Promise<Credentials> => {
      const result = await runCli(['clients', 'create'], oldEnv, JSON.stringify(metadata));
      expect(result.code, result.stderr).toBe(0);
      const client = JSON.parse(result.stdout) as { client_id: string; client_secret: string };
      return { id: client.client_id, secret: client.client_secret };
    };
    machine = await create({ grant_types: ['client_credentials'], scope: 'notes:read' });
    // HS256 ID tokens and dir-encrypted UserInfo use the client secret itself; a pairwise subject uses the server's derivation key.
    hmacClient = await create({
      grant_types: ['password'],
      scope: 'openid profile email',
      redirect_uris: ['https://rp.example/callback'],
      subject_type: 'pairwise',
      id_token_signed_response_alg: 'HS256',
      userinfo_encrypted_response_alg: 'dir',
      userinfo_encrypted_response_enc: 'A256GCM',
    });
    const user = await runCli(
      ['users', 'create'],
      oldEnv,
      JSON.stringify({ username: 'dana', password: 'dana-password-1', email: 'dana@example.com', name: 'Dana' }),
    );
    expect(user.code, user.stderr).toBe(0);

    const login = await passwordLogin(old, hmacClient);
    expect(login.status).toBe(200);
    pairwiseSubject = decodeJwt(login.body.id_token as string).sub!;
    earlyRefreshToken = login.body.refresh_token as string;
    earlyToken = (await tokenRequest(old.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string;

    traffic.done = (async () => {
      for (let i = 0; traffic.running; i++) {
        const issuer = serving[i % serving.length];
        const verifier = serving[(i + 1) % serving.length];
        try {
          const response = await tokenRequest(issuer.url, { grant_type: 'client_credentials' }, machine);
          if (response.status !== 200) traffic.failures.push(`issue at ${issuer.url}: ${response.status} ${JSON.stringify(response.body)}`);
          else {
            const token = response.body.access_token as string;
            traffic.issued.push(token);
            const status = await apiStatus(verifier, token);
            if (status !== 200) traffic.failures.push(`token from ${issuer.url} (kid ${kidOf(token)}) refused by ${verifier.url}: ${status}`);
          }
        } catch (error) {
          traffic.failures.push(`request failed: ${(error as Error).message}`);
        }
        await sleep(40);
      }
    })();
  }, 180_000);

  afterAll(async () => {
    traffic.running = false;
    await traffic.done;
    await Promise.all([old?.stop(), rolling?.stop(), fresh?.stop()]);
    await database?.drop();
  });

  it('during the roll, an instance still on the old key and one on the new key (old as previous) serve side by side', async () => {
    rolling = await startServer(rollingEnv);
    serving.push(rolling);
    const fromRolling = (await tokenRequest(rolling.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string;
    expect(await apiStatus(old, fromRolling)).toBe(200);
    expect(await apiStatus(rolling, earlyToken)).toBe(200);
    // The rolling instance opens the client secret sealed with the old key (HS256, dir).
    const login = await passwordLogin(rolling, hmacClient);
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    await jwtVerify(login.body.id_token as string, new TextEncoder().encode(hmacClient.secret), { algorithms: ['HS256'] });
  });

  it('a signing key created during the roll (sealed with the new key) verifies on the old-key instance, which keeps signing with a key it can open', async () => {
    const rotated = await runCli(['keys', 'rotate'], rollingEnv);
    expect(rotated.code, rotated.stderr).toBe(0);
    const newKid = (JSON.parse(rotated.stdout) as { kid: string; alg: string }[]).find((key) => key.alg === 'ES256')!.kid;
    const oldKid = kidOf(earlyToken);
    await expect
      .poll(async () => kidOf((await tokenRequest(rolling.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string), {
        timeout: 10_000,
        interval: 250,
      })
      .toBe(newKid);
    const signedWithNewKey = (await tokenRequest(rolling.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string;
    expect(await apiStatus(old, signedWithNewKey)).toBe(200);
    const fromOld = (await tokenRequest(old.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string;
    expect(kidOf(fromOld)).toBe(oldKid);
    expect(await apiStatus(rolling, fromOld)).toBe(200);
    expect(old.output()).toContain(`signing key ${newKid} (ES256) is sealed with key-encryption key ${idOfKey(newKey)}, which this instance does not have`);
  });

  it('keys reencrypt re-seals every stored secret under the new key and never overwrites a secret rotated meanwhile by an old-key instance', async () => {
    // An old-key instance rotating hmacClient's secret while the command runs: its row is locked
    // when the command's batch UPDATE reaches it, and holds a different value when the lock goes.
    const rotatedSecret = randomBytes(32).toString('base64url');
    const locker = new PgClient({ connectionString: database.url });
    // Statistics are a snapshot per transaction: the lock holder cannot watch for the waiter itself.
    const watcher = new PgClient({ connectionString: database.url });
    await Promise.all([locker.connect(), watcher.connect()]);
    let reencrypt: ReturnType<typeof runCli> | undefined;
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM clients WHERE client_id = $1 FOR UPDATE', [hmacClient.id]);
      reencrypt = runCli(['keys', 'reencrypt'], rollingEnv);
      await expect
        .poll(
          async () =>
            (
              await watcher.query<{ waiting: number }>(
                `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE clients%'`,
              )
            ).rows[0].waiting,
          { timeout: 30_000, interval: 100 },
        )
        .toBe(1);
      const sealedWithOldKey = new SecretBox(Buffer.from(oldKey, 'hex')).seal(rotatedSecret, sealingContext.clientSecret(hmacClient.id));
      await locker.query('UPDATE clients SET secret_hash = $2, secret_sealed = $3, secret_rotated_at = now() WHERE client_id = $1', [
        hmacClient.id,
        sha256(rotatedSecret),
        sealedWithOldKey,
      ]);
      await locker.query(`SELECT pg_notify('gatehouse_changes', $1)`, [`clients:${hmacClient.id}`]);
      await locker.query('COMMIT');
    } finally {
      await Promise.all([locker.end(), watcher.end()]);
    }
    expectResealed(await reencrypt!, newKey, {
      // 4 created at first start under the old key; 4 created by the rotation under the new one.
      signing_keys: [4, 4],
      // The rotated one is re-sealed in a second pass, with its new value.
      client_secrets: [2, 0],
      server_secrets: [1, 0],
    });
    hmacClient = { id: hmacClient.id, secret: rotatedSecret };
    const db = new PgClient({ connectionString: database.url });
    await db.connect();
    const row = (await db.query<{ secret_sealed: string }>('SELECT secret_sealed FROM clients WHERE client_id = $1', [hmacClient.id])).rows[0];
    await db.end();
    expect(new SecretBox(Buffer.from(newKey, 'hex')).open(row.secret_sealed, sealingContext.clientSecret(hmacClient.id))).toBe(rotatedSecret);
  });

  it('afterwards no row names the old key id, every *_sealed column is covered, and running it again re-seals nothing', async () => {
    const sealed = await sealedKeyIds(database.url);
    expect(sealed.length).toBe(8 + 2 + 1);
    expect(sealed.filter((value) => value.keyId !== idOfKey(newKey))).toEqual([]);

    const db = new PgClient({ connectionString: database.url });
    await db.connect();
    const columns = await db.query<{ name: string }>(
      `SELECT table_name || '.' || column_name AS name FROM information_schema.columns WHERE table_schema = 'public' AND column_name LIKE '%\\_sealed' ORDER BY 1`,
    );
    await db.end();
    expect(columns.rows.map((column) => column.name)).toEqual(SEALED_COLUMNS.map((column) => `${column.table}.${column.column}`).sort());

    expectResealed(await runCli(['keys', 'reencrypt'], rollingEnv), newKey, { signing_keys: [0, 8], client_secrets: [0, 2], server_secrets: [0, 1] });
  });

  it('re-sealing changes no key: the old-key instance goes on signing and verifying from memory, and refuses only what it cannot open, as server_error without detail', async () => {
    const fromOld = (await tokenRequest(old.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string;
    expect(await apiStatus(rolling, fromOld)).toBe(200);
    expect(await apiStatus(old, earlyToken)).toBe(200);
    // The rotated secret is now sealed only with the new key: HS256 on the old instance cannot work.
    await expect.poll(async () => (await passwordLogin(old, hmacClient)).status, { timeout: 5000 }).toBe(500);
    const refused = await passwordLogin(old, hmacClient);
    expect(refused.body).toEqual({ error: 'server_error', error_description: expect.any(String) });
    // No stack, no key id: the description says only that the server cannot do it.
    expect(refused.body.error_description).not.toMatch(/key-encryption|\n|\.[jt]s:\d+/);
    expect(old.output()).toContain(`cannot use the secret of client ${hmacClient.id}: a value is sealed with key-encryption key ${idOfKey(newKey)}`);
  });

  it('an instance with only the new key starts and works: signs, verifies earlier tokens, refreshes, HS256 and dir with the client secret, the same pairwise subject', async () => {
    fresh = await startServer(newEnv);
    serving.push(fresh);
    const token = (await tokenRequest(fresh.url, { grant_type: 'client_credentials' }, machine)).body.access_token as string;
    expect(await apiStatus(fresh, token)).toBe(200);
    expect(await apiStatus(old, token)).toBe(200);
    expect(await apiStatus(fresh, earlyToken)).toBe(200);

    const refreshed = await tokenRequest(fresh.url, { grant_type: 'refresh_token', refresh_token: earlyRefreshToken }, hmacClient);
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);

    const login = await passwordLogin(fresh, hmacClient);
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(login.body.id_token as string, new TextEncoder().encode(hmacClient.secret), {
      issuer: 'http://gatehouse.test',
      audience: hmacClient.id,
    });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe(pairwiseSubject);

    const userinfo = await fetch(`${fresh.url}/oauth/userinfo`, { headers: { authorization: `Bearer ${login.body.access_token as string}` } });
    expect(userinfo.status).toBe(200);
    const { plaintext, protectedHeader: jwe } = await compactDecrypt(await userinfo.text(), createHash('sha256').update(hmacClient.secret).digest());
    expect(jwe).toMatchObject({ alg: 'dir', enc: 'A256GCM' });
    expect(JSON.parse(new TextDecoder().decode(plaintext))).toMatchObject({ sub: pairwiseSubject, email: 'dana@example.com' });
  });

  it('an instance with only the old key now refuses to start, in one line naming the new key id', async () => {
    const result = await runServerToExit({ ...oldEnv, PORT: '0', HOST: '127.0.0.1' });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^Gatehouse failed to start: \\d+ signing keys are sealed with key-encryption key ${idOfKey(newKey)}, which is not configured`),
    );
    expect(result.stderr).not.toContain(oldKey);
    expect(result.stderr).not.toContain(newKey);
  });

  it('no token issued during the whole rotation failed to validate, on any instance', async () => {
    traffic.running = false;
    await traffic.done;
    expect(traffic.failures).toEqual([]);
    expect(traffic.issued.length).toBeGreaterThan(20);
    const statuses = await Promise.all(traffic.issued.map((token) => apiStatus(fresh, token)));
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
  });
});

/** With the embedded database the command runs inside the server, reached through its admin socket. */
describe('key-encryption-key rotation with the embedded database', { timeout: 240_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-kek-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  // PGlite starts slowly on a loaded machine.
  const START_TIMEOUT_MS = 150_000;

  it('keys reencrypt goes to the running server, which re-seals with its own keys; the server then starts with the new key only', async () => {
    const oldKey = newKeyEncryptionKey();
    const newKey = newKeyEncryptionKey();
    // One issuer across the restarts, as a deployment has (each start gets another port).
    const base = { DATA_DIR: dataDir, ISSUER: 'http://gatehouse.test' };
    // No server runs yet: the CLI opens the embedded database itself and seals with the old key.
    const created = await runCli(['clients', 'create'], { ...base, KEY_ENCRYPTION_KEY: oldKey }, JSON.stringify({ grant_types: ['client_credentials'] }));
    expect(created.code, created.stderr).toBe(0);
    const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    const credentials = { id: client.client_id, secret: client.client_secret };

    const rollingEnv = { ...base, KEY_ENCRYPTION_KEY: newKey, KEY_ENCRYPTION_KEYS_PREVIOUS: oldKey };
    const rolling = await startServer(rollingEnv, undefined, START_TIMEOUT_MS);
    let token: string;
    try {
      // Signed with a key sealed under the old key-encryption key, authenticated with a secret sealed under it.
      const issued = await tokenRequest(rolling.url, { grant_type: 'client_credentials' }, credentials);
      expect(issued.status).toBe(200);
      token = issued.body.access_token as string;
      expectResealed(await runCli(['keys', 'reencrypt'], rollingEnv), newKey, { signing_keys: [4, 0], client_secrets: [1, 0], server_secrets: [1, 0] });
    } finally {
      expect(await rolling.stop()).toBe(0);
    }

    const after = await startServer({ ...base, KEY_ENCRYPTION_KEY: newKey }, undefined, START_TIMEOUT_MS);
    try {
      expect(await apiStatus(after, token)).toBe(200);
      const issued = await tokenRequest(after.url, { grant_type: 'client_credentials' }, credentials);
      expect(issued.status).toBe(200);
      expect(await apiStatus(after, issued.body.access_token as string)).toBe(200);
    } finally {
      await after.stop();
    }
  });
});

/**
 * Pairwise subjects and the browser state were once HMACs keyed by the key-encryption key
 * itself; they now use a derivation key stored sealed, so that a rotation changes neither.
 */
describe('identifiers derived from the server secret across key-encryption-key rotation', () => {
  let gatehouse: TestApp;
  beforeAll(async () => {
    gatehouse = await startTestApp();
  });
  afterAll(() => gatehouse?.close());

  it('a database from before the server secret existed gets, as derivation key, the key-encryption key that sealed its first signing keys: pairwise subjects stay as they were', async () => {
    await gatehouse.app.get(DataSource).query('DELETE FROM server_secrets');
    const oldKey = gatehouse.keyEncryptionKey;
    const client = await gatehouse.createClient({ grant_types: ['password'], redirect_uris: ['https://rp.example/cb'], subject_type: 'pairwise' });
    const entity = (await gatehouse.app.get(ClientsService).find(client.client_id))!;
    const legacySubject = createHmac('sha256', createHmac('sha256', Buffer.from(oldKey, 'hex')).update('gatehouse:pairwise-subject').digest())
      .update(`rp.example|user-1`)
      .digest('base64url');

    // Upgraded in the middle of a rotation: the new key is current, the old one previous.
    const upgraded = await startInstance({
      databaseUrl: gatehouse.databaseUrl,
      keyEncryptionKey: newKeyEncryptionKey(),
      env: { KEY_ENCRYPTION_KEYS_PREVIOUS: oldKey },
    });
    try {
      expect(upgraded.app.get(ServerSecrets).derivationKey().toString('hex')).toBe(oldKey);
      expect(upgraded.app.get(SubjectIdentifiers).subjectFor(entity, 'user-1')).toBe(legacySubject);
    } finally {
      await upgraded.close();
    }
  });
});
