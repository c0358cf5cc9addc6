// Servers under test. Each entry's start(ctx) brings one server up and returns:
//   {
//     pid,        // the server process, for peak-RSS sampling
//     baseUrl,    // e.g. http://127.0.0.1:3900
//     endpoints,  // { token, introspection, resource, jwks, metadata } paths; omit what it lacks
//     client,     // { id, secret } of a confidential client allowed client_credentials, or null
//     scope,      // scope to ask for when issuing fixture tokens (optional)
//   }
// and registers its teardown with ctx.defer(fn) as soon as there is something to undo
// (run.mjs runs them in reverse order, also on failure and Ctrl-C).
//
// To add a peer (e.g. panva's oidc-provider, or a bare Fastify route as a baseline),
// add an entry here with its own endpoints; scenarios it lacks endpoints for are skipped.
import { randomBytes } from 'node:crypto';
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

export const servers = {
  gatehouse: {
    description: 'Gatehouse (node dist/main.js, NODE_ENV=production) on PostgreSQL',
    async start({ root, port, cpus, logFile, defer }) {
      const main = join(root, 'dist/main.js');
      const cli = join(root, 'dist/cli/main.js');
      if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build (npm run bench builds first)`);
      if (!existsSync(cli)) throw new Error(`${cli} is missing: the benchmark registers its client with the CLI (npm run build)`);

      const adminUrl = process.env.BENCH_DATABASE_URL || DEFAULT_DATABASE_URL;
      const database = `gh_bench_${Date.now()}`;
      const databaseUrl = await createDatabase(adminUrl, database);
      defer(async () => {
        await dropDatabase(adminUrl, database);
        log(`dropped database ${database}`);
      });
      log(`created database ${database}`);

      const baseUrl = `http://127.0.0.1:${port}`;
      const env = baseEnv({
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        ISSUER: baseUrl,
        DATABASE_URL: databaseUrl,
        KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
        LOG_LEVEL: 'warn',
      });

      const server = startProcess(pinned(cpus, [process.execPath, main]), { cwd: root, env, logFile });
      defer(() => server.stop());
      await waitForHttp(`${baseUrl}/health`, { alive: server.running, describe: server.tail });
      log(`gatehouse is up (pid ${server.pid}, ${cpus ? `CPU ${cpus}` : 'unpinned'}, log ${logFile})`);

      const metadata = { client_name: 'bench', grant_types: ['client_credentials'], scope: 'notes:read notes:write' };
      let stdout;
      try {
        ({ stdout } = await runProcess([process.execPath, cli, 'clients', 'create'], { cwd: root, env, input: JSON.stringify(metadata), timeoutMs: 30_000 }));
      } catch (error) {
        // A CLI that printed the registration but then failed to exit is a CLI bug, not a reason to lose the run.
        if (!error.timedOut || !/"client_secret"/.test(error.stdout ?? '')) throw error;
        log('warning: the CLI printed the registration but did not exit within 30 s (killed it)');
        stdout = error.stdout;
      }
      const registration = parseJsonOutput(stdout);
      if (!registration.client_id || !registration.client_secret) throw new Error(`CLI did not return client_id and client_secret: ${stdout.slice(0, 500)}`);

      return {
        pid: server.pid,
        baseUrl,
        endpoints: {
          token: '/oauth/token',
          introspection: '/oauth/introspect',
          resource: '/api/me',
          jwks: '/.well-known/jwks.json',
          metadata: '/.well-known/oauth-authorization-server',
        },
        client: { id: registration.client_id, secret: registration.client_secret },
        alive: server.running,
        tail: server.tail,
      };
    },
  },
};
