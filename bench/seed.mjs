// Seeds a Gatehouse database with production-sized data, for the data-growth benchmark:
// `npm run bench:seed` (builds first) or `node bench/seed.mjs` after `npm run build`.
//
// 1. Creates the database (default gh_seeded on BENCH_DATABASE_URL's server) and gives it
//    Gatehouse's schema with `node dist/cli/main.js migrate`.
// 2. Drops the indexes, primary keys and foreign keys of the tables it fills (their exact
//    definitions are read from the catalog first), loads every table server-side with
//    batched `INSERT … SELECT … FROM generate_series` (clients in batches from Node, whose
//    secrets are sealed like ClientsService does), then recreates every index and constraint
//    exactly as the migrations defined them, checks that, and runs VACUUM (ANALYZE).
// 3. Prints progress and the time per table on stderr, and a JSON summary on stdout with the
//    KEY_ENCRYPTION_KEY a server needs on this database (also written, with mode 0600, to
//    bench/results/seed-<database>.json, which data-growth.mjs and explain.mjs read).
//
// Rows follow what Gatehouse itself writes: argon2id password hashes (one hash of
// SEED_PASSWORD shared by every user), SHA-256 hashes of random tokens, sealed client
// secrets, grants spread over users and clients, a share of them revoked or expired,
// refresh tokens live, rotated or expired, sessions live, ended or expired, remembered
// consents, authorization codes, deny-list entries, rate-limit windows, expired back-channel
// logout deliveries and audit events. Ids and the spread of every attribute are derived from
// the row number, so two seeds of the same size hold the same data (apart from the hashes).
//
// Settings: `node bench/seed.mjs --help`.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { runProcess } from './lib.mjs';
import {
  DEFAULT_ADMIN_URL,
  DEFAULT_SEEDED_DATABASE,
  SEED_MARK,
  assertDatabaseName,
  databaseUrl,
  describeDatabase,
  formatBytes,
  formatNumber,
  root,
  settings,
  withClient,
  writeSeedFile,
} from './seeded-db.mjs';

const say = (...parts) => process.stderr.write(`[seed] ${parts.join(' ')}\n`);

const SPEC = {
  database: { env: 'SEED_DATABASE', fallback: DEFAULT_SEEDED_DATABASE, help: 'database to create and fill' },
  'admin-url': { env: 'BENCH_DATABASE_URL', fallback: DEFAULT_ADMIN_URL, help: 'a role that may create databases, on the server to use' },
  users: { env: 'SEED_USERS', type: 'int', min: 1, fallback: 1_000_000, help: 'users' },
  clients: { env: 'SEED_CLIENTS', type: 'int', min: 1, fallback: 100_000, help: 'clients' },
  grants: { env: 'SEED_GRANTS', type: 'int', min: 0, fallback: 10_000_000, help: 'grants, each with one refresh token' },
  sessions: { env: 'SEED_SESSIONS', type: 'int', min: 0, fallback: (v) => v.users, help: 'browser sessions (default: as many as users)' },
  consents: { env: 'SEED_CONSENTS', type: 'int', min: 0, fallback: (v) => v.users, help: 'remembered consents (default: as many as users)' },
  codes: { env: 'SEED_CODES', type: 'int', min: 0, fallback: (v) => Math.ceil(v.grants / 100), help: 'authorization codes (default: grants / 100)' },
  revocations: { env: 'SEED_REVOCATIONS', type: 'int', min: 0, fallback: (v) => Math.ceil(v.grants / 100), help: 'deny-list entries (default: grants / 100)' },
  'rate-limits': { env: 'SEED_RATE_LIMITS', type: 'int', min: 0, fallback: (v) => Math.ceil(v.users / 10), help: 'rate-limit windows (default: users / 10)' },
  'logout-deliveries': {
    env: 'SEED_LOGOUT_DELIVERIES',
    type: 'int',
    min: 0,
    fallback: (v) => Math.ceil(v.users / 100),
    help: 'expired back-channel logout deliveries (default: users / 100)',
  },
  'audit-events': { env: 'SEED_AUDIT_EVENTS', type: 'int', min: 0, fallback: (v) => v.users, help: 'audit events (default: as many as users)' },
  password: { env: 'SEED_PASSWORD', fallback: 'seed-password-123', help: 'password of every seeded user (user0000001 …)' },
  batch: { env: 'SEED_BATCH', type: 'int', min: 1, fallback: 500_000, help: 'rows per INSERT statement' },
  jobs: { env: 'SEED_JOBS', type: 'int', min: 1, fallback: 2, help: 'tables loaded (and indexed) at the same time, one connection each' },
  replace: { env: 'SEED_REPLACE', type: 'bool', fallback: false, help: 'drop and seed again a database that bench:seed made before' },
};

