// EXPLAIN (ANALYZE, BUFFERS) of every query behind Gatehouse's hot paths, on a seeded database:
// `npm run bench:explain` (builds first) or `node bench/explain.mjs` after `npm run build`.
//
// Rather than keeping a copy of the SQL, it runs Gatehouse itself (in this process, over the
// seeded database) and sends it one request of each hot path — client_credentials, password
// grant, refresh rotation, refresh-token reuse, introspection, UserInfo, revocation, sign-in,
// authorization with a live session and remembered consent, session touch, code redemption,
// account pages, logout — plus a deny-list poll and the background flushes of the rate-limit
// counters and the audit log. Every statement the server sends to PostgreSQL
// on the way is captured (a wrapper around pg's Client#query) and, the first time each path sends
// it, explained just before it runs on a separate connection: EXPLAIN (ANALYZE, BUFFERS) inside a
// transaction that is rolled back, so a write is measured against the same rows the server's
// statement then meets. The cleanup job's purge statements (one batch per table) and the queries
// its foreign keys run are explained the same way.
//
// A plan fails the check when it reads a table of at least --min-rows rows (planner estimate)
// with a sequential scan. Output: a summary table on stdout, every plan in
// bench/results/explain-<database>.md; exit status 1 when a plan fails (--allow-seq-scans: 0).
// The rows the requests created (a few grants, sessions, codes) are deleted at the end; the audit
// log keeps its events (it is append-only).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { basicAuth, freePort } from './lib.mjs';
import { authorizeInBrowser, codeRequest, CookieJar, pkce } from './browser.mjs';
import { SEEDED_DATABASE_SETTINGS, log as tagged, openSeeded, resetToSeed, resultsDir, root, settings } from './seeded-db.mjs';

const say = (...parts) => tagged('explain', ...parts);
const require = createRequire(import.meta.url);

const SPEC = {
  ...SEEDED_DATABASE_SETTINGS,
  'min-rows': {
    env: 'EXPLAIN_MIN_ROWS',
    type: 'int',
    min: 0,
    fallback: 50_000,
    help: 'a sequential scan of a table this big (or bigger, planner estimate) fails the check',
  },
  'allow-seq-scans': { type: 'bool', fallback: false, help: 'exit 0 even when a plan scans a big table sequentially' },
  out: { env: 'EXPLAIN_OUT', fallback: null, help: 'markdown report (default bench/results/explain-<database>.md)' },
};

