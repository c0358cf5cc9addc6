// Shared by the data-growth tools (seed.mjs, data-growth.mjs, explain.mjs, purge.mjs):
// settings from flags or the environment, the seeded database's description, and its
// key-encryption key.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = dirname(here);
/** Where these tools write (BENCH_RESULTS_DIR, default bench/results; git-ignored). */
export const resultsDir = process.env.BENCH_RESULTS_DIR || join(here, 'results');

export const DEFAULT_ADMIN_URL = 'postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse';
export const DEFAULT_SEEDED_DATABASE = 'gh_seeded';
/** Marks a database as made by seed.mjs (in its COMMENT), so that --replace never drops anything else. */
export const SEED_MARK = 'gatehouse-seed';

export const log = (tag, ...parts) => process.stderr.write(`[${tag}] ${parts.join(' ')}\n`);

/**
 * Reads settings: `--name value` or `--name=value` on the command line, else the environment
 * variable, else the default. `spec` maps a name to { env, fallback, type: 'int' | 'string' | 'bool', min, help }.
 * `--help` prints the settings and exits.
 */
export function settings(spec, { usage, argv = process.argv.slice(2), env = process.env } = {}) {
  const flags = {};
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === '--help' || arg === '-h') {
      const rows = Object.entries(spec).map(([name, item]) => `  --${name}${item.env ? ` (${item.env})` : ''}: ${item.help} [${item.fallback ?? 'unset'}]`);
      process.stdout.write(`${usage}\n\nSettings (flag, or environment variable):\n${rows.join('\n')}\n`);
      process.exit(0);
    }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg} (see --help)`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (!(name in spec)) throw new Error(`unknown flag --${name} (see --help)`);
    if (inline !== undefined) flags[name] = inline;
    else if (spec[name].type === 'bool' && (argv[index + 1] === undefined || argv[index + 1].startsWith('--'))) flags[name] = 'true';
    else flags[name] = argv[++index];
  }
  const values = {};
  for (const [name, item] of Object.entries(spec)) {
    const raw = flags[name] ?? (item.env ? env[item.env] : undefined);
    const source = flags[name] !== undefined ? `--${name}` : item.env;
    if (raw === undefined || raw === '') {
      values[name] = typeof item.fallback === 'function' ? item.fallback(values) : item.fallback;
      continue;
    }
    if (item.type === 'int') {
      const value = Number(String(raw).replace(/_/g, ''));
      if (!Number.isSafeInteger(value) || value < (item.min ?? 0)) throw new Error(`${source} must be an integer >= ${item.min ?? 0}, got "${raw}"`);
      values[name] = value;
    } else if (item.type === 'bool') {
      if (!['1', 'true', 'yes', '0', 'false', 'no'].includes(String(raw).toLowerCase())) throw new Error(`${source} must be true or false, got "${raw}"`);
      values[name] = ['1', 'true', 'yes'].includes(String(raw).toLowerCase());
    } else {
      values[name] = String(raw);
    }
  }
  return values;
}

export function assertDatabaseName(name) {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unsafe database name "${name}" (lower-case letters, digits and _ only)`);
  return name;
}

/** The URL of database `name` on the server of `adminUrl`. */
export function databaseUrl(adminUrl, name) {
  const url = new URL(adminUrl);
  url.pathname = `/${assertDatabaseName(name)}`;
  return url.toString();
}

