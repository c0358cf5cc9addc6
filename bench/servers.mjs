// Servers under test. Each entry: { description, start(ctx), and optionally
//   requires: [names]     servers it needs running first (started even when not selected),
//   scenarios: [names]    the only scenarios it runs (default: every one it supports),
//   cpus: 'scale'         take the CPU list of the multi-worker variants (default: the server's) }.
//
// start(ctx) brings one server up, pinned with pinned(ctx.cpus, argv), registers its teardown
// with ctx.defer(fn) as soon as there is something to undo (run.mjs runs them in reverse order,
// also on failure and Ctrl-C), and returns:
//   {
//     pid,          // the server process (with its children, e.g. cluster workers), for peak RSS
//     baseUrl,      // e.g. http://127.0.0.1:3900
//     issuer,       // the `iss` of its authorization responses (default: baseUrl)
//     endpoints,    // paths: { authorize, token, introspection, resource, jwks, metadata, discovery, bare };
//                   //   omit what it lacks: scenarios that need it are skipped
//     client,       // { id, secret } of a confidential client allowed client_credentials (also the
//                   //   caller of introspection), or null
//     scope,        // scope to ask for with client_credentials (optional)
//     tokens(n),    // n distinct access tokens its `resource` endpoint accepts (optional)
//     introspectable(n), // n distinct tokens of the kind its introspection endpoint introspects natively
//     refresh,      // { client, issue(n) }: a confidential client and n fresh refresh tokens of it,
//                   //   each from its own grant (optional)
//     browser,      // when ctx.needs has 'session': { client, redirectUri, scope, cookie, redirectStatus? }
//                   //   of a confidential web client whose consent is given (or not needed), the
//                   //   Cookie header of a browser signed in as a user, and the status of the
//                   //   authorization endpoint's redirect with the code (default 302); else null
//     beforeScenario(scenario), // optional: called before a scenario's fixtures and probe
//     alive(), tail(), // whether the process still runs, and its last output
//     profileDir,   // where its CPU profiles go (BENCH_PROFILE=1), else undefined
//   }
//
// ctx: { root, port, cpus, logFile, defer, needs (a Set of what the selected scenarios need from
// it), started (the servers already started, by name), profileDir (BENCH_PROFILE=1: a folder) }.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { authorizeInBrowser, codeRequest, CookieJar, pkce, refreshTokensFromCodes } from './browser.mjs';
import { createDatabase, dropDatabase, issueTokens, log, parseJsonOutput, pinned, processTree, runProcess, startProcess, waitForHttp } from './lib.mjs';

const DEFAULT_DATABASE_URL = 'postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse';
/** Never contacted: only the Location header of the authorization response is read. */
const REDIRECT_URI = 'http://127.0.0.1:1/callback';
const API_SCOPE = 'notes:read notes:write';

/** A server that cannot run in this set-up (e.g. a Gatehouse build without WORKERS): skipped, and the run fails. */
export class ServerUnavailable extends Error {}

/** The environment of a child: only what it needs, not the caller's whole environment. */
function baseEnv(extra) {
  const env = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR']) if (process.env[name] !== undefined) env[name] = process.env[name];
  return { ...env, ...extra };
}

const secret = () => randomBytes(32).toString('base64url');
const suffix = () => randomBytes(4).toString('hex');

/** Runs a `node dist/cli/main.js <args>` command with `input` as JSON on stdin; returns its JSON output. */
async function cliJson(cli, args, input, { root, env, expect }) {
  let stdout;
  try {
    ({ stdout } = await runProcess([process.execPath, cli, ...args], { cwd: root, env, input: JSON.stringify(input), timeoutMs: 30_000 }));
  } catch (error) {
    // A CLI that printed its result but then failed to exit is a CLI bug, not a reason to lose the run.
    if (!error.timedOut || !new RegExp(`"${expect[0]}"`).test(error.stdout ?? '')) throw error;
    log(`warning: the CLI printed the result of ${args.join(' ')} but did not exit within 30 s (killed it)`);
    stdout = error.stdout;
  }
  const result = parseJsonOutput(stdout);
  const missing = expect.filter((key) => !result[key]);
  if (missing.length) throw new Error(`${args.join(' ')}: the CLI did not return ${missing.join(', ')}: ${stdout.slice(0, 500)}`);
  return result;
}