const TABLES = [
  'users',
  'clients',
  'sessions',
  'consents',
  'grants',
  'refresh_tokens',
  'authorization_codes',
  'revocations',
  'rate_limits',
  'backchannel_logout_deliveries',
  'audit_events',
];

/**
 * Helpers living only in the seeding session (pg_temp): deterministic pseudo-random numbers
 * per row and stream, ids derived from the row number, base64url SHA-256 like src/common/crypto.ts.
 */
const TEMP_FUNCTIONS = [
  `CREATE FUNCTION pg_temp.seed_rand(n bigint, stream bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
     AS $$ SELECT hashint8extended(n, stream) & 9223372036854775807 $$`,
  `CREATE FUNCTION pg_temp.seed_uuid(kind text, n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE
     AS $$ SELECT overlay(overlay(md5('${SEED_MARK}:' || kind || ':' || n) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid $$`,
  `CREATE FUNCTION pg_temp.seed_b64url(value bytea) RETURNS text LANGUAGE sql IMMUTABLE
     AS $$ SELECT translate(rtrim(encode(value, 'base64'), '='), '+/', '-_') $$`,
  `CREATE FUNCTION pg_temp.seed_hash(salt text, kind text, n bigint) RETURNS text LANGUAGE sql IMMUTABLE
     AS $$ SELECT pg_temp.seed_b64url(sha256(convert_to(salt || ':' || kind || ':' || n, 'UTF8'))) $$`,
  // 24 base64url characters, like randomToken(18) in ClientsService.
  `CREATE FUNCTION pg_temp.seed_client_id(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
     AS $$ SELECT left(pg_temp.seed_b64url(sha256(convert_to('${SEED_MARK}:client:' || n, 'UTF8'))), 24) $$`,
  // 30% of the rows go to the busiest 1% of the clients.
  `CREATE FUNCTION pg_temp.seed_pick_client(h bigint, clients bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
     AS $$ SELECT CASE WHEN h % 10 < 3 THEN (h / 10) % greatest(1, clients / 100) ELSE (h / 10) % clients END + 1 $$`,
  // Grant i: 0 live, 1 expired (10%), 2 revoked (5%, not expired).
  `CREATE FUNCTION pg_temp.seed_grant_status(i bigint) RETURNS integer LANGUAGE sql IMMUTABLE
     AS $$ SELECT CASE WHEN pg_temp.seed_rand(i, 33) % 1000 < 50 THEN 2 WHEN pg_temp.seed_rand(i, 33) % 1000 < 150 THEN 1 ELSE 0 END $$`,
  // Expired within the last 30 days, or expiring in 1 hour to 14 days (REFRESH_TOKEN_TTL).
  `CREATE FUNCTION pg_temp.seed_grant_expires(i bigint, t0 timestamptz) RETURNS timestamptz LANGUAGE sql IMMUTABLE
     AS $$ SELECT CASE WHEN pg_temp.seed_grant_status(i) = 1
                  THEN t0 - (pg_temp.seed_rand(i, 34) % (30 * 1440)) * interval '1 minute'
                  ELSE t0 + (60 + pg_temp.seed_rand(i, 34) % (14 * 1440 - 60)) * interval '1 minute' END $$`,
];

