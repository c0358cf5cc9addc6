// Report of a benchmark run: the markdown table with ratios, the issue's targets evaluated,
// the 1 -> 2 worker scaling, an SVG chart, and docs/benchmarks.md.
//
// run.mjs uses it at the end of a run. On its own, `node bench/report.mjs [latest.json]`
// (default bench/results/latest.json) regenerates docs/benchmarks.md and docs/benchmarks.svg
// from a finished run without measuring again.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { markdownTable } from './lib.mjs';
import { profileMarkdown } from './profile.mjs';

export const GATEHOUSE = 'gatehouse';
export const SCALED = 'gatehouse-2w';

/** The figure a row is compared by: round trips/s for chains, else requests/s. */
export const throughput = (row) => row?.round_trips_per_sec ?? row?.requests_per_sec ?? null;

const find = (rows, scenario, server) => rows.find((row) => row.scenario === scenario && row.server === server);
const ratio = (a, b) => (throughput(a) && throughput(b) ? Math.round((throughput(a) / throughput(b)) * 100) / 100 : null);

/** Gatehouse ÷ this server, for peers (not for Gatehouse itself or its multi-worker variant). */
export function gatehouseRatio(rows, row) {
  if (row.server === GATEHOUSE || row.server === SCALED) return null;
  return ratio(find(rows, row.scenario, GATEHOUSE), row);
}

/** A right-aligned column of a markdown table. */
const right = (key, title) => ({ key, title, align: 'right' });

const fmt = {
  rate: (value) => (value === null || value === undefined ? null : Math.round(value).toLocaleString('en-US')),
  ms: (value) => (value === null || value === undefined ? null : value.toFixed(2)),
  x: (value) => (value === null || value === undefined ? null : `${value.toFixed(2)}×`),
};

/** The results table (median rounds), one row per scenario and server. */
export function resultsTable(rows) {
  const view = rows.map((row) => ({
    ...row,
    requests_per_sec: fmt.rate(row.requests_per_sec),
    round_trips_per_sec: fmt.rate(row.round_trips_per_sec),
    p50_ms: fmt.ms(row.p50_ms),
    p99_ms: fmt.ms(row.p99_ms),
    spread: row.spread_percent === null || row.spread_percent === undefined ? null : `±${row.spread_percent}%`,
    ratio: fmt.x(row.gatehouse_ratio),
  }));
  return markdownTable(view, [
    { key: 'scenario', title: 'scenario' },
    { key: 'server', title: 'server' },
    right('requests_per_sec', 'req/s'),
    right('round_trips_per_sec', 'round trips/s'),
    right('p50_ms', 'p50 ms'),
    right('p99_ms', 'p99 ms'),
    right('errors', 'errors'),
    right('non2xx', 'non-2xx'),
    right('unexpected', 'unexpected'),
    right('peak_rss_mb', 'peak RSS MB'),
    right('spread', 'spread'),
    right('ratio', 'Gatehouse ÷ this'),
  ]);
}

const RATIO_TARGETS = [
  { scenario: 'client_credentials', over: ['client_credentials', 'oidc-provider'], min: 2.5, text: 'client_credentials ≥ 2.5× oidc-provider' },
  { scenario: 'resource_api', over: ['bare_route', GATEHOUSE], min: 0.6, text: "resource API ≥ 0.6× Gatehouse's bare NestJS route (same process)" },
  { scenario: 'resource_api', over: ['resource_api', 'jose-resource-server'], min: 2.5, text: 'resource API ≥ 2.5× the jose resource server' },
  { scenario: 'introspection', over: ['introspection', 'oidc-provider'], min: 2, text: 'introspection ≥ 2× oidc-provider' },
  { scenario: 'refresh_chain', over: ['refresh_chain', 'ts-oauth2-server'], min: 2, text: 'refresh chain ≥ 2× ts-oauth2-server' },
];

