// Cost as data grows: `npm run bench:data-growth` (builds first) or `node bench/data-growth.mjs`
// after `npm run build`.
//
// Runs the benchmark (bench/run.mjs, Gatehouse only, every scenario it has) on an empty database
// and on the seeded one (bench:seed), in turn, several rounds, in the order A B B A A B … so that
// a drift of the machine over time weighs on both alike. Then prints, per scenario, the median of
// each side, the difference, and whether the seeded figure stays within the target (10%) of the
// empty one. The empty database is the benchmark's own throwaway one; the seeded one is reset to
// its seed before each pass (what earlier passes added is deleted), and the cleanup job is paused
// during its passes (this holds its advisory lock: every instance skips its rounds), so that the
// seed keeps its expired rows and no purge runs in the figures.
//
// --compare purge measures the cleanup job instead: the seeded data against itself while the job
// purges a backlog round after round (purge.mjs), on a copy of the seeded database that is dropped
// afterwards.
//
// The benchmark's own settings (BENCH_DURATION, BENCH_SCENARIOS, BENCH_CONNECTIONS, …; see
// bench/README.md) apply to every pass; BENCH_ROUNDS defaults to 1 here (each pass is one round). Output: the passes' JSON lines and a markdown table on
// stdout, progress on stderr, everything in bench/results/data-growth.json and .md.
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { markdownTable } from './lib.mjs';
import { copyDatabase, purger } from './purge.mjs';
import { here, holdCleanupLock, log as tagged, openSeeded, resetToSeed, resultsDir, root, SEEDED_DATABASE_SETTINGS, settings } from './seeded-db.mjs';

const say = (...parts) => tagged('data-growth', ...parts);
const require = createRequire(import.meta.url);

const SPEC = {
  ...SEEDED_DATABASE_SETTINGS,
  rounds: { env: 'DATA_GROWTH_ROUNDS', type: 'int', min: 1, fallback: 3, help: 'rounds; each runs the benchmark once on either side' },
  compare: {
    env: 'DATA_GROWTH_COMPARE',
    fallback: 'empty',
    help: "'empty': empty database against the seeded one; 'purge': seeded against seeded while the cleanup job purges",
  },
  target: { env: 'DATA_GROWTH_TARGET', type: 'int', min: 0, fallback: 10, help: 'percent of its figure a scenario may lose on the second side' },
};

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const round1 = (value) => Math.round(value * 10) / 10;
/** The throughput of a benchmark row: round trips per second for a chained scenario, else requests per second. */
const throughput = (row) => row.round_trips_per_sec ?? row.requests_per_sec;

/** One benchmark run (node bench/run.mjs); resolves with its JSON rows. */
function runBenchmark(extraEnv) {
  // One measurement per pass unless BENCH_ROUNDS says otherwise: the passes are the rounds (A B B A …).
  const env = { BENCH_ROUNDS: '1', ...process.env, BENCH_SERVERS: 'gatehouse', ...extraEnv };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'run.mjs')], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const interrupt = () => child.kill('SIGINT');
    process.once('SIGINT', interrupt);
    child.on('error', reject);
    child.on('close', (code) => {
      process.off('SIGINT', interrupt);
      const rows = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line))
        .filter((row) => row.scenario && row.server === 'gatehouse');
      if (code !== 0) return reject(new Error(`bench/run.mjs exited with ${code}`));
      if (!rows.length) return reject(new Error('bench/run.mjs printed no results'));
      resolve(rows);
    });
  });
}