/** One INSERT per batch of row numbers $1..$2; $3 is the reference time, $4 the hash salt; `params` adds $5…. */
const LOADS = {
  users: {
    params: (s) => [s.passwordHash, Math.max(7, String(s.users).length)],
    sql: `INSERT INTO users (id, username, email, email_verified, name, given_name, family_name, phone_number, password_hash,
            disabled, failed_login_count, last_login_at, created_at, updated_at)
          SELECT pg_temp.seed_uuid('user', n), 'user' || lpad(n::text, $6, '0'), 'user' || lpad(n::text, $6, '0') || '@seed.example', h % 10 < 7,
            'Seed User ' || n, 'Seed', 'User ' || n, CASE WHEN h % 3 = 0 THEN '+1555' || lpad((n % 10000000)::text, 7, '0') END, $5,
            h % 200 = 0, 0, CASE WHEN h % 5 <> 0 THEN $3::timestamptz - (h / 7 % 43200) * interval '1 minute' END, c, c
          FROM generate_series($1::bigint, $2::bigint) n,
            LATERAL (SELECT pg_temp.seed_rand(n, 11) AS h OFFSET 0) r,
            LATERAL (SELECT $3::timestamptz - (h / 11 % 730) * interval '1 day' AS c) t
          WHERE $4::text IS NOT NULL`,
  },
  sessions: {
    // 50% live, 10% ended in the last hours, 10% ended long ago, 30% expired (SESSION_TTL 12 h); 10% anonymous.
    params: (s) => [s.users],
    sql: `INSERT INTO sessions (id, token_hash, user_id, csrf_token, auth_time, created_at, last_seen_at, expires_at, ended_at)
          SELECT pg_temp.seed_uuid('session', n), pg_temp.seed_hash($4, 'session', n),
            CASE WHEN h % 10 <> 0 THEN pg_temp.seed_uuid('user', (n - 1) % $5 + 1) END, pg_temp.seed_hash($4, 'csrf', n),
            CASE WHEN h % 10 <> 0 THEN c END, c, least($3::timestamptz, c + (h / 100 % 60) * interval '1 minute'), c + interval '12 hours',
            CASE WHEN s BETWEEN 50 AND 69 THEN c + (1 + h / 1000 % 120) * interval '1 minute' END
          FROM generate_series($1::bigint, $2::bigint) n,
            LATERAL (SELECT pg_temp.seed_rand(n, 61) AS h OFFSET 0) r,
            LATERAL (SELECT h / 10 % 100 AS s) st,
            LATERAL (SELECT CASE WHEN h / 10 % 100 < 60 THEN $3::timestamptz - (h / 17 % 600) * interval '1 minute'
                                 ELSE $3::timestamptz - interval '12 hours' - (h / 17 % (30 * 1440)) * interval '1 minute' END AS c) t`,
  },
  consents: {
    // User u's k-th consent goes to a client of its own: (user, client) pairs never repeat.
    params: (s) => [s.users, s.clients],
    sql: `INSERT INTO consents (user_id, client_id, scopes, created_at, updated_at)
          SELECT pg_temp.seed_uuid('user', u), pg_temp.seed_client_id((pg_temp.seed_rand(u, 51) + k) % $6 + 1),
            CASE WHEN n % 3 = 0 THEN '{openid,profile,email,offline_access}'::text[] ELSE '{openid,profile,email}'::text[] END, c, c
          FROM generate_series($1::bigint, $2::bigint) n,
            LATERAL (SELECT (n - 1) % $5 + 1 AS u, (n - 1) / $5 AS k) uk,
            LATERAL (SELECT $3::timestamptz - (pg_temp.seed_rand(n, 52) % 525600) * interval '1 minute' AS c) t
          WHERE $4::text IS NOT NULL`,
  },
  grants: {
    // 70% from the code flow (made in the user's session), 30% password grants; 5% revoked, 10% expired.
    params: (s) => [s.users, s.clients, s.sessions],
    sql: `INSERT INTO grants (id, client_id, subject, scopes, grant_type, session_id, auth_time, created_at, expires_at, revoked_at, revoked_reason)
          SELECT pg_temp.seed_uuid('grant', i), pg_temp.seed_client_id(pg_temp.seed_pick_client(pg_temp.seed_rand(i, 32), $6)),
            pg_temp.seed_uuid('user', u)::text,
            CASE h % 4 WHEN 0 THEN '{openid,profile,email,offline_access}'::text[] WHEN 1 THEN '{openid,profile}'::text[]
                       WHEN 2 THEN '{notes:read}'::text[] ELSE '{openid,email,notes:read,notes:write,offline_access}'::text[] END,
            CASE WHEN code THEN 'authorization_code' ELSE 'password' END,
            CASE WHEN code AND u <= $7 THEN pg_temp.seed_uuid('session', u)::text END,
            c, c, e,
            CASE WHEN status = 2 THEN least($3::timestamptz, c + (h / 97 % 10080) * interval '1 minute') END,
            CASE WHEN status = 2 THEN (ARRAY['revoked_by_client', 'logout', 'user_revoked', 'refresh_token_reuse', 'consent_withdrawn'])[h / 13 % 5 + 1] END
          FROM generate_series($1::bigint, $2::bigint) i,
            LATERAL (SELECT pg_temp.seed_rand(i, 33) AS h, pg_temp.seed_rand(i, 31) % $5 + 1 AS u, pg_temp.seed_grant_status(i) AS status,
                            pg_temp.seed_grant_expires(i, $3) AS e OFFSET 0) r,
            LATERAL (SELECT h / 1000 % 10 < 7 AS code, least($3::timestamptz - (h / 100000 % 129600) * interval '1 minute', e - interval '1 hour') AS c) t
          WHERE $4::text IS NOT NULL`,
  },
  refresh_tokens: {
    // The token of grant i expires with its grant; 5% of the live ones were rotated.
    params: () => [],
    sql: `INSERT INTO refresh_tokens (token_hash, grant_id, generation, created_at, expires_at, rotated_at)
          SELECT pg_temp.seed_hash($4, 'refresh', i), pg_temp.seed_uuid('grant', i), (1 + h % 30)::integer, e - interval '14 days', e,
            CASE WHEN pg_temp.seed_grant_status(i) = 0 AND h / 30 % 100 < 5 THEN least($3::timestamptz, e - interval '14 days' + (1 + h / 3000 % 1440) * interval '1 minute') END
          FROM generate_series($1::bigint, $2::bigint) i,
            LATERAL (SELECT pg_temp.seed_rand(i, 41) AS h, pg_temp.seed_grant_expires(i, $3) AS e OFFSET 0) r`,
  },
  authorization_codes: {
    // Issued over the last 2 hours (60 s lifetime); 90% used. Those expired over an hour ago are purgeable.
    params: (s) => [s.users, s.clients],
    sql: `INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, redirect_uri_given, scopes, subject, session_id, auth_time,
            code_challenge, code_challenge_method, nonce, claims, grant_id, created_at, expires_at, used_at)
          SELECT pg_temp.seed_hash($4, 'code', n), pg_temp.seed_client_id(cn), 'https://app' || cn || '.seed.example/callback', true,
            '{openid,profile,email}', pg_temp.seed_uuid('user', u), pg_temp.seed_uuid('session', u), c,
            pg_temp.seed_hash($4, 'challenge', n), 'S256', CASE WHEN h % 2 = 0 THEN pg_temp.seed_hash($4, 'nonce', n) END, NULL,
            pg_temp.seed_uuid('code-grant', n), c, c + interval '60 seconds',
            CASE WHEN h % 10 <> 0 THEN c + (1 + h / 10 % 20) * interval '1 second' END
          FROM generate_series($1::bigint, $2::bigint) n,
            LATERAL (SELECT pg_temp.seed_rand(n, 71) AS h, pg_temp.seed_rand(n, 72) % $5 + 1 AS u,
                            pg_temp.seed_pick_client(pg_temp.seed_rand(n, 73), $6) AS cn OFFSET 0) r,
            LATERAL (SELECT $3::timestamptz - (h / 100 % 7200) * interval '1 second' AS c) t`,
  },
  revocations: {
    // 70% access tokens (jti), 25% grants, 5% sessions; half of them expired, the rest live for up to a day.
    params: () => [],
    sql: `INSERT INTO revocations (kind, id, expires_at, created_at)
          SELECT k, pg_temp.seed_uuid(CASE k WHEN 'token' THEN 'jti' ELSE k END, n)::text, e, least($3::timestamptz, e - interval '15 minutes')
          FROM generate_series($1::bigint, $2::bigint) n,
            LATERAL (SELECT pg_temp.seed_rand(n, 81) AS h OFFSET 0) r,
            LATERAL (SELECT CASE WHEN h % 100 < 70 THEN 'token' WHEN h % 100 < 95 THEN 'grant' ELSE 'session' END AS k,
                            CASE WHEN h / 100 % 2 = 0 THEN $3::timestamptz - (h / 200 % 1440) * interval '1 minute'
                                 ELSE $3::timestamptz + (1 + h / 200 % 1440) * interval '1 minute' END AS e) t
          WHERE $4::text IS NOT NULL
          ORDER BY n`,
  },
  rate_limits: {
    // Per-minute windows of sign-in and token requests per address and per client over the last 2 hours (most are over).
    params: (s) => [s.clients],
    sql: `INSERT INTO rate_limits (key, window_start, hits, expires_at)
          SELECT CASE WHEN h % 3 = 0 THEN 'token-client:' || pg_temp.seed_client_id(pg_temp.seed_pick_client(h, $5))
                      WHEN h % 3 = 1 THEN 'token-address:10.' || (n >> 16 & 255) || '.' || (n >> 8 & 255) || '.' || (n & 255)
                      ELSE 'login:10.' || (n >> 16 & 255) || '.' || (n >> 8 & 255) || '.' || (n & 255) END || ':seed-' || n,
            w, (1 + h / 100000 % 30)::integer, timestamptz 'epoch' + (w + 60000) * interval '1 millisecond'
          FROM generate_series($1::bigint, $2::bigint) n,
            LATERAL (SELECT pg_temp.seed_rand(n, 91) AS h OFFSET 0) r,
            LATERAL (SELECT (floor(extract(epoch FROM $3::timestamptz) / 60) - h / 10 % 120)::bigint * 60000 AS w) t
          WHERE $4::text IS NOT NULL`,
  },
  backchannel_logout_deliveries: {
    // Deliveries that gave up or timed out: all expired, so no instance ever sends them.
    params: (s) => [s.clients],
    sql: `INSERT INTO backchannel_logout_deliveries (client_id, uri, logout_token, attempts, next_attempt_at, claimed_until, expires_at, created_at)
          SELECT pg_temp.seed_client_id(cn), 'https://app' || cn || '.seed.example/backchannel-logout', 'expired.seed.' || pg_temp.seed_hash($4, 'logout', n),
            3, c + interval '5 seconds', NULL, c + interval '120 seconds', c
          FROM generate_series($1::bigint, $2::bigint) n,
            LATERAL (SELECT pg_temp.seed_rand(n, 101) AS h OFFSET 0) r,
            LATERAL (SELECT pg_temp.seed_pick_client(h, $5) AS cn, $3::timestamptz - interval '121 seconds' - (h / 7 % 86400) * interval '1 second' AS c) t`,
  },
  audit_events: {
    // 90 days of history, oldest first.
    params: (s) => [s.users, s.clients, s['audit-events']],
    sql: `INSERT INTO audit_events (occurred_at, event, client_id, subject, remote_address, details)
          SELECT $3::timestamptz - ($7 - n) * (interval '90 days' / greatest($7, 1)),
            (ARRAY['login.succeeded', 'login.succeeded', 'login.failed', 'consent.granted', 'grant.revoked', 'access_token.revoked', 'session.logged_out'])[h % 7 + 1],
            pg_temp.seed_client_id(pg_temp.seed_pick_client(h / 7, $6)), pg_temp.seed_uuid('user', h / 70 % $5 + 1)::text,
            '10.' || (h >> 8 & 255) || '.' || (h >> 16 & 255) || '.' || (h >> 24 & 255), '{}'::jsonb
          FROM generate_series($1::bigint, $2::bigint) n, LATERAL (SELECT pg_temp.seed_rand(n, 111) AS h OFFSET 0) r
          WHERE $4::text IS NOT NULL
          ORDER BY n`,
  },
};