export async function withClient(url, work) {
  const client = new pg.Client({ connectionString: url, application_name: 'gatehouse-bench' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Whether database `name` exists, and what seed.mjs recorded in its comment (null when it is not a seeded database). */
export async function describeDatabase(adminUrl, name) {
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query(`SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`, [name]);
    if (!rows.length) return { exists: false, seed: null };
    let seed = null;
    try {
      const parsed = JSON.parse(rows[0].comment ?? '');
      if (parsed?.mark === SEED_MARK) seed = parsed;
    } catch {
      // not ours
    }
    return { exists: true, seed };
  });
}

/** The settings naming a seeded database, shared by the tools that use one. */
export const SEEDED_DATABASE_SETTINGS = {
  database: { env: 'SEED_DATABASE', fallback: DEFAULT_SEEDED_DATABASE, help: 'the seeded database (bench:seed)' },
  'admin-url': { env: 'BENCH_DATABASE_URL', fallback: DEFAULT_ADMIN_URL, help: 'server of the seeded database (a role that may create databases)' },
};

/** The seeded database named by `s.database` on `s['admin-url']`: its URL, what bench:seed recorded, and its key-encryption key. */
export async function openSeeded(s) {
  const adminUrl = s['admin-url'];
  const { exists, seed } = await describeDatabase(adminUrl, s.database);
  if (!exists || !seed?.complete) throw new Error(`${s.database} is not a complete seeded database: run npm run bench:seed first`);
  return { adminUrl, url: databaseUrl(adminUrl, s.database), seed, key: seededKey(s.database) };
}

/** Where seed.mjs keeps what it printed, with the key-encryption key (git-ignored, mode 0600). */
export const seedFile = (name) => join(resultsDir, `seed-${assertDatabaseName(name)}.json`);

export function writeSeedFile(name, summary) {
  mkdirSync(resultsDir, { recursive: true });
  const file = seedFile(name);
  writeFileSync(file, JSON.stringify(summary, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** The KEY_ENCRYPTION_KEY of seeded database `name`: BENCH_KEY_ENCRYPTION_KEY, else the one seed.mjs wrote down. */
export function seededKey(name, env = process.env) {
  if (env.BENCH_KEY_ENCRYPTION_KEY) return env.BENCH_KEY_ENCRYPTION_KEY;
  const file = seedFile(name);
  if (!existsSync(file)) {
    throw new Error(`the key-encryption key of ${name} is unknown: set BENCH_KEY_ENCRYPTION_KEY to the one bench:seed printed (${file} is missing)`);
  }
  return JSON.parse(readFileSync(file, 'utf8')).key_encryption_key;
}

/**
 * A connection holding the expired-row cleanup job's advisory lock on a database: while it is
 * held, every Gatehouse instance on that database skips its cleanup rounds (try-lock).
 */
export async function holdCleanupLock(url, lockId) {
  const client = new pg.Client({ connectionString: url, application_name: 'gatehouse-bench-cleanup-pause' });
  await client.connect();
  const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS locked', [lockId]);
  if (!rows[0].locked) {
    await client.end();
    throw new Error('another process holds the cleanup lock on this database (is a cleanup round running?)');
  }
  return { release: () => client.end() };
}

/**
 * Deletes what was added to seeded database `url` since it was seeded at `seededAt` (benchmark
 * clients and users with their grants, tokens, codes, sessions, and deny-list and rate-limit
 * rows; not audit events, which the audit log keeps), so that every benchmark run meets the same data. Seeded rows all predate
 * `seededAt`; signing keys stay (they are sealed with the seed's key-encryption key).
 */
export async function resetToSeed(url, seededAt) {
  return withClient(url, async (client) => {
    const since = new Date(seededAt);
    const { rows: clients } = await client.query(`SELECT client_id FROM clients WHERE created_at > $1`, [since]);
    const { rows: users } = await client.query(`SELECT id FROM users WHERE created_at > $1`, [since]);
    const clientIds = clients.map((row) => row.client_id);
    const userIds = users.map((row) => row.id);
    const deleted = {};
    const run = async (name, sql, params) => {
      const result = await client.query(sql, params);
      deleted[name] = (deleted[name] ?? 0) + result.rowCount;
    };
    // Each through an index: by the new clients and users, or by a time column.
    await run('grants', `DELETE FROM grants WHERE client_id = ANY($1) OR subject = ANY($2::text[])`, [clientIds, userIds]);
    await run('refresh_tokens', `DELETE FROM refresh_tokens WHERE expires_at > $1::timestamptz + interval '14 days' AND created_at > $1`, [since]);
    await run('authorization_codes', `DELETE FROM authorization_codes WHERE created_at > $1`, [since]);
    await run('sessions', `DELETE FROM sessions WHERE expires_at > $1::timestamptz + interval '12 hours' AND created_at > $1`, [since]);
    await run('revocations', `DELETE FROM revocations WHERE created_at > $1`, [since]);
    // audit_events is append-only: what the benchmark logged stays.
    // A window that started before the seed was taken can hold new counters too; seeded keys end in :seed-<n>.
    await run('rate_limits', `DELETE FROM rate_limits WHERE window_start >= $1 AND key NOT LIKE '%:seed-%'`, [Math.floor(since.getTime() / 60_000) * 60_000]);
    await run('backchannel_logout_deliveries', `DELETE FROM backchannel_logout_deliveries WHERE created_at > $1`, [since]);
    await run('notes', `DELETE FROM notes`, []);
    // Their consents and sessions go with them (ON DELETE CASCADE).
    await run('clients', `DELETE FROM clients WHERE client_id = ANY($1)`, [clientIds]);
    await run('users', `DELETE FROM users WHERE id = ANY($1)`, [userIds]);
    return Object.fromEntries(Object.entries(deleted).filter(([, count]) => count > 0));
  });
}

export const formatNumber = (value) => Math.round(value).toLocaleString('en-US');
export const formatBytes = (bytes) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(0)} MB`);