async function main() {
  const s = settings(SPEC, { usage: 'Usage: node bench/data-growth.mjs [--database gh_seeded] [--rounds 3] [--compare empty|purge] [--target 10]' });
  if (!['empty', 'purge'].includes(s.compare)) throw new Error(`--compare must be empty or purge, got "${s.compare}"`);
  const { adminUrl, url, seed, key } = await openSeeded(s);
  const ageHours = (Date.now() - new Date(seed.seeded_at).getTime()) / 3_600_000;
  say(`seeded database ${s.database}: ${JSON.stringify(seed.rows)}, seeded ${ageHours.toFixed(1)} h ago`);
  if (ageHours > 12) say('note: its browser sessions have all expired by now (SESSION_TTL 12 h); bench:seed --replace seeds it afresh');
  const { CLEANUP_LOCK_ID } = require(join(root, 'dist/tokens/expired-token-cleanup.js'));

  const copy = s.compare === 'purge' ? await copyDatabase(adminUrl, s.database, 'growth') : null;
  const seededUrl = copy?.url ?? url;
  const sides =
    s.compare === 'empty'
      ? [
          { name: 'empty', env: { BENCH_GATEHOUSE_DATABASE_URL: undefined, BENCH_KEY_ENCRYPTION_KEY: undefined } },
          { name: 'seeded', seeded: true, env: { BENCH_GATEHOUSE_DATABASE_URL: seededUrl, BENCH_KEY_ENCRYPTION_KEY: key } },
        ]
      : [
          { name: 'seeded', seeded: true, env: { BENCH_GATEHOUSE_DATABASE_URL: seededUrl, BENCH_KEY_ENCRYPTION_KEY: key } },
          { name: 'seeded, purging', seeded: true, purging: true, env: { BENCH_GATEHOUSE_DATABASE_URL: seededUrl, BENCH_KEY_ENCRYPTION_KEY: key } },
        ];

  const passes = [];
  const purges = [];
  let pass = 0;
  try {
    for (let round = 0; round < s.rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        pass++;
        say(`pass ${pass} (round ${round + 1} of ${s.rounds}): ${side.name}`);
        let release = async () => undefined;
        let purge = null;
        if (side.seeded) {
          const removed = await resetToSeed(seededUrl, seed.seeded_at);
          if (Object.keys(removed).length) say(`reset to the seed, removed ${JSON.stringify(removed)}`);
          if (side.purging) {
            purge = await purger(seededUrl, key);
          } else {
            const lock = await holdCleanupLock(seededUrl, CLEANUP_LOCK_ID);
            release = lock.release;
          }
        }
        let rows;
        let purged = null;
        try {
          rows = await runBenchmark(side.env);
        } finally {
          await release();
          if (purge) {
            purged = { pass, ...(await purge.stop()) };
            purges.push(purged);
            say(`the cleanup job purged ${purged.rows} rows in ${purged.seconds} s (${purged.rows_per_second} rows/s) during pass ${pass}`);
          }
        }
        for (const row of rows) {
          const line = { pass, round: round + 1, side: side.name, ...row, ...(purged ? { purged_rows_per_sec: purged.rows_per_second } : {}) };
          passes.push(line);
          console.log(JSON.stringify(line));
        }
      }
    }
  } finally {
    // Leave the seed as it was seeded.
    if (copy) await copy.drop();
    else await resetToSeed(seededUrl, seed.seeded_at);
  }

  const [first, second] = sides.map((side) => side.name);
  const scenarios = [...new Set(passes.map((row) => row.scenario))];
  const summary = scenarios.map((scenario) => {
    const of = (side) => passes.filter((row) => row.scenario === scenario && row.side === side);
    const [a, b] = [of(first), of(second)];
    const [rateA, rateB] = [median(a.map(throughput)), median(b.map(throughput))];
    const [p99A, p99B] = [median(a.map((row) => row.p99_ms)), median(b.map((row) => row.p99_ms))];
    const spread = (rows) =>
      rows.length > 1 ? `${Math.round(((Math.max(...rows.map(throughput)) - Math.min(...rows.map(throughput))) / median(rows.map(throughput))) * 100)}%` : '–';
    const change = ((rateB - rateA) / rateA) * 100;
    return {
      scenario,
      unit: a[0]?.round_trips_per_sec != null ? 'round trips/s' : 'req/s',
      [first]: round1(rateA),
      [second]: round1(rateB),
      change_percent: round1(change),
      [`${first} p99 ms`]: round1(p99A),
      [`${second} p99 ms`]: round1(p99B),
      runs: `${a.map((row) => Math.round(throughput(row))).join(', ')} / ${b.map((row) => Math.round(throughput(row))).join(', ')}`,
      spread: `${spread(a)} / ${spread(b)}`,
      within_target: change >= -s.target,
    };
  });
  const table = markdownTable(
    summary.map((row) => ({ ...row, change: `${row.change_percent > 0 ? '+' : ''}${row.change_percent}%`, within: row.within_target ? 'yes' : 'NO' })),
    [
      { key: 'scenario', title: 'scenario' },
      { key: 'unit', title: 'unit' },
      { key: first, title: `${first} (median)`, align: 'right' },
      { key: second, title: `${second} (median)`, align: 'right' },
      { key: 'change', title: 'change', align: 'right' },
      { key: `${first} p99 ms`, title: `${first} p99 ms`, align: 'right' },
      { key: `${second} p99 ms`, title: `${second} p99 ms`, align: 'right' },
      { key: 'runs', title: `each run (${first} / ${second})` },
      { key: 'spread', title: 'spread', align: 'right' },
      { key: 'within', title: `within ${s.target}%`, align: 'right' },
    ],
  );

  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    if (execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).toString().trim()) commit += ' (with uncommitted changes)';
  } catch {
    // not a git checkout
  }
  const command = `node bench/data-growth.mjs --compare ${s.compare} --rounds ${s.rounds}`;
  const benchSettings = Object.fromEntries(Object.entries(process.env).filter(([name]) => /^BENCH_/.test(name) && !/KEY|DATABASE_URL/.test(name)));
  const header = [
    `${first} vs ${second}, ${s.rounds} rounds (${pass} benchmark runs), at commit ${commit}, ${new Date().toISOString()}.`,
    `Command: \`${Object.entries(benchSettings)
      .map(([name, value]) => `${name}=${value} `)
      .join('')}${command}\`; seeded database ${s.database}: ${JSON.stringify(seed.rows)}.`,
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, load average ${os
      .loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')} at the end.`,
    ...(purges.length ? [`Cleanup job while purging: ${purges.map((p) => `${p.rows} rows in ${p.seconds} s (${p.rows_per_second} rows/s)`).join('; ')}.`] : []),
  ].join('\n');
  console.log(`\n${header}\n\n${table}`);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'data-growth.md'), `${header}\n\n${table}\n`);
  writeFileSync(
    join(resultsDir, 'data-growth.json'),
    JSON.stringify({ generated_at: new Date().toISOString(), commit, command, settings: s, bench: benchSettings, seed, summary, passes, purges }, null, 2) +
      '\n',
  );
  const missed = summary.filter((row) => !row.within_target);
  if (missed.length)
    say(`more than ${s.target}% lower on the ${second} side: ${missed.map((row) => row.scenario).join(', ')} (a noisy machine can do that: see the spread)`);
}

main().catch((error) => {
  say(`failed: ${error.stack ?? error.message}`);
  process.exitCode = 1;
});
