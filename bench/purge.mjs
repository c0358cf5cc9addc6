// The expired-row cleanup job's rate on seeded data: `npm run bench:purge` (builds first) or
// `node bench/purge.mjs` after `npm run build`.
//
// Runs Gatehouse's own cleanup job (ExpiredTokenCleanup from dist/, with the settings
// MAINTENANCE_BATCH_SIZE, MAINTENANCE_MAX_BATCHES and MAINTENANCE_BATCH_PAUSE_MS from the
// environment) round after round, back to back as a backlog makes it run, and reports the rows
// purged per table and per second. By default on a copy of the seeded database (CREATE
// DATABASE … TEMPLATE), dropped afterwards, so that the seed keeps its expired rows.
// data-growth.mjs --compare purge uses purger() to purge while the benchmark runs.
//
// Settings: `node bench/purge.mjs --help`.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { databaseUrl, formatNumber, log as tagged, openSeeded, root, SEEDED_DATABASE_SETTINGS, settings, withClient } from './seeded-db.mjs';

const say = (...parts) => tagged('purge', ...parts);
const require = createRequire(import.meta.url);

const SPEC = {
  ...SEEDED_DATABASE_SETTINGS,
  copy: { env: 'PURGE_COPY', type: 'bool', fallback: true, help: 'purge a copy of the database (dropped afterwards), not the database itself' },
  seconds: { env: 'PURGE_SECONDS', type: 'int', min: 1, fallback: 300, help: 'stop after this long, or earlier when a round finds nothing to purge' },
};

/** A copy of seeded database `name` (no connection to it may be open meanwhile); returns its name and a dropper. */
export async function copyDatabase(adminUrl, name, purpose) {
  const copy = `${name.slice(0, 40)}_${purpose}_${Date.now()}`;
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await withClient(adminUrl, (client) => client.query(`CREATE DATABASE "${copy}" TEMPLATE "${name}" STRATEGY FILE_COPY`));
      break;
    } catch (error) {
      // 55006: a connection to the template is still closing (PostgreSQL waits only 5 s for it).
      if (error.code !== '55006' || attempt === 6) throw error;
      say(`${name} is still in use, trying again in 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }
  say(`copied ${name} to ${copy} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return {
    name: copy,
    url: databaseUrl(adminUrl, copy),
    drop: async () => {
      await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${copy}" WITH (FORCE)`));
      say(`dropped ${copy}`);
    },
  };
}

/** Rows per table still expired on `url` (what the cleanup job would purge). */
export async function backlog(url) {
  const { purgeStatements } = require(join(root, 'dist/tokens/expired-token-cleanup.js'));
  const conditions = {};
  for (const { table, where } of purgeStatements(1)) conditions[table] = [...(conditions[table] ?? []), `(${where})`];
  return withClient(url, async (client) => {
    const counts = {};
    for (const [table, wheres] of Object.entries(conditions)) {
      const { rows } = await client.query(`SELECT count(*)::bigint AS n FROM ${table} WHERE ${wheres.join(' OR ')}`);
      counts[table] = Number(rows[0].n);
    }
    return counts;
  });
}

/**
 * Starts Gatehouse's cleanup job on `url` (an application context from dist/, no HTTP) and runs
 * its rounds back to back until stop(), which resolves with what was purged.
 */
export async function purger(url, key, { onRound = () => {} } = {}) {
  const { createApp } = require(join(root, 'dist/app.factory.js'));
  const { loadConfig } = require(join(root, 'dist/config/configuration.js'));
  const { ExpiredTokenCleanup } = require(join(root, 'dist/tokens/expired-token-cleanup.js'));
  const env = { NODE_ENV: 'production', DATABASE_URL: url, KEY_ENCRYPTION_KEY: key, LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '2', MAINTENANCE_INTERVAL: '1d' };
  for (const name of ['MAINTENANCE_BATCH_SIZE', 'MAINTENANCE_MAX_BATCHES', 'MAINTENANCE_BATCH_PAUSE_MS']) if (process.env[name]) env[name] = process.env[name];
  const config = loadConfig(env);
  const app = await createApp(config);
  await app.init();
  const cleanup = app.get(ExpiredTokenCleanup);
  const totals = {};
  const rounds = [];
  let stopping = false;
  const started = performance.now();
  const loop = (async () => {
    while (!stopping) {
      const roundStarted = performance.now();
      const deleted = await cleanup.run();
      const round = { seconds: (performance.now() - roundStarted) / 1000, deleted };
      rounds.push(round);
      for (const [table, count] of Object.entries(deleted)) totals[table] = (totals[table] ?? 0) + count;
      onRound(round);
      if (Object.values(deleted).every((count) => count === 0)) break;
    }
  })();
  const summary = () => {
    const seconds = (performance.now() - started) / 1000;
    const rows = Object.values(totals).reduce((sum, count) => sum + count, 0);
    return {
      settings: { batch_size: config.maintenanceBatchSize, max_batches: config.maintenanceMaxBatches, batch_pause_ms: config.maintenanceBatchPauseMs },
      rounds: rounds.length,
      seconds: Math.round(seconds * 10) / 10,
      rows,
      rows_per_second: Math.round(rows / Math.max(seconds, 0.001)),
      per_table: totals,
      round_seconds: rounds.map((round) => Math.round(round.seconds * 10) / 10),
    };
  };
  return {
    /** Resolves when a round found nothing left to purge. */
    finished: loop,
    async stop() {
      stopping = true;
      await loop;
      const result = summary();
      await app.close();
      return result;
    },
  };
}

async function main() {
  const s = settings(SPEC, { usage: 'Usage: node bench/purge.mjs [--database gh_seeded] [--copy true] [--seconds 300]' });
  const { adminUrl, url: seededUrl, key } = await openSeeded(s);
  const copy = s.copy ? await copyDatabase(adminUrl, s.database, 'purge') : null;
  const stopOnSignal = () => copy?.drop().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const url = copy?.url ?? seededUrl;
    const before = await backlog(url);
    say(`expired rows waiting: ${JSON.stringify(before)}`);
    const job = await purger(url, key, {
      onRound: (round) => {
        const rows = Object.values(round.deleted).reduce((sum, count) => sum + count, 0);
        say(
          `round: ${formatNumber(rows)} rows in ${round.seconds.toFixed(1)} s (${formatNumber(rows / round.seconds)} rows/s) ${JSON.stringify(round.deleted)}`,
        );
      },
    });
    await Promise.race([job.finished, new Promise((resolve) => setTimeout(resolve, s.seconds * 1000).unref())]);
    const result = await job.stop();
    result.backlog_before = before;
    result.backlog_after = await backlog(url);
    say(`${formatNumber(result.rows)} rows in ${result.seconds} s: ${formatNumber(result.rows_per_second)} rows/s over ${result.rounds} rounds`);
    console.log(JSON.stringify({ database: s.database, copy: Boolean(copy), ...result }));
  } finally {
    await copy?.drop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main()
    .catch((error) => {
      say(`failed: ${error.stack ?? error.message}`);
      process.exitCode = 1;
    })
    // The application context may leave a notification listener behind.
    .finally(() => process.exit());
}
