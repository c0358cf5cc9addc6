import { createDatabase, newKeyEncryptionKey, runCli, ServerProcess, startServer } from './processes';
import { Nginx, startNginx, UPSTREAM_HEADER } from './nginx';

/**
 * A deployment as an operator runs one: several `node dist/main.js` processes over one
 * PostgreSQL database behind nginx (round-robin on loopback). Every instance has the same
 * ISSUER (nginx's URL) and key-encryption key, and trusts nginx's X-Forwarded-For.
 */

export interface ClusterOptions {
  /** How many Gatehouse processes (default 3). */
  instances?: number;
  /** Extra settings for every instance (and the CLI). */
  env?: Record<string, string>;
  /** An existing, empty database; default: a new one on the test PostgreSQL server, dropped by stop(). */
  databaseUrl?: string;
}

export interface RegisteredClient {
  client_id: string;
  client_secret?: string;
  [member: string]: unknown;
}

export interface Cluster {
  /** nginx's URL: the issuer, and where clients send every request. */
  url: string;
  nginx: Nginx;
  /** The settings every instance runs with (for the CLI, or another process). */
  env: Record<string, string>;
  /** The running instances, by slot; restart() replaces a slot's process. */
  instances: ServerProcess[];
  /** host:port of the instance in `slot` (what nginx's upstream header names). */
  address(slot: number): string;
  /** The slot of the instance nginx used last for a response (from its upstream header, or that header's value), or -1. */
  slotOf(response: { headers: Headers } | string): number;
  /** Sends `signal` to an instance and resolves with its exit code (null when killed by a signal). */
  signal(slot: number, signal: NodeJS.Signals): Promise<number | null>;
  /** Starts the slot's instance again on the same port (after it exited) and waits until it is healthy. */
  restart(slot: number): Promise<ServerProcess>;
  /** Takes instances out of nginx's rotation (or puts them back with an empty list). */
  drain(slots: number[]): Promise<void>;
  cli(args: string[], input?: string): ReturnType<typeof runCli>;
  /** `clients create` with RFC 7591 metadata. */
  createClient(metadata: Record<string, unknown>): Promise<RegisteredClient>;
  /** `users create`. */
  createUser(user: Record<string, unknown>): Promise<{ sub: string }>;
  /** Everything every instance logged (for assertion messages). */
  output(): string;
  stop(): Promise<void>;
}

/** Starting an instance takes long on a loaded machine (several start at once). */
const STARTUP_TIMEOUT_MS = 150_000;

/** How long a test's beforeAll may take to start a cluster, its clients and users (processes start slowly on a loaded machine). */
export const CLUSTER_SETUP_TIMEOUT_MS = 240_000;

/** Starts an instance on `port`, retrying with another port when it is taken meanwhile. */
async function startInstance(env: Record<string, string>, port?: number): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServer(env, undefined, STARTUP_TIMEOUT_MS, port);
    } catch (error) {
      if (port === undefined && /EADDRINUSE/.test((error as Error).message) && attempt < 5) continue;
      throw error;
    }
  }
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.instances ?? 3;
  const owned = options.databaseUrl ? undefined : await createDatabase();
  const databaseUrl = options.databaseUrl ?? owned!.url;
  // nginx first, so that its port, the issuer, is known before any instance starts.
  const nginx = await startNginx();
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    KEY_ENCRYPTION_KEY: newKeyEncryptionKey(),
    ISSUER: nginx.url,
    // nginx is the only proxy in front: every 127.0.0.1 hop is trusted, so each instance sees
    // the client address from X-Forwarded-For.
    TRUST_PROXY: '127.0.0.1',
    // CI's PostgreSQL allows 100 connections for every test file running at once.
    DATABASE_POOL_SIZE: '3',
    LOG_LEVEL: 'warn',
    // The load comes from one test process: rate limits far above it (tests of the limits
    // themselves are in rate-limits.e2e-spec.ts and lockouts.e2e-spec.ts).
    LOGIN_RATE_LIMIT: '1000000',
    TOKEN_RATE_LIMIT_PER_CLIENT: '100000000',
    TOKEN_RATE_LIMIT_PER_ADDRESS: '100000000',
    ...options.env,
  };
  const instances: ServerProcess[] = [];
  const retired: ServerProcess[] = [];
  const ports: number[] = [];
  let drained = new Set<number>();
  const address = (slot: number) => new URL(instances[slot].url).host;
  const publish = () => nginx.setUpstreams(instances.map((_, slot) => ({ address: address(slot), down: drained.has(slot) })));

  const stop = async () => {
    await nginx.stop().catch(() => undefined);
    await Promise.all(instances.map((instance) => instance.stop('SIGTERM').catch(() => undefined)));
    await owned?.drop();
  };

  try {
    // All at once, as a Deployment's replicas start: migrations and first keys must not race.
    const started = await Promise.allSettled(Array.from({ length: count }, () => startInstance(env)));
    for (const result of started) if (result.status === 'fulfilled') instances.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    for (const instance of instances) ports.push(Number(new URL(instance.url).port));
    await publish();
  } catch (error) {
    await stop();
    throw error;
  }

  const cli = (args: string[], input?: string) => runCli(args, env, input);
  const created = async <T>(args: string[], input: unknown): Promise<T> => {
    const result = await cli(args, JSON.stringify(input));
    if (result.code !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };

  return {
    url: nginx.url,
    nginx,
    env,
    instances,
    address,
    slotOf(response) {
      const header = typeof response === 'string' ? response : (response.headers.get(UPSTREAM_HEADER) ?? '');
      const tried = header.split(',').map((value) => value.trim());
      const last = tried[tried.length - 1];
      return instances.findIndex((_, slot) => address(slot) === last);
    },
    async signal(slot, signal) {
      return instances[slot].stop(signal);
    },
    async restart(slot) {
      retired.push(instances[slot]);
      instances[slot] = await startInstance(env, ports[slot]);
      return instances[slot];
    },
    async drain(slots) {
      drained = new Set(slots);
      await publish();
    },
    cli,
    createClient: (metadata) => created<RegisteredClient>(['clients', 'create'], metadata),
    createUser: (user) => created<{ sub: string }>(['users', 'create'], user),
    output: () => [...retired, ...instances].map((instance, index) => `--- instance ${index} (${instance.url})\n${instance.output()}`).join('\n'),
    stop,
  };
}