/** The issue's targets, each { target, scenarios, measured, result: 'met' | 'missed' | 'not measured' }. */
export function evaluateTargets(rows, settings) {
  const targets = RATIO_TARGETS.map(({ scenario, over, min, text }) => {
    const ours = find(rows, scenario, GATEHOUSE);
    const theirs = find(rows, ...over);
    if (!throughput(ours) || !throughput(theirs)) return { target: text, scenarios: [scenario], measured: 'not measured', result: 'not measured' };
    const value = throughput(ours) / throughput(theirs); // compared unrounded
    const measured = `${value.toFixed(2)}× (${fmt.rate(throughput(ours))} vs ${fmt.rate(throughput(theirs))}/s)`;
    return { target: text, scenarios: [scenario], measured, result: value >= min ? 'met' : 'missed' };
  });

  const ours = rows.filter((row) => row.server === GATEHOUSE && row.p99_ms !== null);
  if (!ours.length)
    targets.push({ target: 'p99 < 20 ms at 16 connections in every scenario', scenarios: [], measured: 'not measured', result: 'not measured' });
  else if (settings.connections !== 16)
    targets.push({
      target: 'p99 < 20 ms at 16 connections in every scenario',
      scenarios: [],
      measured: `run at ${settings.connections} connections`,
      result: 'not measured',
    });
  else {
    const slow = ours.filter((row) => row.p99_ms >= 20);
    const worst = ours.reduce((a, b) => (b.p99_ms > a.p99_ms ? b : a));
    targets.push({
      target: 'p99 < 20 ms at 16 connections in every scenario',
      scenarios: slow.map((row) => row.scenario),
      measured: slow.length
        ? `${slow.map((row) => `${row.scenario} ${fmt.ms(row.p99_ms)} ms`).join(', ')}`
        : `worst ${worst.scenario} ${fmt.ms(worst.p99_ms)} ms`,
      result: slow.length ? 'missed' : 'met',
    });
  }

  const pairs = rows
    .filter((row) => row.server === GATEHOUSE)
    .map((row) => [row, find(rows, row.scenario, 'oidc-provider')])
    .filter(([a, b]) => b && a.peak_rss_mb !== null && b.peak_rss_mb !== null);
  if (!pairs.length)
    targets.push({ target: "Gatehouse peak RSS ≤ oidc-provider's under the same load", scenarios: [], measured: 'not measured', result: 'not measured' });
  else {
    const over = pairs.filter(([a, b]) => a.peak_rss_mb > b.peak_rss_mb);
    const worst = pairs.reduce((a, b) => (b[0].peak_rss_mb - b[1].peak_rss_mb > a[0].peak_rss_mb - a[1].peak_rss_mb ? b : a));
    targets.push({
      target: "Gatehouse peak RSS ≤ oidc-provider's under the same load (every scenario both run)",
      scenarios: over.map(([a]) => a.scenario),
      measured: `${over.length ? 'above in' : 'closest:'} ${(over.length ? over : [worst]).map(([a, b]) => `${a.scenario} ${a.peak_rss_mb} vs ${b.peak_rss_mb} MB`).join(', ')}`,
      result: over.length ? 'missed' : 'met',
    });
  }
  return targets;
}

export const targetsTable = (targets) =>
  markdownTable(targets, [
    { key: 'target', title: 'target' },
    { key: 'measured', title: 'measured (Gatehouse vs the other)' },
    { key: 'result', title: 'result' },
  ]);

/** 1 -> 2 workers, for the scenarios the multi-worker variant ran. */
export function scaling(rows) {
  return rows
    .filter((row) => row.server === SCALED)
    .map((row) => {
      const single = find(rows, row.scenario, GATEHOUSE);
      return {
        scenario: row.scenario,
        one: throughput(single),
        two: throughput(row),
        factor: ratio(row, single),
        rss_one: single?.peak_rss_mb ?? null,
        rss_two: row.peak_rss_mb,
      };
    });
}

