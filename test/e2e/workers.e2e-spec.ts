import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, newKeyEncryptionKey, runCli, runServerToExit, ServerProcess, startServer, tokenRequest } from '../helpers/processes';

/** The pids of the workers that said they listen, from the server's JSON log lines. */
function listeningPids(output: string): Set<number> {
  const pids = new Set<number>();
  for (const line of output.split('\n')) {
    if (!line.includes('Gatehouse listening')) continue;
    const pid = (JSON.parse(line) as { pid?: number }).pid;
    if (pid) pids.add(pid);
  }
  return pids;
}

/** Child process ids of `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('WORKERS: one Gatehouse process per core behind one port (Node cluster)', () => {
  let database: Awaited<ReturnType<typeof createDatabase>>;
  let server: ServerProcess;
  let env: Record<string, string>;
  let client: { id: string; secret: string };

  beforeAll(async () => {
    database = await createDatabase();
    env = { DATABASE_URL: database.url, KEY_ENCRYPTION_KEY: newKeyEncryptionKey(), WORKERS: '2', DATABASE_POOL_SIZE: '3' };
    server = await startServer(env);
    const created = await runCli(['clients', 'create'], env, JSON.stringify({ grant_types: ['client_credentials'], scope: 'notes:read' }));
    expect(created.code, created.stderr).toBe(0);
    const registration = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    client = { id: registration.client_id, secret: registration.client_secret };
  }, 90_000);

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await database?.drop();
  });

  it('starts the configured number of workers, each listening on the shared port', async () => {
    const pids = await until('two listening workers', () => (listeningPids(server.output()).size === 2 ? listeningPids(server.output()) : undefined));
    expect([...pids].sort()).toEqual(childrenOf(server.process.pid!).sort());
  });

  it('a token issued by any worker is accepted by every worker', async () => {
    const tokens: string[] = [];
    for (let index = 0; index < 10; index++) {
      const { status, body } = await tokenRequest(server.url, { grant_type: 'client_credentials' }, client);
      expect(status).toBe(200);
      tokens.push(body.access_token as string);
    }
    // Fresh connections land on the workers in turn; every one must accept every token.
    for (const token of tokens) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } });
        expect(response.status).toBe(200);
      }
    }
  });

  it('replaces a worker that dies, and keeps serving meanwhile', async () => {
    const [victim, survivor] = childrenOf(server.process.pid!);
    process.kill(victim, 'SIGKILL');
    const replaced = await until('a replacement worker', () => {
      const children = childrenOf(server.process.pid!);
      return children.length === 2 && !children.includes(victim) ? children : undefined;
    });
    expect(replaced).toContain(survivor);
    await until('the replacement to listen', () => (listeningPids(server.output()).size === 3 ? true : undefined));
    for (let index = 0; index < 6; index++) {
      const { status } = await tokenRequest(server.url, { grant_type: 'client_credentials' }, client);
      expect(status).toBe(200);
    }
    expect(server.output()).toMatch(new RegExp(`worker ${victim} exited \\(SIGKILL\\)`));
  });

  it('SIGTERM to the primary stops every worker gracefully and exits 0', async () => {
    const workers = childrenOf(server.process.pid!);
    expect(await server.stop('SIGTERM')).toBe(0);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('WORKERS when a worker cannot start', () => {
  it('the primary exits 1 after the worker has said why, adding nothing of its own', async () => {
    const result = await runServerToExit({
      DATABASE_URL: 'postgres://gatehouse:gatehouse@127.0.0.1:1/nowhere',
      KEY_ENCRYPTION_KEY: newKeyEncryptionKey(),
      WORKERS: '2',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.match(/Gatehouse failed to start/g)).toHaveLength(1);
    expect(result.stderr).not.toMatch(/worker|cluster/i);
  }, 90_000);
});

describe('instances starting together on an empty database', () => {
  it('apply the migrations once, under a lock, and all come up', async () => {
    const database = await createDatabase();
    const env = { DATABASE_URL: database.url, KEY_ENCRYPTION_KEY: newKeyEncryptionKey(), DATABASE_POOL_SIZE: '2' };
    const servers = await Promise.all([startServer(env), startServer(env), startServer(env)]);
    try {
      for (const instance of servers) expect((await fetch(`${instance.url}/health`)).status).toBe(200);
    } finally {
      await Promise.all(servers.map((instance) => instance.stop()));
      await database.drop();
    }
  }, 90_000);
});
