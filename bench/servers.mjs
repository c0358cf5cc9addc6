// Servers under test. Each entry's start(ctx) brings one server up and returns:
//   {
//     pid,        // the server process, for peak-RSS sampling
//     baseUrl,    // e.g. http://127.0.0.1:3900
//     endpoints,  // { authorize, token, introspection, resource, jwks, metadata } paths; omit what it lacks
//     client,     // { id, secret } of a confidential client allowed client_credentials, or null
//     scope,      // scope to ask for when issuing fixture tokens (optional)
//     issuer,     // the `iss` it puts in authorization responses (default: baseUrl)
//     browser,    // when ctx.needs has 'session' (see scenarios.mjs), else null:
//                 //   { client: { id, secret }, redirectUri, scope, cookie } of a confidential web
//                 //   client that needs no consent and a browser signed in as a user (`cookie` is
//                 //   the Cookie header of its session)
//   }
// and registers its teardown with ctx.defer(fn) as soon as there is something to undo
// (run.mjs runs them in reverse order, also on failure and Ctrl-C).
//
// To add a peer (e.g. panva's oidc-provider, or a bare Fastify route as a baseline),
// add an entry here with its own endpoints; scenarios it lacks endpoints for are skipped.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createDatabase, dropDatabase, log, parseJsonOutput, pinned, runProcess, startProcess, waitForHttp } from './lib.mjs';

const DEFAULT_DATABASE_URL = 'postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse';

/** The environment of a child: only what it needs, not the caller's whole environment. */
function baseEnv(extra) {
  const env = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR']) if (process.env[name] !== undefined) env[name] = process.env[name];
  return { ...env, ...extra };
}

const FORM = 'application/x-www-form-urlencoded';

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

/** The value of a hidden form input of an HTML page (entities decoded), or undefined. */
function hiddenInput(html, name) {
  const match = new RegExp(`<input[^>]*\\bname="${name}"[^>]*\\bvalue="([^"]*)"`).exec(html);
  if (!match) return undefined;
  const entities = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
  return match[1].replace(/&(amp|lt|gt|quot|#39);/g, (_, entity) => entities[entity]);
}

/** The value of cookie `name` set by a response, or undefined. */
function setCookie(response, name) {
  for (const cookie of response.headers.getSetCookie()) {
    const [pair] = cookie.split(';');
    const at = pair.indexOf('=');
    if (pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}

/**
 * Signs a browser in the way a person would: the authorization endpoint shows the login page
 * (and sets an anonymous session cookie), the login form is posted with that cookie and the
 * page's CSRF token, and the answer (303 back to the authorization endpoint) sets the cookie of
 * a new, signed-in session. Returns that session's Cookie header.
 */
export async function gatehouseSignIn(baseUrl, { client, redirectUri, scope, username, password }) {
  const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: client.id,
    redirect_uri: redirectUri,
    state: 'sign-in',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    scope,
  });
  const page = await fetch(new URL(`/oauth/authorize?${query}`, baseUrl), { redirect: 'manual' });
  const html = await page.text();
  const anonymous = setCookie(page, 'gatehouse_session');
  const csrfToken = hiddenInput(html, 'csrf_token');
  const returnTo = hiddenInput(html, 'return_to');
  if (page.status !== 200 || !anonymous || !csrfToken || returnTo === undefined) {
    throw new Error(`sign-in: expected the login page with a session cookie, got ${page.status} ${html.slice(0, 300)}`);
  }
  const login = await fetch(new URL('/login', baseUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: `gatehouse_session=${anonymous}`, 'content-type': FORM },
    body: new URLSearchParams({ csrf_token: csrfToken, return_to: returnTo, username, password }),
  });
  const answer = await login.text();
  const signedIn = setCookie(login, 'gatehouse_session');
  if (login.status !== 303 || !signedIn || signedIn === anonymous) {
    throw new Error(`sign-in: expected 303 with a new session cookie, got ${login.status} ${answer.slice(0, 300)}`);
  }
  return `gatehouse_session=${signedIn}`;
}

export const servers = {
  gatehouse: {
    description: 'Gatehouse (node dist/main.js, NODE_ENV=production) on PostgreSQL',
    async start({ root, port, cpus, logFile, defer, needs = new Set() }) {
      const main = join(root, 'dist/main.js');
      const cli = join(root, 'dist/cli/main.js');
      if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build (npm run bench builds first)`);
      if (!existsSync(cli)) throw new Error(`${cli} is missing: the benchmark registers its client with the CLI (npm run build)`);

      // BENCH_GATEHOUSE_DATABASE_URL: run on an existing database (e.g. a seeded one), neither
      // created nor dropped; its signing keys need the KEY_ENCRYPTION_KEY they were sealed with.
      let databaseUrl = process.env.BENCH_GATEHOUSE_DATABASE_URL;
      if (databaseUrl) {
        log(`using the existing database ${new URL(databaseUrl).pathname.slice(1)}`);
      } else {
        const adminUrl = process.env.BENCH_DATABASE_URL || DEFAULT_DATABASE_URL;
        const database = `gh_bench_${Date.now()}`;
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
      });

      const server = startProcess(pinned(cpus, [process.execPath, main]), { cwd: root, env, logFile });
      defer(() => server.stop());
      await waitForHttp(`${baseUrl}/health`, { alive: server.running, describe: server.tail });
      log(`gatehouse is up (pid ${server.pid}, ${cpus ? `CPU ${cpus}` : 'unpinned'}, log ${logFile})`);

      const cliOptions = { root, env };
      const registration = await cliJson(
        cli,
        ['clients', 'create'],
        { client_name: 'bench', grant_types: ['client_credentials'], scope: 'notes:read notes:write' },
        { ...cliOptions, expect: ['client_id', 'client_secret'] },
      );

      let browser = null;
      if (needs.has('session')) {
        // A user, a confidential web client that skips consent (first party: the consent is
        // as good as remembered), and a browser signed in as the user.
        const user = { username: 'bench', password: 'bench-password-123' };
        await cliJson(cli, ['users', 'create'], user, { ...cliOptions, expect: ['sub'] });
        const redirectUri = 'http://127.0.0.1:1/callback'; // never contacted: only the Location header is read
        const scope = 'notes:read';
        const web = await cliJson(
          cli,
          ['clients', 'create'],
          { client_name: 'bench-web', redirect_uris: [redirectUri], grant_types: ['authorization_code'], scope, first_party: true },
          { ...cliOptions, expect: ['client_id', 'client_secret'] },
        );
        const client = { id: web.client_id, secret: web.client_secret };
        const cookie = await gatehouseSignIn(baseUrl, { client, redirectUri, scope, ...user });
        browser = { client, redirectUri, scope, cookie };
        log(`signed in as ${user.username} for web client ${client.id}`);
      }

      return {
        pid: server.pid,
        baseUrl,
        issuer: baseUrl,
        endpoints: {
          authorize: '/oauth/authorize',
          token: '/oauth/token',
          introspection: '/oauth/introspect',
          resource: '/api/me',
          jwks: '/.well-known/jwks.json',
          metadata: '/.well-known/oauth-authorization-server',
        },
        client: { id: registration.client_id, secret: registration.client_secret },
        browser,
        alive: server.running,
        tail: server.tail,
      };
    },
  },
};