/** Client n's kind, as a share of all clients: confidential web apps, services, SPAs, first-party apps, OpenID Connect hybrid apps. */
const CLIENTS_SQL = `
  INSERT INTO clients (client_id, client_name, token_endpoint_auth_method, secret_hash, secret_sealed, redirect_uris, grant_types, response_types,
    scopes, first_party, allowed_cors_origins, metadata, registration_access_token_hash, created_at, updated_at)
  SELECT v.id, 'Seed app ' || v.n, k.method, CASE WHEN k.method <> 'none' THEN v.secret_hash END, CASE WHEN k.method <> 'none' THEN v.sealed END,
    CASE WHEN k.host IS NULL THEN '{}'::text[]
         WHEN h % 4 = 0 THEN ARRAY['https://' || k.host || v.n || '.seed.example/callback', 'https://' || k.host || v.n || '.seed.example/silent-renew']
         ELSE ARRAY['https://' || k.host || v.n || '.seed.example/callback'] END,
    k.grant_types, k.response_types, k.scopes, k.first_party,
    CASE WHEN k.method = 'none' THEN ARRAY['https://' || k.host || v.n || '.seed.example'] ELSE '{}'::text[] END,
    CASE WHEN h % 3 = 0 THEN jsonb_build_object('contacts', jsonb_build_array('ops@app' || v.n || '.seed.example')) ELSE '{}'::jsonb END,
    CASE WHEN h % 5 = 0 THEN v.registration_hash END, c, c
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS v(n, id, secret_hash, sealed, registration_hash),
    LATERAL (SELECT pg_temp.seed_rand(v.n, 21) AS h OFFSET 0) r,
    LATERAL (SELECT $6::timestamptz - (h / 100 % 730) * interval '1 day' AS c) t,
    LATERAL (SELECT * FROM (VALUES
      (0, 45, 'client_secret_basic', 'app', '{authorization_code,refresh_token}'::text[], '{code}'::text[], '{openid,profile,email,offline_access,notes:read}'::text[], false),
      (45, 70, 'client_secret_basic', NULL, '{client_credentials}', '{}', '{notes:read,notes:write}', false),
      (70, 80, 'none', 'spa', '{authorization_code,refresh_token}', '{code}', '{openid,profile,notes:read}', false),
      (80, 90, 'client_secret_basic', NULL, '{password,refresh_token}', '{}', '{openid,profile,email,notes:read,notes:write}', true),
      (90, 95, 'client_secret_post', 'oidc', '{authorization_code,implicit,refresh_token}', '{code,"code id_token"}', '{openid,profile,email,address,phone}', false),
      (95, 100, 'client_secret_post', 'app', '{authorization_code,client_credentials}', '{code}', '{openid,notes:read,notes:write}', false)
    ) AS kinds(low, high, method, host, grant_types, response_types, scopes, first_party) WHERE h % 100 >= low AND h % 100 < high) k`;