/** Waits until `pid` has `count` child processes (cluster workers); false after `timeoutMs`. */
async function waitForWorkers(pid, count, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (processTree(pid).length - 1 >= count) return true;
    await sleep(200);
  }
  return false;
}

/**
 * The Node.js flags Gatehouse runs with: those of package.json's start script (`node <flags>
 * dist/main.js`), so that the benchmark measures the server as `npm start` runs it, or
 * BENCH_GATEHOUSE_NODE_FLAGS (space-separated; empty for none) to try others.
 */
export function gatehouseNodeFlags(root) {
  const override = process.env.BENCH_GATEHOUSE_NODE_FLAGS;
  if (override !== undefined) return override.split(/\s+/).filter(Boolean);
  const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts?.start ?? '';
  const match = /^node((?:\s+--[\w-]+(?:=\S+)?)*)\s+dist\/main\.js$/.exec(start.trim());
  if (!match) throw new Error(`package.json's start script is not "node [--flags] dist/main.js": ${start}`);
  return match[1].split(/\s+/).filter(Boolean);
}

/** Gatehouse (node dist/main.js) on PostgreSQL, with `workers` HTTP workers (WORKERS; 1: a single process). */
function gatehouse({ workers }) {
  return {
    description:
      workers > 1
        ? `Gatehouse with WORKERS=${workers} (a cluster primary and ${workers} workers), on every core, sharing them with the load generator`
        : 'Gatehouse (node dist/main.js, NODE_ENV=production) on PostgreSQL',
    ...(workers > 1 ? { cpus: 'scale', scenarios: ['client_credentials', 'resource_api'] } : {}),
    async start({ root, port, cpus, logFile, defer, needs, profileDir }) {
      const main = join(root, 'dist/main.js');
      const cli = join(root, 'dist/cli/main.js');
      if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build (npm run bench builds first)`);
      if (!existsSync(cli)) throw new Error(`${cli} is missing: the benchmark registers its clients with the CLI (npm run build)`);

      // BENCH_GATEHOUSE_DATABASE_URL: run on an existing database (e.g. a seeded one), neither
      // created nor dropped; its signing keys need the KEY_ENCRYPTION_KEY they were sealed with.
      let databaseUrl = process.env.BENCH_GATEHOUSE_DATABASE_URL;
      if (databaseUrl) {
        log(`using the existing database ${new URL(databaseUrl).pathname.slice(1)}`);
      } else {
        const adminUrl = process.env.BENCH_DATABASE_URL || DEFAULT_DATABASE_URL;
        const database = `gh_bench_${Date.now()}_${suffix()}`;
        databaseUrl = await createDatabase(adminUrl, database);
        defer(async () => {
          await dropDatabase(adminUrl, database);
          log(`dropped database ${database}`);
        });
        log(`created database ${database}`);
      }

      const baseUrl = `http://127.0.0.1:${port}`;
      const env = baseEnv({
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        ISSUER: baseUrl,
        DATABASE_URL: databaseUrl,
        KEY_ENCRYPTION_KEY: process.env.BENCH_KEY_ENCRYPTION_KEY || randomBytes(32).toString('hex'),
        LOG_LEVEL: 'warn',
        // One client at thousands of requests per second from one address: the token endpoint's
        // limits stay on (their counting is part of the cost measured) but at their highest, so
        // that nothing is refused; the peers have no such limits.
        TOKEN_RATE_LIMIT_PER_CLIENT: '1000000000',
        TOKEN_RATE_LIMIT_PER_ADDRESS: '1000000000',
        LOGIN_RATE_LIMIT: '1000000000',
        ...(process.env.BENCH_DATABASE_POOL_SIZE ? { DATABASE_POOL_SIZE: process.env.BENCH_DATABASE_POOL_SIZE } : {}),
        ...(workers > 1 ? { WORKERS: String(workers) } : {}),
      });

      // Node's flags as `npm start` gives them (package.json), unless BENCH_GATEHOUSE_NODE_FLAGS says otherwise.
      const node = [process.execPath, ...gatehouseNodeFlags(root)];
      if (profileDir) {
        mkdirSync(profileDir, { recursive: true });
        node.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
      }
      const server = startProcess(pinned(cpus, [...node, main]), { cwd: root, env, logFile });
      defer(() => server.stop(workers > 1 ? 35_000 : 5000));
      await waitForHttp(`${baseUrl}/health`, { alive: server.running, describe: server.tail });
      if (workers > 1 && !(await waitForWorkers(server.pid, workers))) {
        throw new ServerUnavailable(
          `started with WORKERS=${workers}, Gatehouse runs ${processTree(server.pid).length - 1} worker processes: this build does not support the WORKERS setting`,
        );
      }
      log(`gatehouse is up (pid ${server.pid}${workers > 1 ? ` and ${workers} workers` : ''}, ${cpus ? `CPU ${cpus}` : 'unpinned'}, log ${logFile})`);

      // The clients and the user, registered with the CLI (at the same time: each command starts a process).
      const cliOptions = { root, env };
      const register = (metadata) => cliJson(cli, ['clients', 'create'], metadata, { ...cliOptions, expect: ['client_id', 'client_secret'] });
      const user = { username: `bench-${suffix()}`, password: secret() };
      const scope = 'notes:read';
      const [registration, web, app] = await Promise.all([
        register({ client_name: 'bench', grant_types: ['client_credentials'], scope: API_SCOPE }),
        // A confidential web client that skips consent (first party: the consent is as good as remembered).
        needs.has('session')
          ? register({ client_name: 'bench-web', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code'], scope, first_party: true })
          : null,
        // A first-party app with the password grant (which also gets refresh_token): each
        // password grant starts a new grant with its own refresh token.
        needs.has('refresh') ? register({ client_name: 'bench-app', grant_types: ['password'], scope, first_party: true }) : null,
        needs.has('session') || needs.has('refresh')
          ? cliJson(cli, ['users', 'create'], { ...user, email: `${user.username}@example.com`, name: 'Bench' }, { ...cliOptions, expect: ['sub'] })
          : null,
      ]);
      const asClient = (result) => ({ id: result.client_id, secret: result.client_secret });
      const client = asClient(registration);
      const tokenPath = '/oauth/token';
      const accessTokens = (count) => issueTokens({ baseUrl, tokenPath, client, params: { grant_type: 'client_credentials', scope: API_SCOPE }, count });

      let browser = null;
      if (web) {
        // A browser signed in as the user through the login page.
        const webClient = asClient(web);
        const jar = new CookieJar();
        const query = codeRequest({ client: webClient, redirectUri: REDIRECT_URI, scope, state: 'sign-in', challenge: pkce().challenge });
        await authorizeInBrowser(`${baseUrl}/oauth/authorize?${query}`, { redirectUri: REDIRECT_URI, ...user, jar });
        browser = { client: webClient, redirectUri: REDIRECT_URI, scope, cookie: jar.header(['gatehouse_session']) };
        log(`signed in as ${user.username} for web client ${webClient.id}`);
      }

      let refresh = null;
      if (app) {
        const appClient = asClient(app);
        const params = { grant_type: 'password', username: user.username, password: user.password, scope };
        refresh = { client: appClient, issue: (count) => issueTokens({ baseUrl, tokenPath, client: appClient, params, count, field: 'refresh_token' }) };
      }

      return {
        pid: server.pid,
        baseUrl,
        issuer: baseUrl,
        endpoints: {
          authorize: '/oauth/authorize',
          token: tokenPath,
          introspection: '/oauth/introspect',
          resource: '/api/me',
          jwks: '/.well-known/jwks.json',
          metadata: '/.well-known/oauth-authorization-server',
          discovery: '/.well-known/openid-configuration',
          bare: '/health/live',
        },
        client,
        scope: API_SCOPE,
        tokens: accessTokens,
        introspectable: accessTokens,
        refresh,
        browser,
        alive: server.running,
        tail: server.tail,
        profileDir,
      };
    },
  };
}

/** Starts bench/peers/<script> with `config` as BENCH_PEER_CONFIG; resolves when `readyPath` answers. */
async function startPeer({ root, cpus, logFile, defer }, script, config, readyPath, ready) {
  const baseUrl = `http://127.0.0.1:${config.port}`;
  const peer = startProcess(pinned(cpus, [process.execPath, join(root, 'bench/peers', script)]), {
    cwd: root,
    env: baseEnv({ NODE_ENV: 'production', BENCH_PEER_CONFIG: JSON.stringify(config) }),
    logFile,
  });
  defer(() => peer.stop());
  await waitForHttp(`${baseUrl}${readyPath}`, { alive: peer.running, describe: peer.tail, ready });
  log(`${script.replace(/\.mjs$/, '')} is up (pid ${peer.pid}, ${cpus ? `CPU ${cpus}` : 'unpinned'}, log ${logFile})`);
  return { pid: peer.pid, baseUrl, alive: peer.running, tail: peer.tail };
}

const jwtHeader = (token) => {
  try {
    return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
  } catch {
    return null;
  }
};

export const servers = {
  gatehouse: gatehouse({ workers: 1 }),

  'gatehouse-2w': gatehouse({ workers: 2 }),

  'oidc-provider': {
    description: "panva's oidc-provider 9, in-memory adapter: ES256 JWT access tokens, opaque ones for introspection",
    async start(ctx) {
      const { port, needs } = ctx;
      const baseUrl = `http://127.0.0.1:${port}`;
      const audience = `${baseUrl}/api`;
      const clients = Object.fromEntries(['service', 'introspected', 'web', 'app'].map((role) => [role, { id: `bench-${role}`, secret: secret() }]));
      const user = { username: 'bench', password: secret() };
      const peer = await startPeer(
        ctx,
        'oidc-provider.mjs',
        { port, issuer: baseUrl, audience, clients, redirectUri: REDIRECT_URI, user },
        '/.well-known/openid-configuration',
      );
      const tokenPath = '/token';
      const issued = (client, count) => issueTokens({ baseUrl, tokenPath, client, params: { grant_type: 'client_credentials', scope: API_SCOPE }, count });

      // The work must be what it claims: ES256 JWT access tokens (RFC 9068), opaque ones for introspection.
      const [jwt] = await issued(clients.service, 1);
      const header = jwtHeader(jwt);
      if (header?.alg !== 'ES256' || header?.typ !== 'at+jwt')
        throw new Error(`oidc-provider: expected an ES256 at+jwt access token, got header ${JSON.stringify(header)}`);
      const [opaque] = await issued(clients.introspected, 1);
      if (opaque.includes('.')) throw new Error('oidc-provider: expected an opaque access token for the introspected client');

      const jar = new CookieJar();
      const authorize = (client, scope) =>
        authorizeInBrowser(`${baseUrl}/auth?${codeRequest({ client, redirectUri: REDIRECT_URI, scope, state: 'sign-in', challenge: pkce().challenge })}`, {
          redirectUri: REDIRECT_URI,
          ...user,
          jar,
        });

      // Its development adapter keeps 1,000 entries: under load the browser's session falls out of
      // it. Before each scenario that needs the session (and for each refresh token), the browser
      // goes through the authorization endpoint again and signs in when it is asked to.
      let browser = null;
      const signIn = async () => {
        const before = jar.signIns;
        await authorize(clients.web, 'notes:read');
        if (browser && jar.signIns > before) log('oidc-provider had forgotten the browser session (its in-memory store is full): signed in again');
        const cookie = jar.header([...jar.cookies.keys()].filter((name) => name.startsWith('_session')));
        browser = Object.assign(browser ?? {}, { client: clients.web, redirectUri: REDIRECT_URI, scope: 'notes:read', cookie, redirectStatus: 303 });
      };
      if (needs.has('session')) {
        // Signs in through the login page and consents once; the grant is remembered in the session.
        await signIn();
        log(`signed in to oidc-provider for web client ${clients.web.id}`);
      }
      let refresh = null;
      if (needs.has('refresh')) {
        // offline_access (refresh tokens that outlive the session) needs prompt=consent on every
        // authorization request: each first refresh token comes from a code of its own, after the
        // browser has confirmed the consent page again.
        const options = {
          authorizePath: '/auth',
          tokenPath,
          client: clients.app,
          redirectUri: REDIRECT_URI,
          scope: 'notes:read offline_access',
          jar,
          user,
          extra: { prompt: 'consent' },
        };
        refresh = { client: clients.app, issue: (count) => refreshTokensFromCodes(baseUrl, options, count) };
      }

      return {
        ...peer,
        issuer: baseUrl,
        audience,
        endpoints: {
          authorize: '/auth',
          token: tokenPath,
          introspection: '/token/introspection',
          jwks: '/jwks',
          discovery: '/.well-known/openid-configuration',
        },
        client: clients.service,
        scope: API_SCOPE,
        tokens: (count) => issued(clients.service, count),
        introspectable: (count) => issued(clients.introspected, count),
        refresh,
        browser,
        beforeScenario: async (scenario) => {
          if (browser && scenario.needs.includes('session')) await signIn();
        },
      };
    },
  },

  'jose-resource-server': {
    description: "a Node.js resource server verifying oidc-provider's ES256 JWT access tokens with jose (JWKS loaded once)",
    requires: ['oidc-provider'],
    async start(ctx) {
      const provider = ctx.started['oidc-provider'];
      const config = { port: ctx.port, issuer: provider.issuer, audience: provider.audience, jwksUri: `${provider.baseUrl}${provider.endpoints.jwks}` };
      const peer = await startPeer(ctx, 'jose-resource-server.mjs', config, '/api/me', (status) => status === 401);
      return { ...peer, endpoints: { resource: '/api/me' }, client: null, tokens: provider.tokens };
    },
  },

  'ts-oauth2-server': {
    description: `@jmondi/oauth2-server 4 on Fastify, in-memory repositories, HS256 JWTs (its JwtService, given the secret as ${process.env.BENCH_TS_OAUTH2_KEY_OBJECT === '1' ? 'a KeyObject' : 'a string'})`,
    async start(ctx) {
      const baseUrl = `http://127.0.0.1:${ctx.port}`;
      const clients = { service: { id: 'bench-service', secret: secret() }, app: { id: 'bench-app', secret: secret() } };
      const user = { username: 'bench', password: secret() };
      const config = { port: ctx.port, issuer: baseUrl, clients, user, secretKeyObject: process.env.BENCH_TS_OAUTH2_KEY_OBJECT === '1' };
      const peer = await startPeer(ctx, 'ts-oauth2-server.mjs', config, '/token', (status) => status === 404);
      const tokenPath = '/token';
      const params = { grant_type: 'password', username: user.username, password: user.password, scope: 'notes:read' };
      return {
        ...peer,
        endpoints: { token: tokenPath },
        client: clients.service,
        scope: API_SCOPE,
        refresh: { client: clients.app, issue: (count) => issueTokens({ baseUrl, tokenPath, client: clients.app, params, count, field: 'refresh_token' }) },
      };
    },
  },

  fastify: {
    description: 'a bare Fastify route (GET / answers {"status":"ok"}): the ceiling of the machine',
    async start(ctx) {
      const peer = await startPeer(ctx, 'fastify.mjs', { port: ctx.port }, '/');
      return { ...peer, endpoints: { bare: '/' }, client: null };
    },
  },
};