export const scalingTable = (entries) =>
  markdownTable(
    entries.map((entry) => ({ ...entry, one: fmt.rate(entry.one), two: fmt.rate(entry.two), factor: fmt.x(entry.factor) })),
    [
      { key: 'scenario', title: 'scenario' },
      right('one', '1 worker req/s'),
      right('two', '2 workers req/s'),
      right('factor', '2 ÷ 1'),
      right('rss_one', 'peak RSS MB, 1'),
      right('rss_two', 'peak RSS MB, 2 (sum)'),
    ],
  );

const COLORS = {
  gatehouse: '#2563eb',
  'gatehouse-2w': '#1e3a8a',
  'oidc-provider': '#d97706',
  'jose-resource-server': '#059669',
  'ts-oauth2-server': '#7c3aed',
  fastify: '#6b7280',
};
const xml = (value) => String(value).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/**
 * A horizontal bar chart as SVG: one group per scenario, one bar per server (req/s, or round
 * trips/s for chains), each group scaled to its own longest bar; peers carry Gatehouse's ratio.
 */
export function chartSvg(rows, { title }) {
  const width = 900;
  const labelWidth = 190;
  const barWidth = 470;
  const barHeight = 16;
  const rowHeight = 22;
  const parts = [];
  let y = 48;
  const scenarios = [...new Set(rows.map((row) => row.scenario))];
  for (const scenario of scenarios) {
    const group = rows.filter((row) => row.scenario === scenario && throughput(row));
    if (!group.length) continue;
    const max = Math.max(...group.map(throughput));
    const unit = group.some((row) => row.round_trips_per_sec !== null && row.round_trips_per_sec !== undefined) ? 'round trips/s' : 'req/s';
    parts.push(`<text x="10" y="${y + 12}" class="scenario">${xml(scenario)} (${unit})</text>`);
    y += 20;
    for (const row of group) {
      const length = Math.max(1, Math.round((throughput(row) / max) * barWidth));
      const color = COLORS[row.server] ?? '#9ca3af';
      const single =
        row.server === SCALED
          ? ratio(
              row,
              group.find((other) => other.server === GATEHOUSE),
            )
          : null;
      const note = row.gatehouse_ratio ? ` · Gatehouse ÷ this ${fmt.x(row.gatehouse_ratio)}` : single ? ` · ${fmt.x(single)} of 1 worker` : '';
      const label = `${fmt.rate(throughput(row))}${note}`;
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 12}" class="server" text-anchor="end">${xml(row.server)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${length}" height="${barHeight}" fill="${color}" rx="2"/>`,
        `<text x="${labelWidth + length + 6}" y="${y + 12}" class="value">${xml(label)}</text>`,
      );
      y += rowHeight;
    }
    y += 12;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    '<style>.title{font-size:15px;font-weight:600}.scenario{font-size:13px;font-weight:600}.server{font-size:12px}.value{font-size:11px;fill:#374151}.note{font-size:11px;fill:#6b7280}</style>',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="20" class="title">${xml(title)}</text>`,
    '<text x="10" y="36" class="note">Median round per server; each scenario is scaled to its own fastest server.</text>',
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

const DESCRIPTIONS = `- **Gatehouse** (\`gatehouse\`): as \`npm start\` runs it (\`node\` with the flags of package.json's start script, \`dist/main.js\`), \`NODE_ENV=production\`, \`LOG_LEVEL=warn\`, on a fresh
  PostgreSQL database (or \`BENCH_GATEHOUSE_DATABASE_URL\`), clients and a user created with the CLI.
  Access tokens are ES256 JWTs (RFC 9068). Introspection checks its JWT as the sample API does
  (signature, claims, expiry, deny list; no database).
  The refresh chain writes every rotation to PostgreSQL. \`gatehouse-2w\` is the same with \`WORKERS=2\`.
- **oidc-provider** 9 (panva), default in-memory adapter (an LRU of 1,000 entries, development storage:
  a production adapter such as Redis would add a network round trip): a confidential client with
  \`client_secret_basic\` and \`client_credentials\`; ES256 JWT access tokens for the API resource
  (resource indicators, \`getResourceServerInfo\` with \`accessTokenFormat: 'jwt'\`); introspection of
  **opaque** access tokens (a second client's tokens; JWT access tokens are not introspectable there);
  PKCE required; login and consent through its interactions, consent remembered in the session's
  grant; \`offline_access\` refresh tokens, rotated on every use.
- **jose resource server** (\`jose-resource-server\`): \`GET /api/me\` verifies oidc-provider's ES256
  JWTs with \`jose\`'s \`jwtVerify\` against its JWKS loaded once (signature, \`typ\`, issuer, audience,
  expiry), on every request.
- **ts-oauth2-server** 4 (\`@jmondi/oauth2-server\`) on Fastify with in-memory repositories, signing
  with its own JwtService (HS256, given a secret string as its README shows); first refresh tokens
  from the password grant, rotated on every use.
- **Fastify**: a bare route returning \`{"status":"ok"}\`, the ceiling of the machine.
- Gatehouse's own bare NestJS route is \`GET /health/live\` (no guard, no database) in the Gatehouse
  process (\`bare_route\` on \`gatehouse\`).`;

/** The whole docs/benchmarks.md of a run (`latest`: the content of latest.json). */
export function docsMarkdown(latest, { chart }) {
  const { settings, machine, commit } = latest;
  const unavailable = Object.entries(latest.unavailable ?? {});
  const missed = (latest.targets ?? []).filter((target) => target.result === 'missed');
  const profiles = latest.profiles ?? {};
  const profiled = Object.keys(profiles);
  const missedScenarios = new Set(missed.flatMap((target) => target.scenarios));
  const orderedProfiles = [...profiled.filter((name) => missedScenarios.has(name)), ...profiled.filter((name) => !missedScenarios.has(name))];
  // The benchmark itself keeps about as many processes runnable as there are cores (a pinned server, the
  // load generator, PostgreSQL), and a load average trails by a minute: more than one beyond that is other work.
  const busy = Math.max(machine.loadavg_start?.[0] ?? 0, machine.loadavg_end?.[0] ?? 0) > machine.cores + 1;
  const loads =
    machine.loadavg_start && machine.loadavg_end ? `${machine.loadavg_start.join(' / ')} before, ${machine.loadavg_end.join(' / ')} after` : 'unknown';
  return [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/report.mjs from a benchmark run: regenerate with `npm run bench`, do not edit. -->',
    '',
    `The latest full run of the peer benchmark suite (\`bench/\`, see [bench/README.md](../bench/README.md)).`,
    'Figures are per core: each server is pinned to one CPU and the load generator to the other, unless',
    'said otherwise. Ratios are Gatehouse ÷ the other server. For the figures on a seeded database',
    '(millions of users, clients and tokens), see [benchmarks-data-growth.md](benchmarks-data-growth.md).',
    '',
    '## This run',
    '',
    '| | |',
    '| --- | --- |',
    `| command | \`${latest.command}\` |`,
    `| commit | \`${commit?.sha ?? 'unknown'}\`${commit?.dirty ? ' (with uncommitted changes)' : ''} |`,
    `| date | ${latest.generated_at} (took ${Math.round((latest.duration_s ?? 0) / 60)} min) |`,
    `| machine | ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gb} GB; ${machine.platform}; Node.js ${machine.node} |`,
    `| load average (1/5/15 min) | ${loads} |`,
    `| settings | ${settings.duration_s} s measured after ${settings.warmup_s} s warm-up, ${settings.rounds} rounds (median shown), ${settings.connections} connections, ${settings.tokens} distinct tokens; server on CPU ${settings.server_cpus ?? 'unpinned'}, load generator on CPU ${settings.load_cpus ?? 'unpinned'}, multi-worker variant on CPUs ${settings.scale_cpus ?? 'unpinned'}${settings.profile ? '; CPU profiling on (BENCH_PROFILE=1: Gatehouse runs slower)' : ''} |`,
    ...(unavailable.length ? [`| not run | ${unavailable.map(([name, why]) => `${name}: ${why}`).join('; ')} |`] : []),
    '',
    ...(busy
      ? [
          `**The machine was busy during this run** (1-minute load average above ${machine.cores + 1}, its ${machine.cores} cores and one more: other work competing with the pinned`,
          'servers): the figures are noisy and only show that the suite works; take them again on a quiet machine.',
          '',
        ]
      : []),
    '## Results',
    '',
    resultsTable(latest.results),
    '',
    '`spread` is half the range of the rounds around the median; errors, non-2xx and unexpected answers are summed over all rounds.',
    '',
    `![req/s per scenario and server](${chart})`,
    '',
    '## Targets',
    '',
    targetsTable(latest.targets ?? []),
    '',
    '## Scaling from 1 to 2 workers',
    '',
    latest.scaling?.length ? scalingTable(latest.scaling) : 'Not measured in this run (`gatehouse-2w` did not run).',
    '',
    `The 2-worker variant (\`WORKERS=2\`) runs on CPUs ${settings.scale_cpus ?? '(unpinned)'}; the load generator stays on CPU ${settings.load_cpus ?? '(unpinned)'}.`,
    'On a 2-core machine the second worker therefore shares a core with the load generator (and both with PostgreSQL):',
    'the factor is what a second worker adds when the clients compete for the same cores, a lower bound of what it adds',
    'on a machine with cores to spare. The 1-worker figure is the pinned `gatehouse` row. Peak RSS of the variant is the',
    'sum over the primary and its workers.',
    '',
    '## What each side does',
    '',
    DESCRIPTIONS,
    '',
    'Scenarios: `client_credentials` issues a token per request; `resource_api` calls the sample API with',
    `${settings.tokens} distinct tokens in turn; \`introspection\` introspects ${settings.tokens} distinct tokens in turn;`,
    '`refresh_chain` redeems, on each connection, the refresh token of the previous answer; `authorization_code`',
    'is the full round trip of a signed-in browser (authorize with the session cookie and PKCE S256, then the',
    'token request); `jwks`, `discovery` (`/.well-known/openid-configuration`), `metadata` (RFC 8414) and',
    '`bare_route` are single GETs. Every response is checked; see bench/README.md for the details.',
    '',
    '## CPU profiles',
    '',
    orderedProfiles.length
      ? [
          `Gatehouse ran under \`node --cpu-prof\` (BENCH_PROFILE=1); time within the measured windows of each scenario${missed.length ? ', scenarios of missed targets first' : ''}.`,
          '',
          ...orderedProfiles.map((name) => `${profileMarkdown(name, GATEHOUSE, profiles[name])}\n`),
        ].join('\n')
      : missed.length
        ? `Targets were missed; run with \`BENCH_PROFILE=1\` to see where the time goes (not done in this run; [benchmarks-profiles.md](benchmarks-profiles.md) has profiles of the missed scenarios, taken separately).`
        : 'Not profiled in this run (`BENCH_PROFILE=1` adds them).',
    '',
  ].join('\n');
}

/** Writes docs/benchmarks.md and its chart from `latest` into `docsDir` (targets and scaling evaluated again from its results). */
export async function writeDocs(run, docsDir) {
  const latest = { ...run, targets: evaluateTargets(run.results, run.settings), scaling: scaling(run.results) };
  const chart = 'benchmarks.svg';
  mkdirSync(docsDir, { recursive: true });
  writeFileSync(
    join(docsDir, chart),
    chartSvg(latest.results, { title: `Gatehouse and peers, ${latest.generated_at.slice(0, 10)}, commit ${latest.commit?.sha?.slice(0, 7) ?? '?'}` }),
  );
  // Formatted as the repository's Prettier settings want it, so that formatting never changes it.
  const file = join(docsDir, 'benchmarks.md');
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(docsMarkdown(latest, { chart }), { ...options, parser: 'markdown' }));
  return file;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = resolve(process.argv[2] ?? join(here, 'results', 'latest.json'));
  const written = await writeDocs(JSON.parse(readFileSync(file, 'utf8')), join(dirname(here), 'docs'));
  process.stderr.write(`[bench] wrote ${written} from ${file}\n`);
}