/** Indexes, primary/unique keys and foreign keys of the seeded tables, as the migrations made them. */
async function schemaObjects(client) {
  const { rows: constraints } = await client.query(
    `SELECT c.conrelid::regclass::text AS "table", c.conname AS name, c.contype AS type, pg_get_constraintdef(c.oid) AS definition, c.conindid::regclass::text AS index
     FROM pg_constraint c
     WHERE c.contype IN ('p', 'u', 'f') AND (c.conrelid::regclass::text = ANY($1) OR (c.contype = 'f' AND c.confrelid::regclass::text = ANY($1)))
     ORDER BY 1, 2`,
    [TABLES],
  );
  const constraintIndexes = new Set(constraints.filter((c) => c.type !== 'f').map((c) => c.index));
  const { rows: indexes } = await client.query(
    `SELECT tablename AS "table", indexname AS name, indexdef AS definition FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1) ORDER BY 1, 2`,
    [TABLES],
  );
  return {
    keys: constraints.filter((c) => c.type !== 'f'),
    foreignKeys: constraints.filter((c) => c.type === 'f'),
    indexes: indexes.filter((index) => !constraintIndexes.has(index.name)),
  };
}

const fingerprint = (objects) =>
  JSON.stringify([
    ...objects.keys.map((c) => `${c.table} ${c.name} ${c.definition}`),
    ...objects.foreignKeys.map((c) => `${c.table} ${c.name} ${c.definition}`),
    ...objects.indexes.map((index) => index.definition),
  ]);