/** Statements that are not queries of a hot path: transaction control, locks, notifications. */
const NOT_EXPLAINED = /^\s*(START TRANSACTION|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET |SHOW |LISTEN|UNLISTEN|SELECT pg_notify|SELECT pg_(try_)?advisory)/i;
const normalize = (sql) => sql.replace(/\s+/g, ' ').trim();
/** A statement in a line: the select list elided, quotes dropped, cut at 100 characters. */
const brief = (sql) => {
  const line = sql.replace(/^SELECT .+? FROM /, 'SELECT … FROM ').replace(/"/g, '');
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
};

/** Tables of each plan node, with the scan type and index, depth first. */
function scans(node, found = []) {
  if (node['Relation Name'] && node['Node Type'].includes('Scan'))
    found.push({ type: node['Node Type'], relation: node['Relation Name'], index: node['Index Name'] ?? null });
  for (const child of node.Plans ?? []) scans(child, found);
  return found;
}

/** EXPLAIN ANALYZE in a rolled-back transaction (text, for reading) and the plan as JSON (for the check). */
async function explain(client, sql, params) {
  const result = { analyzed: true, text: '', plan: null, error: null };
  try {
    await client.query('BEGIN');
    try {
      const { rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
      result.text = rows.map((row) => row['QUERY PLAN']).join('\n');
    } finally {
      await client.query('ROLLBACK');
    }
  } catch (error) {
    // E.g. a lock the server's own transaction holds (lock_timeout): the plan without running it.
    result.analyzed = false;
    result.error = error.message;
  }
  try {
    const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
    result.plan = rows[0]['QUERY PLAN'][0].Plan;
    if (!result.analyzed) result.text = (await client.query(`EXPLAIN ${sql}`, params)).rows.map((row) => row['QUERY PLAN']).join('\n');
  } catch (error) {
    result.error = `${result.error ? `${result.error}; ` : ''}${error.message}`;
  }
  return result;
}

async function main() {
  const s = settings(SPEC, { usage: 'Usage: node bench/explain.mjs [--database gh_seeded] [--min-rows 10000] [--allow-seq-scans]' });
  const { url, seed, key } = await openSeeded(s);
  const started = new Date();

  // The explaining connection: never captured itself; gives up quickly on a lock the server holds.
  const explainer = new pg.Client({ connectionString: url, application_name: 'gatehouse-explain' });
  await explainer.connect();
  await explainer.query(`SET lock_timeout = '2s'`);
  await explainer.query(`SET statement_timeout = '60s'`);
  const { rows: sizes } = await explainer.query(
    `SELECT relname, greatest(reltuples, 0)::bigint AS rows FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`,
  );
  const tableRows = Object.fromEntries(sizes.map((row) => [row.relname, Number(row.rows)]));

  const captured = new Map();
  const capture = { step: null };
  let explaining = Promise.resolve();
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (config, values, callback) {
    const sql = typeof config === 'string' ? config : undefined;
    if (this === explainer || !capture.step || sql === undefined || typeof values === 'function' || callback || NOT_EXPLAINED.test(sql)) {
      return original.call(this, config, values, callback);
    }
    const step = capture.step;
    // Each statement once per hot path, with the values that path gives it.
    const key = `${step}\n${normalize(sql)}`;
    if (captured.has(key)) return original.call(this, config, values);
    const entry = { steps: new Set([step]), sql: normalize(sql), params: values ?? [], result: null };
    captured.set(key, entry);
    // One explanation at a time on the explaining connection, even if the server sends two statements at once.
    const explained = (explaining = explaining.then(() => explain(explainer, sql, values ?? [])));
    return explained.then((result) => {
      entry.result = result;
      return original.call(this, config, values);
    });
  };

  const { createApp } = require(join(root, 'dist/app.factory.js'));
  const { loadConfig } = require(join(root, 'dist/config/configuration.js'));
  const { DenyList } = require(join(root, 'dist/tokens/deny-list.js'));
  const { SharedCounters } = require(join(root, 'dist/rate-limit/shared-counters.js'));
  const { AuditLog } = require(join(root, 'dist/audit/audit-log.js'));
  const { purgeStatements } = require(join(root, 'dist/tokens/expired-token-cleanup.js'));
  const { SecretBox } = require(join(root, 'dist/common/secret-box.js'));

  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: url,
    KEY_ENCRYPTION_KEY: key,
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: baseUrl,
    LOG_LEVEL: 'warn',
    DATABASE_POOL_SIZE: '4',
    // Background work only when asked for below.
    SYNC_INTERVAL_MS: '600000',
    MAINTENANCE_INTERVAL: '1d',
    AUDIT_FLUSH_INTERVAL_MS: '60000',
    RATE_LIMIT_SYNC_INTERVAL_MS: '60000',
  });
  say(`starting Gatehouse on ${s.database}`);
  const app = await createApp(config);
  await app.listen({ port, host: '127.0.0.1' });

  const box = new SecretBox(Buffer.from(key, 'hex'));
  const clientOf = (row) => ({ id: row.client_id, secret: box.open(row.secret_sealed, `client-secret:${row.client_id}`) });
  const pick = async (sql) => {
    const { rows } = await explainer.query(sql);
    if (!rows.length) throw new Error(`the seeded data has no row for: ${sql}`);
    return rows[0];
  };
  const service = clientOf(
    await pick(
      `SELECT client_id, secret_sealed FROM clients WHERE grant_types = '{client_credentials}' AND token_endpoint_auth_method = 'client_secret_basic' LIMIT 1`,
    ),
  );
  const mobile = clientOf(
    await pick(
      `SELECT client_id, secret_sealed FROM clients WHERE grant_types = '{password,refresh_token}' AND token_endpoint_auth_method = 'client_secret_basic' LIMIT 1`,
    ),
  );
  const webRow = await pick(
    `SELECT c.client_id, c.secret_sealed, c.redirect_uris[1] AS redirect_uri, u.username FROM consents co
     JOIN clients c ON c.client_id = co.client_id JOIN users u ON u.id = co.user_id
     WHERE c.grant_types = '{authorization_code,refresh_token}' AND c.token_endpoint_auth_method = 'client_secret_basic' AND NOT c.first_party
       AND NOT u.disabled AND u.locked_until IS NULL AND co.scopes @> '{openid,profile,email}' LIMIT 1`,
  );
  const web = clientOf(webRow);
  const { username } = await pick(`SELECT username FROM users WHERE NOT disabled AND locked_until IS NULL AND username <> '${webRow.username}' LIMIT 1`);
  const password = seed.password;

  const form = async (path, client, fields) => {
    const response = await fetch(new URL(path, baseUrl), {
      method: 'POST',
      headers: { authorization: basicAuth(client.id, client.secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  };
  const expectStatus = (what, response, status) => {
    if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status} ${JSON.stringify(response.json)}`);
    return response.json;
  };
  const step = async (name, work) => {
    capture.step = name;
    try {
      await work();
    } finally {
      capture.step = null;
    }
    say(`${name}: done`);
  };

  try {
    await step('client_credentials (client lookup)', async () => {
      expectStatus('client_credentials', await form('/oauth/token', service, { grant_type: 'client_credentials' }), 200);
    });
    let first;
    await step('password grant (user by username, grant creation)', async () => {
      first = expectStatus(
        'password',
        await form('/oauth/token', mobile, { grant_type: 'password', username, password, scope: 'openid profile notes:read' }),
        200,
      );
    });
    let second;
    await step('refresh-token rotation', async () => {
      second = expectStatus('refresh', await form('/oauth/token', mobile, { grant_type: 'refresh_token', refresh_token: first.refresh_token }), 200);
    });
    await step('introspection of a refresh token', async () => {
      const answer = expectStatus(
        'introspect',
        await form('/oauth/introspect', mobile, { token: second.refresh_token, token_type_hint: 'refresh_token' }),
        200,
      );
      if (!answer.active) throw new Error('introspection: the refresh token should be active');
    });
    await step('introspection of an access token', async () => {
      expectStatus('introspect', await form('/oauth/introspect', mobile, { token: second.access_token }), 200);
    });
    await step('UserInfo', async () => {
      const response = await fetch(new URL('/oauth/userinfo', baseUrl), { headers: { authorization: `Bearer ${second.access_token}` } });
      if (response.status !== 200) throw new Error(`userinfo: ${response.status} ${await response.text()}`);
    });
    await step('refresh-token reuse (revokes the grant)', async () => {
      expectStatus('reuse', await form('/oauth/token', mobile, { grant_type: 'refresh_token', refresh_token: first.refresh_token }), 400);
    });
    await step('revocation of a refresh token', async () => {
      const third = expectStatus('password', await form('/oauth/token', mobile, { grant_type: 'password', username, password, scope: 'openid' }), 200);
      expectStatus('revoke', await form('/oauth/revoke', mobile, { token: third.refresh_token, token_type_hint: 'refresh_token' }), 200);
    });
    await step('revocation poll by seq', async () => {
      await app.get(DenyList).poll();
    });
    await step('revocation poll at start-up (from seq 0)', async () => {
      const denyList = app.get(DenyList);
      denyList.lastSeq = '0';
      await denyList.poll();
    });

    const redirectUri = webRow.redirect_uri;
    const scope = 'openid profile email';
    let cookie;
    await step('sign-in through the authorization endpoint (login page, rate limit, user by username, new session, code)', async () => {
      const jar = new CookieJar();
      const query = codeRequest({ client: web, redirectUri, scope, state: 'sign-in', challenge: pkce().challenge });
      await authorizeInBrowser(`${baseUrl}/oauth/authorize?${query}`, { redirectUri, username: webRow.username, password, jar });
      cookie = jar.header(['gatehouse_session']);
    });
    const verifier = randomBytes(32).toString('base64url');
    const authorize = async () => {
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: web.id,
        redirect_uri: redirectUri,
        state: 'explain',
        scope,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      });
      const response = await fetch(new URL(`/oauth/authorize?${query}`, baseUrl), { headers: { cookie }, redirect: 'manual' });
      const location = response.headers.get('location') ?? '';
      const code = location.startsWith(redirectUri) ? new URL(location).searchParams.get('code') : null;
      if (response.status !== 302 || !code)
        throw new Error(`authorize: expected a 302 with a code, got ${response.status} ${location} ${(await response.text()).slice(0, 200)}`);
      return code;
    };
    let code;
    await step('authorize (session lookup, remembered consent, code issue)', async () => {
      code = await authorize();
    });
    await step('authorize with a session idle for 2 minutes (session touch)', async () => {
      await explainer.query(
        `UPDATE sessions SET last_seen_at = now() - interval '2 minutes' WHERE user_id = (SELECT id FROM users WHERE username = $1) AND created_at >= $2`,
        [webRow.username, started],
      );
      code = await authorize();
    });
    await step('authorization code redemption (code lookup, consume, grant creation)', async () => {
      expectStatus(
        'code',
        await form('/oauth/token', web, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
        200,
      );
    });
    // Written in the background, a batch at a time (the timers are slowed down above so that these two do it).
    await step('rate-limit counters flush (background, per batch)', async () => {
      await app.get(SharedCounters).flush();
    });
    await step('audit log flush (background, per batch)', async () => {
      await app.get(AuditLog).flush();
    });
    const page = async (path) => {
      const response = await fetch(new URL(path, baseUrl), { headers: { cookie } });
      if (response.status !== 200) throw new Error(`${path}: ${response.status} ${(await response.text()).slice(0, 200)}`);
      return response.json();
    };
    let csrf;
    await step("account pages (the user's sessions, grants and consents)", async () => {
      csrf = (await page('/account/session')).csrf_token;
      await page('/account/sessions');
      await page('/account/grants');
      await page('/account/consents');
    });
    await step("logout (ends the session and the session's grants)", async () => {
      const response = await fetch(new URL('/logout', baseUrl), {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf_token: csrf }),
      });
      if (response.status !== 200) throw new Error(`logout: ${response.status} ${(await response.text()).slice(0, 200)}`);
    });

    // The cleanup job: one batch of each purge statement, and what its foreign keys make PostgreSQL run.
    const { rows: grantRows } = await explainer.query(`SELECT id FROM grants WHERE expires_at < now() - interval '1 day' LIMIT 1`);
    const someGrant = grantRows[0]?.id ?? (await pick(`SELECT id FROM grants LIMIT 1`)).id;
    const extra = [
      ...purgeStatements(config.maintenanceBatchSize).map(({ table, sql }) => ({ step: `cleanup job: one batch of ${table}`, sql, params: [] })),
      { step: 'foreign key: refresh-token insert checks its grant', sql: 'SELECT 1 FROM ONLY grants x WHERE id = $1 FOR KEY SHARE OF x', params: [someGrant] },
      {
        step: 'foreign key: purging a grant deletes its refresh tokens (ON DELETE CASCADE)',
        sql: 'DELETE FROM ONLY refresh_tokens WHERE grant_id = $1',
        params: [someGrant],
      },
    ];
    for (const item of extra) {
      captured.set(`${item.step} ${item.sql}`, {
        steps: new Set([item.step]),
        sql: item.sql,
        params: item.params,
        result: await explain(explainer, item.sql, item.params),
      });
      say(`${item.step}: done`);
    }
  } finally {
    pg.Client.prototype.query = original;
    await app.close();
    // The requests made grants for seeded clients and users; resetToSeed removes the rest.
    await explainer.query(`DELETE FROM grants WHERE client_id = ANY($1) AND created_at >= $2`, [[service.id, mobile.id, web.id], started]);
  }
  await explainer.end();
  say(`removed what the requests added: ${JSON.stringify(await resetToSeed(url, seed.seeded_at))}`);

  // --- report ---------------------------------------------------------------------------
  const entries = [...captured.values()];
  const failures = [];
  const lines = entries.map((entry, index) => {
    const found = entry.result?.plan ? scans(entry.result.plan) : [];
    const big = found.filter((scan) => scan.type === 'Seq Scan' && (tableRows[scan.relation] ?? 0) >= s['min-rows']);
    if (big.length || !entry.result?.plan) failures.push(index + 1);
    const access = found.map((scan) => `${scan.relation}: ${scan.type}${scan.index ? ` (${scan.index})` : ''}`).join('; ') || 'no table';
    const time = /Execution Time: ([\d.]+) ms/.exec(entry.result?.text ?? '')?.[1];
    return {
      number: index + 1,
      steps: [...entry.steps].join('; '),
      access,
      time: time ? `${time} ms` : entry.result?.analyzed === false ? 'not run' : '–',
      verdict: !entry.result?.plan
        ? 'NO PLAN'
        : big.length
          ? `SEQ SCAN of ${big.map((scan) => `${scan.relation} (~${tableRows[scan.relation]} rows)`).join(', ')}`
          : 'ok',
      entry,
    };
  });
  const table = [
    '| # | statement | hot path (step) | tables: access path (index) | execution | check |',
    '| ---: | --- | --- | --- | ---: | --- |',
    ...lines.map(
      (line) => `| ${line.number} | \`${brief(line.entry.sql).replace(/\|/g, '\\|')}\` | ${line.steps} | ${line.access} | ${line.time} | ${line.verdict} |`,
    ),
  ].join('\n');
  const biggest = Object.entries(tableRows)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([name, rows]) => `${name} ~${rows.toLocaleString('en-US')}`)
    .join(', ');
  const report = [
    `# EXPLAIN of the hot-path queries on ${s.database}`,
    '',
    `Taken ${started.toISOString()} by \`node bench/explain.mjs --database ${s.database}\` (seeded ${seed.seeded_at}; planner row estimates: ${biggest}).`,
    `A sequential scan of a table of ${s['min-rows'].toLocaleString('en-US')} rows or more fails the check.`,
    '',
    table,
    '',
    ...lines.flatMap((line) => [
      `## ${line.number}. ${line.steps}`,
      '',
      '```sql',
      line.entry.sql,
      '```',
      line.entry.params.length
        ? `Parameters: ${JSON.stringify(line.entry.params.map((value) => (typeof value === 'string' && value.length > 60 ? `${value.slice(0, 57)}...` : value)))}`
        : '',
      '',
      '```',
      line.entry.result?.text || `(no plan: ${line.entry.result?.error})`,
      '```',
      line.entry.result?.error ? `Note: ${line.entry.result.analyzed ? '' : 'not run (plan only): '}${line.entry.result.error}` : '',
      '',
    ]),
  ].join('\n');
  const out = s.out ?? join(resultsDir, `explain-${s.database}.md`);
  writeFileSync(out, report);
  console.log(table);
  say(`${entries.length} statements explained; every plan in ${out}`);
  if (failures.length) {
    say(`plans that scan a big table sequentially (or have no plan): ${failures.join(', ')}`);
    if (!s['allow-seq-scans']) process.exitCode = 1;
  }
}

main()
  .catch((error) => {
    say(`failed: ${error.stack ?? error.message}`);
    process.exitCode = 1;
  })
  // The in-process server may leave a notification listener behind.
  .finally(() => process.exit());
