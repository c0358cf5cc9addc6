import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, AddressInfo } from 'node:net';
import { Type } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client as PgClient } from 'pg';
import { createApp } from '../../src/app.factory';
import { ClientRegistrationResponse, ClientsService } from '../../src/clients/clients.service';
import { AppConfig, loadConfig } from '../../src/config/configuration';
import { User } from '../../src/users/user.entity';
import { UsersService } from '../../src/users/users.service';
import { dropTestDatabase } from './databases';
import { newLogFile, recordSecret, recordSecretSettings } from './test-run';

/** Where the test databases are created: a role with CREATEDB on a real PostgreSQL server. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse';
/**
 * Inside a vitest run every instance logs every request (debug) into a file of the run
 * folder, which the log scan reads after the suite; the error lines among them (unexpected
 * server errors, with their stack) are printed when the instance closes. Outside a run, or
 * with TEST_LOG_LEVEL, logs go to standard output at that level (default error).
 */
const LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'error';
const LISTEN_HOST = '127.0.0.1';

export interface StartOptions {
  /** Extra settings, as environment variables (e.g. LOGIN_MAX_FAILURES: '3'). */
  env?: Record<string, string>;
  /** Extra Nest modules, as a deployment would pass them to createApp. */
  extensions?: Type[];
}

export interface InstanceOptions extends StartOptions {
  databaseUrl: string;
  /** KEY_ENCRYPTION_KEY shared by every instance of a deployment (64 hex digits). */
  keyEncryptionKey: string;
  /** The public issuer shared by the instances; default: this instance's own address. */
  issuer?: string;
}

/** One running Gatehouse process-equivalent: a Nest application listening on 127.0.0.1. */
export interface TestInstance {
  app: NestFastifyApplication;
  /** Where this instance listens, e.g. http://127.0.0.1:41234 (no trailing slash). */
  baseUrl: string;
  config: AppConfig;
  close(): Promise<void>;
}

/** A registered client as the registration response returns it, with its secret when confidential. */
export type TestClient = ClientRegistrationResponse & { client_secret?: string };

export interface TestApp extends TestInstance {
  databaseName: string;
  databaseUrl: string;
  keyEncryptionKey: string;
  /** Registers a client directly (RFC 7591 metadata; client_id may be chosen). */
  createClient(metadata: Record<string, unknown>): Promise<TestClient>;
  createUser(input: { username: string; password: string; [field: string]: unknown }): Promise<User>;
  /**
   * Starts another instance over the same database, with the same key-encryption key and
   * issuer (like a second replica behind a load balancer) but its own port. It is closed
   * by `close()` at the latest.
   */
  startInstance(options?: StartOptions): Promise<TestInstance>;
  /** Closes every instance, then drops the database. */
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, LISTEN_HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function withAdminConnection<T>(work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = new PgClient({ connectionString: TEST_DATABASE_URL, application_name: 'gatehouse-tests' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Starts a Gatehouse instance over an existing database. */
export async function startInstance(options: InstanceOptions): Promise<TestInstance> {
  const logFile = process.env.TEST_LOG_LEVEL ? undefined : newLogFile('app');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const env = {
      NODE_ENV: 'test',
      DATABASE_URL: options.databaseUrl,
      KEY_ENCRYPTION_KEY: options.keyEncryptionKey,
      ISSUER: options.issuer ?? `http://${LISTEN_HOST}:${port}`,
      PORT: String(port),
      HOST: LISTEN_HOST,
      ...(logFile ? { LOG_FILE: logFile, LOG_LEVEL: 'debug' } : { LOG_LEVEL }),
      DATABASE_POOL_SIZE: '10',
      ...options.env,
    };
    recordSecretSettings(env);
    const config = loadConfig(env);
    const app = await createApp(config, options.extensions ?? []);
    try {
      await app.listen({ port, host: LISTEN_HOST });
    } catch (error) {
      await app.close().catch(() => undefined);
      // Another process took the port between freePort() and listen(): try another.
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
      throw error;
    }
    let closed: Promise<void> | undefined;
    return {
      app,
      baseUrl: `http://${LISTEN_HOST}:${port}`,
      config,
      close: () => (closed ??= app.close().finally(() => printErrors(config.logFile))),
    };
  }
}

/**
 * Creates a fresh PostgreSQL database (gh_test_<random>) and starts Gatehouse over it,
 * listening on a free port of 127.0.0.1 with ISSUER set to that address.
 */
export async function startTestApp(options: StartOptions = {}): Promise<TestApp> {
  const databaseName = `gh_test_${randomBytes(8).toString('hex')}`;
  await withAdminConnection((client) => client.query(`CREATE DATABASE "${databaseName}"`));
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${databaseName}`;
  const databaseUrl = url.toString();
  const keyEncryptionKey = randomBytes(32).toString('hex');

  const others: TestInstance[] = [];
  let primary: TestInstance;
  try {
    primary = await startInstance({ ...options, databaseUrl, keyEncryptionKey });
  } catch (error) {
    await dropDatabase(databaseName);
    throw error;
  }

  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    try {
      await Promise.all(others.map((instance) => instance.close()));
      await primary.close();
    } finally {
      await dropDatabase(databaseName);
    }
  };

  return {
    ...primary,
    databaseName,
    databaseUrl,
    keyEncryptionKey,
    createClient: async (metadata) => {
      const client = (await primary.app.get(ClientsService).register(metadata, { allowClientId: true })) as TestClient;
      recordSecret('client_secret', client.client_secret);
      return client;
    },
    createUser: (input) => {
      recordSecret('password', input.password);
      return primary.app.get(UsersService).create(input);
    },
    startInstance: async (more = {}) => {
      const instance = await startInstance({
        env: { ...options.env, ...more.env },
        extensions: more.extensions ?? options.extensions,
        databaseUrl,
        keyEncryptionKey,
        issuer: primary.config.issuer,
      });
      others.push(instance);
      return instance;
    },
    close: () => (closed ??= close()),
  };
}

/** Shows the error lines of an instance's log file (unexpected server errors) in the test output. */
function printErrors(logFile: string | undefined): void {
  if (!logFile) return;
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return;
  }
  for (const line of text.split('\n')) {
    if (/^\{"level":(5\d|60)\b/.test(line)) process.stderr.write(`[gatehouse ${logFile}] ${line}\n`);
  }
}

async function dropDatabase(name: string): Promise<void> {
  await dropTestDatabase(TEST_DATABASE_URL, name);
}