async function connect(url) {
  const client = new pg.Client({ connectionString: url, application_name: 'gatehouse-seed' });
  await client.connect();
  // Bulk-load settings for this session only.
  await client.query(`SET synchronous_commit = off`);
  await client.query(`SET maintenance_work_mem = '512MB'`);
  await client.query(`SET work_mem = '64MB'`);
  for (const statement of TEMP_FUNCTIONS) await client.query(statement);
  return client;
}

/** Runs `tasks` (async functions taking a connection) on `connections`, each task on the next free one. */
async function onPool(connections, tasks) {
  const queue = [...tasks];
  await Promise.all(
    connections.map(async (client) => {
      while (queue.length) await queue.shift()(client);
    }),
  );
}

function progress(table, done, total, started) {
  const seconds = (performance.now() - started) / 1000;
  const rate = done / Math.max(seconds, 0.001);
  const eta = done < total ? `, ${Math.ceil((total - done) / rate)} s left` : '';
  say(`${table}: ${formatNumber(done)} / ${formatNumber(total)} (${Math.floor((done / total) * 100)}%), ${formatNumber(rate)} rows/s${eta}`);
}

/** Loads `total` rows with `LOADS[table]`, batch by batch. */
async function loadTable(client, table, total, s) {
  const load = LOADS[table];
  const started = performance.now();
  for (let low = 1; low <= total; low += s.batch) {
    const high = Math.min(total, low + s.batch - 1);
    await client.query(load.sql, [low, high, s.t0, s.salt, ...load.params(s)]);
    progress(table, high, total, started);
  }
  return (performance.now() - started) / 1000;
}

/** Clients come from Node in batches: their secrets are generated and sealed like ClientsService does. */
async function loadClients(client, total, s) {
  const started = performance.now();
  const step = Math.min(s.batch, 10_000);
  for (let low = 1; low <= total; low += step) {
    const high = Math.min(total, low + step - 1);
    const { rows } = await client.query(`SELECT n, pg_temp.seed_client_id(n) AS id FROM generate_series($1::bigint, $2::bigint) n`, [low, high]);
    const columns = [[], [], [], [], []];
    for (const row of rows) {
      const secret = s.crypto.randomToken(32);
      columns[0].push(row.n);
      columns[1].push(row.id);
      columns[2].push(s.crypto.sha256(secret));
      columns[3].push(s.secretBox.seal(secret, `client-secret:${row.id}`));
      columns[4].push(s.crypto.sha256(s.crypto.randomToken(32)));
    }
    await client.query(CLIENTS_SQL, [...columns, s.t0]);
    progress('clients', high, total, started);
  }
  return (performance.now() - started) / 1000;
}

