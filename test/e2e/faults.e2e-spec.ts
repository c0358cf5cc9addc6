import { request as httpRequest } from 'node:http';
import { connect, Socket } from 'node:net';
import { Client as PgClient } from 'pg';
import { sha256 } from '../../src/common/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, CLUSTER_SETUP_TIMEOUT_MS, RegisteredClient, startCluster } from '../helpers/cluster';
import { basic, postForm, request, waitUntil } from '../helpers/http';
import { describeOutcome, Outcome } from '../helpers/load';
import { AuthorizeResult, authorizeCode, WebBrowser } from '../helpers/web-flow';
import {
  isLost,
  Lost,
  startWorkload,
  succeeded,
  Workload,
  WORKLOAD_CLIENTS,
  WORKLOAD_PASSWORD,
  WORKLOAD_REDIRECT_URI,
  WorkloadClients,
} from '../helpers/workload';

/**
 * Faults of one instance in a deployment of three behind nginx, under a mixed load:
 * killed outright (SIGKILL), stopped gracefully (SIGTERM), and every instance restarted
 * in turn (a rolling restart).
 */
describe('instances failing and restarting under load', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let db: PgClient;
  let clients: WorkloadClients;
  /** A third-party app: its users see the consent page once. */
  let partner: RegisteredClient;

  beforeAll(async () => {
    cluster = await startCluster();
    db = new PgClient({ connectionString: cluster.env.DATABASE_URL, application_name: 'gatehouse-tests' });
    await db.connect();
    const [web, mobile, service, thirdParty] = await Promise.all([
      cluster.createClient(WORKLOAD_CLIENTS.web),
      cluster.createClient(WORKLOAD_CLIENTS.mobile),
      cluster.createClient(WORKLOAD_CLIENTS.service),
      cluster.createClient({
        client_name: 'Partner',
        redirect_uris: [WORKLOAD_REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        scope: 'notes:read',
      }),
      cluster.createUser({ username: 'alice', password: WORKLOAD_PASSWORD }),
    ]);
    clients = { web, mobile, service };
    partner = thirdParty;
  }, CLUSTER_SETUP_TIMEOUT_MS);
  afterAll(async () => {
    await db?.end();
    await cluster?.stop();
  });

  const tokenRequest = (client: RegisteredClient, params: Record<string, string>) =>
    postForm(`${cluster.url}/oauth/token`, params, { authorization: basic(client.client_id, client.client_secret!) });
  const redeem = (client: RegisteredClient, code: string, verifier: string) =>
    tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: WORKLOAD_REDIRECT_URI, code_verifier: verifier });
  const retry = (lost: Lost) =>
    lost.kind === 'refresh'
      ? tokenRequest(lost.client, { grant_type: 'refresh_token', refresh_token: lost.presented! })
      : redeem(lost.client, lost.presented!, lost.verifier!);
  const meStatus = async (accessToken: string) => (await request(`${cluster.url}/api/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status;

  /**
   * No half-written state, and nothing honoured twice as far as PostgreSQL knows: every
   * rotated refresh token has exactly one successor (rotation is one statement), every
   * redeemed code its grant (spending a code and creating its grant is one statement, so
   * not even a SIGKILL between them can leave one without the other).
   */
  async function expectConsistentState(): Promise<void> {
    const { rows } = await db.query<{ orphans: string; twins: string }>(
      `SELECT (SELECT count(*) FROM refresh_tokens rt WHERE rt.rotated_at IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM refresh_tokens s WHERE s.grant_id = rt.grant_id AND s.generation = rt.generation + 1)) AS orphans,
              (SELECT count(*) FROM (SELECT 1 FROM refresh_tokens GROUP BY grant_id, generation HAVING count(*) > 1) twin) AS twins`,
    );
    expect(rows[0]).toEqual({ orphans: '0', twins: '0' });
    const { rows: codes } = await db.query<{ code_hash: string }>(
      `SELECT code_hash FROM authorization_codes c WHERE c.used_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = c.grant_id)`,
    );
    expect(codes).toEqual([]);
  }

  /**
   * What a deployment owes its clients after an instance went away: nothing honoured twice,
   * nothing handed out lost. A client whose refresh or code redemption got no answer retries:
   * if the dead instance had committed it, the retry is a reuse (refused, and the grant ends,
   * as RFC 9700 asks when REFRESH_TOKEN_REUSE_GRACE is 0); if not, the retry succeeds.
   */
  async function expectNothingLostNothingTwice(workload: Workload): Promise<void> {
    expect(
      [...workload.honoured.values()].every((count) => count === 1),
      'each code and refresh token honoured once',
    ).toBe(true);
    const endedByReuse = new Set<string>();
    for (const lost of workload.lost.filter((entry) => entry.kind !== 'other')) {
      const [table, column, key] = lost.kind === 'refresh' ? ['refresh_tokens', 'rotated_at', 'token_hash'] : ['authorization_codes', 'used_at', 'code_hash'];
      const { rows } = await db.query<{ committed: boolean; grant_id: string }>(
        `SELECT ${column} IS NOT NULL AS committed, grant_id FROM ${table} WHERE ${key} = $1`,
        [sha256(lost.presented!)],
      );
      const result = await retry(lost);
      if (rows[0]?.committed) {
        expect(result.status, `a ${lost.kind} committed by the dead instance is not honoured again`).toBe(400);
        expect(result.body.error).toBe('invalid_grant');
        endedByReuse.add(rows[0].grant_id);
      } else {
        expect(result.status, `a ${lost.kind} the dead instance never committed succeeds on retry: ${result.text}`).toBe(200);
      }
    }
    // Every access token handed out still works (but those of grants ended by a reuse).
    for (const { token, grantId } of workload.accessTokens) {
      if (grantId && endedByReuse.has(grantId)) continue;
      expect(await meStatus(token), `access token of grant ${grantId ?? '(none)'}`).toBe(200);
    }
    // Every grant handed out is in PostgreSQL, and its last refresh token rotates.
    for (const chain of workload.chains.filter((entry) => !entry.uncertain)) {
      const { rows } = await db.query<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM grants WHERE id = $1', [chain.grantId]);
      expect(rows[0]?.revoked, `grant ${chain.grantId} persisted and live`).toBe(false);
      const rotated = await tokenRequest(chain.client, { grant_type: 'refresh_token', refresh_token: chain.current });
      expect(rotated.status, rotated.text).toBe(200);
    }
    await expectConsistentState();
  }

  it('SIGKILL: nginx moves on; only requests in flight on that instance fail; nothing is honoured twice or lost', async () => {
    const workload = await startWorkload(cluster.url, clients);
    const victim = 1;
    const victimAddress = cluster.address(victim);
    await workload.load.completed(150);
    expect(await cluster.signal(victim, 'SIGKILL')).toBeNull();
    // Requests that started before the process was seen gone may have been in flight on it.
    const killedAt = performance.now();
    await workload.load.completed(200);
    const outcomes = await workload.stop();
    expect(workload.load.stepErrors).toEqual([]);

    const inFlightOnVictim = (outcome: Outcome) => isLost(outcome) && outcome.started < killedAt && outcome.upstream.split(', ').pop() === victimAddress;
    const failed = outcomes.filter((outcome) => !succeeded(outcome));
    expect(failed.filter((outcome) => !inFlightOnVictim(outcome)).map(describeOutcome), `other failures; nginx logged:\n${cluster.nginx.errorLog()}`).toEqual(
      [],
    );
    const afterKill = outcomes.filter((outcome) => outcome.started > killedAt);
    expect(afterKill.length).toBeGreaterThanOrEqual(150);
    expect(afterKill.every(succeeded)).toBe(true);

    await expectNothingLostNothingTwice(workload);
    await cluster.restart(victim);
  });

  /** An HTTP/1.1 request on a socket that is already connected; resolves with status, headers, body and when it arrived. */
  const send = (socket: Socket, method: string, path: string, headers: Record<string, string>, body = '') =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown>; at: number } | { error: string; at: number }>((resolve) => {
      const req = httpRequest(
        { createConnection: () => socket, method, path, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>,
              at: performance.now(),
            }),
          );
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message, at: performance.now() }));
      req.end(body);
    });

  it('SIGTERM: serves every request on the connections it accepted (in flight, or sent during the shutdown), closes silent ones, leaves nothing half-written, exits 0', async () => {
    const victim = 2;
    const target = new URL(cluster.instances[victim].url);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const mobileAuth = { authorization: basic(clients.mobile.client_id, clients.mobile.client_secret!) };
    // Refresh tokens and codes to redeem on the victim, prepared through nginx.
    const logins = await Promise.all(
      Array.from({ length: 6 }, () => tokenRequest(clients.mobile, { grant_type: 'password', username: 'alice', password: WORKLOAD_PASSWORD })),
    );
    const browser: WebBrowser = {};
    await authorizeCode(cluster.url, browser, {
      clientId: clients.web.client_id,
      redirectUri: WORKLOAD_REDIRECT_URI,
      scope: 'notes:read',
      username: 'alice',
      password: WORKLOAD_PASSWORD,
    });
    const codes: AuthorizeResult[] = [];
    for (let i = 0; i < 6; i++)
      codes.push(await authorizeCode(cluster.url, browser, { clientId: clients.web.client_id, redirectUri: WORKLOAD_REDIRECT_URI, scope: 'notes:read' }));

    // Connections the victim accepts while it runs.
    const sockets = await Promise.all(
      Array.from(
        { length: 19 },
        () =>
          new Promise<Socket>((resolve, reject) =>
            connect(Number(target.port), target.hostname)
              .once('connect', function (this: Socket) {
                resolve(this);
              })
              .once('error', reject),
          ),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    // In flight when the signal comes: password logins (argon2, slow on purpose) and refreshes.
    const inFlight = [
      ...sockets
        .slice(0, 6)
        .map((socket) =>
          send(
            socket,
            'POST',
            '/oauth/token',
            { ...form, ...mobileAuth },
            new URLSearchParams({ grant_type: 'password', username: 'alice', password: WORKLOAD_PASSWORD }).toString(),
          ),
        ),
      ...sockets
        .slice(6, 12)
        .map((socket, i) =>
          send(
            socket,
            'POST',
            '/oauth/token',
            { ...form, ...mobileAuth },
            new URLSearchParams({ grant_type: 'refresh_token', refresh_token: logins[i].body.refresh_token as string }).toString(),
          ),
        ),
    ];
    // And one that never sends a request (a preconnect, a probe): it must not hold the shutdown up.
    const silentClosed = new Promise<void>((resolve) => sockets[18].once('close', () => resolve()));
    const exited = cluster.signal(victim, 'SIGTERM');
    const signalledAt = performance.now();
    // Sent once the victim has stopped listening, on connections it accepted before: code redemptions.
    const refusing = () =>
      new Promise<boolean>((resolve) => {
        const probe = connect(Number(target.port), target.hostname);
        probe.once('connect', () => resolve(false)).once('error', () => resolve(true));
        probe.once('connect', () => probe.destroy());
      });
    await waitUntil(refusing, 15_000, 5);
    const webAuth = { authorization: basic(clients.web.client_id, clients.web.client_secret!) };
    const during = sockets.slice(12, 18).map((socket, i) =>
      send(
        socket,
        'POST',
        '/oauth/token',
        { ...form, ...webAuth },
        new URLSearchParams({
          grant_type: 'authorization_code',
          code: codes[i].code,
          redirect_uri: WORKLOAD_REDIRECT_URI,
          code_verifier: codes[i].verifier,
        }).toString(),
      ),
    );
    const results = await Promise.all([...inFlight, ...during]);
    expect(await exited, cluster.instances[victim].output()).toBe(0);
    await silentClosed;

    expect(results.map((result) => ('error' in result ? result.error : result.status))).toEqual(Array(18).fill(200));
    const answered = results as { status: number; headers: Record<string, unknown>; body: Record<string, unknown>; at: number }[];
    expect(
      answered.some((result) => result.at > signalledAt),
      'some requests were still in flight when SIGTERM arrived',
    ).toBe(true);
    for (const result of answered.slice(12)) expect(result.headers.connection).toBe('close');

    // What it handed out works on the other instances, and nothing is half-written.
    for (const [index, result] of answered.entries()) {
      expect(await meStatus(result.body.access_token as string)).toBe(200);
      const client = index < 12 ? clients.mobile : clients.web;
      expect((await tokenRequest(client, { grant_type: 'refresh_token', refresh_token: result.body.refresh_token as string })).status).toBe(200);
    }
    await expectConsistentState();
    await cluster.restart(victim);
  });

  it('rolling restart under load: every instance restarted in turn, no request fails, and sessions, consents and grants survive', async () => {
    // A signed-in browser that gave a third-party app its consent, and that app's grant.
    const browser: WebBrowser = { headers: { 'x-forwarded-for': '198.51.100.30' } };
    const options = { clientId: partner.client_id, redirectUri: WORKLOAD_REDIRECT_URI, scope: 'notes:read' };
    const first = await authorizeCode(cluster.url, browser, { ...options, username: 'alice', password: WORKLOAD_PASSWORD, consent: 'allow' });
    expect(first.pages).toEqual(['login', 'consent']);
    const granted = await redeem(partner, first.code, first.verifier);
    expect(granted.status, granted.text).toBe(200);

    const workload = await startWorkload(cluster.url, clients);
    await workload.load.completed(60);
    for (let slot = 0; slot < cluster.instances.length; slot++) {
      // As an orchestrator does: out of the load balancer first, then SIGTERM, then back in.
      await cluster.drain([slot]);
      expect(await cluster.signal(slot, 'SIGTERM')).toBe(0);
      await cluster.restart(slot);
      await cluster.drain([]);
      await workload.load.completed(40);
    }
    const outcomes = await workload.stop();
    expect(workload.load.stepErrors).toEqual([]);
    expect(outcomes.filter((outcome) => !succeeded(outcome)).map(describeOutcome), cluster.nginx.errorLog()).toEqual([]);
    expect(workload.lost).toEqual([]);

    // Every process is new: the session cookie still signs in, the consent is remembered...
    const again = await authorizeCode(cluster.url, browser, options);
    expect(again.pages, 'no login page, no consent page').toEqual([]);
    expect((await redeem(partner, again.code, again.verifier)).status).toBe(200);
    // ...and the grant made before the restarts goes on.
    expect(await meStatus(granted.body.access_token as string)).toBe(200);
    const refreshed = await tokenRequest(partner, { grant_type: 'refresh_token', refresh_token: granted.body.refresh_token as string });
    expect(refreshed.status, refreshed.text).toBe(200);
    await expectNothingLostNothingTwice(workload);
  });
});
