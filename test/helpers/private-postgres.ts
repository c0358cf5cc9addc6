import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './processes';

/**
 * A PostgreSQL cluster of the test's own, which it may stop and start at will (the shared
 * server must never be restarted): initdb into a temporary folder (as the `postgres` user
 * when the tests run as root), its own port on 127.0.0.1 and its own socket folder, the
 * server binaries of the newest /usr/lib/postgresql/<version>/bin found at run time.
 * `destroy()` stops it and removes the folder; a process exit stops it too.
 */

const ROLE = 'gatehouse';
const PASSWORD = 'gatehouse';

export interface PrivatePostgres {
  port: number;
  /** postgres://gatehouse:gatehouse@127.0.0.1:<port>/<database> */
  url(database: string): string;
  /** Creates a database owned by the gatehouse role; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Starts the server and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server (`fast`: sessions are terminated, as in a restart) and waits until it is down. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Runs a statement as the superuser (ALTER SYSTEM, say). */
  superuser(sql: string): Promise<void>;
  /** The server log. */
  log(): string;
  destroy(): Promise<void>;
}

/** The bin folder of the newest PostgreSQL server installed (PG_BIN overrides). */
export function postgresBinaries(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((version) => existsSync(join(root, version, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root} (install Debian's postgresql package)`);
  versions.sort((a, b) => Number(a) - Number(b));
  return join(root, versions[versions.length - 1], 'bin');
}

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL binary as the postgres user (when root) and returns its output; throws with it on failure. */
function runAsPostgres(binary: string, args: string[], timeoutMs = 60_000): string {
  const [command, commandArgs] = asRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
  const result = spawnSync(command, commandArgs, { encoding: 'utf8', timeout: timeoutMs, cwd: '/' });
  if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stdout}${result.stderr}`);
  return result.stdout;
}

const running = new Set<{ pgCtl: string; data: string }>();
process.once('exit', () => {
  // Never leave a server behind, even when a test run is interrupted.
  for (const server of running)
    spawnSync(
      asRoot ? 'runuser' : server.pgCtl,
      asRoot ? ['-u', 'postgres', '--', server.pgCtl, '-D', server.data, '-m', 'immediate', 'stop'] : ['-D', server.data, '-m', 'immediate', 'stop'],
    );
});

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinaries();
  const pgCtl = join(bin, 'pg_ctl');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
  const data = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  const logFile = join(dir, 'server.log');
  const passwordFile = join(dir, 'password');
  mkdirSync(socketDir);
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(logFile, '');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const path of [dir, socketDir, passwordFile, logFile]) chownSync(path, uid, gid);
  }
  chmodSync(dir, 0o700);
  const handle = { pgCtl, data };
  try {
    runAsPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--locale=C']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let port = 0;
  const configure = (newPort: number) => {
    port = newPort;
    // A small, fast, throwaway server: loopback only, few connections, no durability.
    appendFileSync(
      join(data, 'postgresql.conf'),
      `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${socketDir}'\nmax_connections = 40\n` +
        `fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n`,
    );
  };
  const start = async () => {
    runAsPostgres(pgCtl, ['-D', data, '-l', logFile, '-w', '-t', '60', 'start']);
    running.add(handle);
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    runAsPostgres(pgCtl, ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    running.delete(handle);
  };
  const url = (database: string) => `postgres://${ROLE}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  const superuser = () => new Client({ connectionString: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres` });

  for (let attempt = 1; ; attempt++) {
    configure(await freePort());
    try {
      await start();
      break;
    } catch (error) {
      // Another process took the port in the meantime: try another (the last setting wins).
      if (!/could not bind|Address already in use/.test(readFileSync(logFile, 'utf8')) || attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  const admin = superuser();
  await admin.connect();
  await admin.query(`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}'`);
  await admin.end();

  return {
    port,
    url,
    async createDatabase(name) {
      const client = superuser();
      await client.connect();
      await client.query(`CREATE DATABASE "${name}" OWNER ${ROLE}`);
      await client.end();
      return url(name);
    },
    start,
    stop,
    async superuser(sql) {
      const client = superuser();
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    },
    log: () => readFileSync(logFile, 'utf8'),
    async destroy() {
      if (running.has(handle)) await stop('immediate').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