async function main() {
  const s = settings(SPEC, { usage: 'Usage: node bench/seed.mjs [--database gh_seeded] [--users N] [--clients N] [--grants N] [--replace] …' });
  assertDatabaseName(s.database);
  if (s.consents > s.users * s.clients) throw new Error(`--consents may be at most users × clients (${s.users * s.clients})`);
  const adminUrl = s['admin-url'];
  if (new URL(adminUrl).pathname.slice(1) === s.database) throw new Error(`the admin database and --database must differ (${s.database})`);
  const cli = join(root, 'dist/cli/main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build (npm run bench:seed builds first)`);
  const require = createRequire(import.meta.url);
  const { hashPassword } = require(join(root, 'dist/users/password-hasher.js'));
  const { SecretBox } = require(join(root, 'dist/common/secret-box.js'));
  const crypto = require(join(root, 'dist/common/crypto.js'));

  const sizes = {
    users: s.users,
    clients: s.clients,
    sessions: s.sessions,
    consents: s.consents,
    grants: s.grants,
    refresh_tokens: s.grants,
    authorization_codes: s.codes,
    revocations: s.revocations,
    rate_limits: s['rate-limits'],
    backchannel_logout_deliveries: s['logout-deliveries'],
    audit_events: s['audit-events'],
  };

  const existing = await describeDatabase(adminUrl, s.database);
  if (existing.exists) {
    const same = existing.seed?.complete && JSON.stringify(existing.seed.rows) === JSON.stringify(sizes);
    if (same && !s.replace) {
      say(`${s.database} already holds this seed (${existing.seed.seeded_at}); --replace seeds it again`);
      process.stdout.write(JSON.stringify({ database: s.database, database_url: databaseUrl(adminUrl, s.database), ...existing.seed }) + '\n');
      return;
    }
    if (!existing.seed) throw new Error(`database ${s.database} exists and was not made by bench:seed: choose another --database`);
    if (!s.replace)
      throw new Error(`database ${s.database} holds another or an unfinished seed (${JSON.stringify(existing.seed.rows)}): --replace to seed it again`);
    say(`dropping ${s.database} (made by bench:seed on ${existing.seed.seeded_at})`);
    await withClient(adminUrl, (client) => client.query(`DROP DATABASE "${s.database}" WITH (FORCE)`));
  }

  const key = process.env.BENCH_KEY_ENCRYPTION_KEY || randomBytes(32).toString('hex');
  if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new Error('BENCH_KEY_ENCRYPTION_KEY must be 64 hex digits');
  const url = databaseUrl(adminUrl, s.database);
  const t0 = new Date();
  const info = { mark: SEED_MARK, complete: false, seeded_at: t0.toISOString(), rows: sizes, password: s.password };
  const comment = () => `COMMENT ON DATABASE "${s.database}" IS '${JSON.stringify(info).replace(/'/g, "''")}'`;
  const startedAll = performance.now();
  const seconds = Object.fromEntries(TABLES.map((table) => [table, 0]));
  const add = (table, value) => (seconds[table] = Math.round((seconds[table] + value) * 10) / 10);

  await withClient(adminUrl, async (client) => {
    await client.query(`CREATE DATABASE "${s.database}"`);
    await client.query(comment());
  });
  say(`created database ${s.database}; migrating`);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: url, KEY_ENCRYPTION_KEY: key, LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  const migrated = await runProcess([process.execPath, cli, 'migrate'], { cwd: root, env, timeoutMs: 300_000 });
  say(`migrations: ${migrated.stdout.trim()}`);

  const connections = await Promise.all(Array.from({ length: s.jobs }, () => connect(url)));
  try {
    const [main] = connections;
    const schema = await schemaObjects(main);
    // Starting Gatehouse for the migrations may already have written a few rows (audit events).
    const countRows = async () =>
      Object.fromEntries(
        (await main.query(TABLES.map((table) => `SELECT '${table}' AS "table", count(*)::bigint AS n FROM ${table}`).join(' UNION ALL '))).rows.map((row) => [
          row.table,
          Number(row.n),
        ]),
      );
    const before = await countRows();
    say(`dropping ${schema.indexes.length} indexes, ${schema.keys.length} keys and ${schema.foreignKeys.length} foreign keys for the load`);
    for (const fk of schema.foreignKeys) await main.query(`ALTER TABLE ${fk.table} DROP CONSTRAINT "${fk.name}"`);
    for (const keyConstraint of schema.keys) await main.query(`ALTER TABLE ${keyConstraint.table} DROP CONSTRAINT "${keyConstraint.name}"`);
    for (const index of schema.indexes) await main.query(`DROP INDEX "${index.name}"`);

    const passwordStarted = performance.now();
    const values = {
      ...s,
      t0,
      salt: randomBytes(16).toString('hex'),
      passwordHash: await hashPassword(s.password),
      crypto,
      secretBox: new SecretBox(Buffer.from(key, 'hex')),
    };
    add('users', (performance.now() - passwordStarted) / 1000);

    // Biggest first, so that the jobs finish together.
    const order = [...TABLES].sort((a, b) => sizes[b] - sizes[a]);
    await onPool(
      connections,
      order.map((table) => async (client) => {
        if (sizes[table] === 0) return;
        add(table, table === 'clients' ? await loadClients(client, sizes[table], values) : await loadTable(client, table, sizes[table], values));
      }),
    );

    say('recreating keys and indexes');
    await onPool(
      connections,
      order.map((table) => async (client) => {
        const started = performance.now();
        for (const keyConstraint of schema.keys.filter((c) => c.table === table)) {
          await client.query(`ALTER TABLE ${table} ADD CONSTRAINT "${keyConstraint.name}" ${keyConstraint.definition}`);
        }
        for (const index of schema.indexes.filter((i) => i.table === table)) await client.query(index.definition);
        const took = (performance.now() - started) / 1000;
        add(table, took);
        say(`${table}: keys and indexes in ${took.toFixed(1)} s`);
      }),
    );
    for (const fk of schema.foreignKeys) {
      const started = performance.now();
      await main.query(`ALTER TABLE ${fk.table} ADD CONSTRAINT "${fk.name}" ${fk.definition}`);
      add(fk.table, (performance.now() - started) / 1000);
      say(`${fk.table}: foreign key ${fk.name} checked in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    if (fingerprint(await schemaObjects(main)) !== fingerprint(schema)) throw new Error('the recreated indexes and constraints differ from the migrations');

    say('VACUUM (ANALYZE)');
    await onPool(
      connections,
      order.map((table) => async (client) => {
        const started = performance.now();
        await client.query(`VACUUM (ANALYZE) ${table}`);
        add(table, (performance.now() - started) / 1000);
      }),
    );

    const after = await countRows();
    for (const table of TABLES) {
      if (after[table] !== before[table] + sizes[table]) throw new Error(`${table}: expected ${before[table] + sizes[table]} rows, found ${after[table]}`);
    }
    const { rows: sized } = await main.query(`SELECT pg_database_size(current_database())::bigint AS bytes`);
    const { rows: perTable } = await main.query(
      `SELECT relname AS "table", pg_total_relation_size(oid)::bigint AS bytes FROM pg_class WHERE relname = ANY($1)`,
      [TABLES],
    );

    info.complete = true;
    info.seconds = seconds;
    info.total_seconds = Math.round((performance.now() - startedAll) / 100) / 10;
    info.size_bytes = Number(sized[0].bytes);
    info.table_bytes = Object.fromEntries(perTable.map((row) => [row.table, Number(row.bytes)]));
    await withClient(adminUrl, (client) => client.query(comment()));

    const summary = { database: s.database, database_url: url, key_encryption_key: key, ...info };
    const file = writeSeedFile(s.database, summary);
    for (const table of TABLES) {
      say(
        `${table.padEnd(30)} ${formatNumber(sizes[table]).padStart(12)} rows  ${String(seconds[table]).padStart(7)} s  ${formatBytes(info.table_bytes[table] ?? 0)}`,
      );
    }
    say(`total ${info.total_seconds} s, database size ${formatBytes(info.size_bytes)}; summary and key in ${file}`);
    say(`benchmark it: BENCH_GATEHOUSE_DATABASE_URL=${url} BENCH_KEY_ENCRYPTION_KEY=${key} node bench/run.mjs`);
    say(`or compare with an empty database: npm run bench:data-growth`);
    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await Promise.all(connections.map((client) => client.end().catch(() => undefined)));
  }
}

main().catch((error) => {
  say(`failed: ${error.stack ?? error.message}`);
  process.exitCode = 1;
});
