// Gatehouse benchmark: `npm run bench` (builds first) or `node bench/run.mjs` after `npm run build`.
//
// Starts every selected server once (servers.mjs: Gatehouse, its 2-worker variant and the
// peers), each pinned to one CPU, and keeps them running. Then, scenario by scenario
// (scenarios.mjs), every server that supports the scenario is measured in turn, for several
// rounds: autocannon runs in a separate process (load.mjs) pinned to another CPU, with a
// warm-up before each measurement. Prints one JSON line per scenario and server (its median
// round), then the markdown table with the ratios (Gatehouse ÷ peer) and the issue's targets;
// writes everything, every round included, to bench/results/latest.json, and the report with
// its chart to bench/results/; a full run also regenerates docs/benchmarks.md (report.mjs).
//
// Settings (environment):
//   BENCH_DURATION     seconds measured per scenario, server and round (default 10)
//   BENCH_WARMUP       seconds of warm-up before each measurement (default 2, at most BENCH_DURATION)
//   BENCH_ROUNDS       rounds per scenario and server; the median round is reported (default 3)
//   BENCH_CONNECTIONS  concurrent connections (default 16)
//   BENCH_TOKENS       distinct access tokens for resource_api / introspection (default 300)
//   BENCH_SERVERS      comma-separated servers (default: all of servers.mjs)
//   BENCH_SCENARIOS    comma-separated scenarios (default: all of scenarios.mjs)
//   BENCH_DATABASE_URL PostgreSQL where throwaway gh_bench_* databases are created and dropped
//                      (default postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse)
//   BENCH_GATEHOUSE_DATABASE_URL  run Gatehouse on this existing database instead (not created or dropped)
//   BENCH_KEY_ENCRYPTION_KEY      Gatehouse's KEY_ENCRYPTION_KEY (default: random per run; an existing
//                      database needs the key its signing keys were sealed with)
//   BENCH_DATABASE_POOL_SIZE      Gatehouse's DATABASE_POOL_SIZE (default: Gatehouse's own)
//   BENCH_PORT         first server port, the next servers on the following ones (default 3900; 0: free ports)
//   BENCH_SERVER_CPUS / BENCH_LOAD_CPUS  taskset CPU lists (default 0 / 1); BENCH_SCALE_CPUS for the
//                      multi-worker variants (default: every CPU, 0-<n-1>); BENCH_PIN=0 disables pinning
//   BENCH_PROFILE=1    run Gatehouse under node --cpu-prof and summarize each scenario's measured time
//   BENCH_TS_OAUTH2_KEY_OBJECT=1  give ts-oauth2-server its JWT secret as a KeyObject (default: a string, as its README shows)
//   BENCH_RESULTS_DIR  where results go (default bench/results)
//   BENCH_DOCS         1: write docs/benchmarks.md and docs/benchmarks.svg; 0: never (default: only
//                      after a full run: every server and scenario, at least the default duration and rounds)
//   BENCH_ALLOW_ERRORS=1  exit 0 even when a scenario saw connection errors, non-2xx or unexpected answers
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuCount, cpuPlan, freePort, killRunning, log, pinned, runProcess, startRssSampler } from './lib.mjs';
import { profileMarkdown, readProfiles, summarize } from './profile.mjs';
import { chartSvg, evaluateTargets, gatehouseRatio, GATEHOUSE, resultsTable, scaling, scalingTable, targetsTable, throughput, writeDocs } from './report.mjs';
import { prepareFixtures, probe, scenarios, unsupported } from './scenarios.mjs';
import { ServerUnavailable, servers } from './servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);

const DEFAULTS = { duration: 10, rounds: 3 };

function number(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number >= ${min}, got "${raw}"`);
  return value;
}

function list(name, known) {
  const raw = process.env[name]?.trim();
  if (!raw) return known;
  const names = raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  const unknown = names.filter((item) => !known.includes(item));
  if (unknown.length) throw new Error(`${name}: unknown ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return names;
}

// --- teardown: LIFO, also on failure and on Ctrl-C ---------------------------------
const cleanups = [];
const defer = (fn) => cleanups.push(fn);
let unwinding = Promise.resolve();
/** Runs the cleanups registered after `depth`, newest first; calls are serialized. */
function unwind(depth = 0) {
  unwinding = unwinding.then(async () => {
    while (cleanups.length > depth) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (error) {
        log(`cleanup failed: ${error.message}`);
      }
    }
  });
  return unwinding;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    killRunning();
    unwind().finally(() => process.exit(130));
  });
}

/** The selected servers with the servers they require, each after what it requires. */
function startOrder(selected) {
  const order = [];
  const visit = (name) => {
    if (order.includes(name)) return;
    for (const required of servers[name].requires ?? []) visit(required);
    order.push(name);
  };
  selected.forEach(visit);
  return order;
}

/** The command that reproduces this run (secrets and database URLs masked). */
function commandLine() {
  const secret = new Set(['BENCH_KEY_ENCRYPTION_KEY', 'BENCH_GATEHOUSE_DATABASE_URL', 'BENCH_DATABASE_URL']);
  const vars = Object.entries(process.env)
    .filter(([name]) => name.startsWith('BENCH_'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `${name}=${secret.has(name) ? '…' : value}`);
  return [...vars, process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : 'node bench/run.mjs'].join(' ');
}

function gitCommit() {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return { sha, dirty };
  } catch {
    return null;
  }
}

const loadavg = () => os.loadavg().map((value) => Math.round(value * 100) / 100);

/** Runs the load generator (load.mjs, pinned to the load CPUs) with `spec`; returns its output. */
async function runLoad(spec) {
  const { stdout } = await runProcess(pinned(cpuPlan().load, [process.execPath, join(here, 'load.mjs')]), {
    cwd: root,
    env: process.env,
    input: JSON.stringify(spec),
    timeoutMs: (spec.duration + 60) * 1000,
  });
  return stdout;
}

/** One measured round of one server in one scenario, as a row. */
function roundRow(scenario, name, round, load, peakRss) {
  return {
    scenario: scenario.name,
    server: name,
    round,
    requests_per_sec: load.requests_per_sec,
    // Chained scenarios (authorization_code, refresh_chain): complete, checked round trips; null otherwise.
    round_trips_per_sec: load.round_trips_per_sec ?? null,
    p50_ms: load.latency_ms.p50,
    p99_ms: load.latency_ms.p99,
    errors: load.errors,
    // Chained scenarios: outside 2xx and not the step's expected status (an expected 302 is a success).
    non2xx: load.non2xx,
    // Chained scenarios: responses that failed their step's check (status, Location, body); null otherwise.
    unexpected: load.unexpected ?? null,
    peak_rss_mb: peakRss,
  };
}

/** A server's rounds of a scenario as one row: the median round's figures, counts over all rounds. */
function medianRow(rounds) {
  const sorted = [...rounds].sort((a, b) => throughput(a) - throughput(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  const values = rounds.map(throughput);
  const sum = (key) => (rounds.every((row) => row[key] === null) ? null : rounds.reduce((total, row) => total + (row[key] ?? 0), 0));
  const rss = rounds.map((row) => row.peak_rss_mb).filter((value) => value !== null);
  return {
    scenario: median.scenario,
    server: median.server,
    rounds: rounds.length,
    median_round: median.round,
    requests_per_sec: median.requests_per_sec,
    round_trips_per_sec: median.round_trips_per_sec,
    p50_ms: median.p50_ms,
    p99_ms: median.p99_ms,
    errors: sum('errors'),
    non2xx: sum('non2xx'),
    unexpected: sum('unexpected'),
    peak_rss_mb: rss.length ? Math.max(...rss) : null,
    throughput_per_round: values,
    spread_percent: throughput(median) ? Math.round(((Math.max(...values) - Math.min(...values)) / 2 / throughput(median)) * 1000) / 10 : null,
    gatehouse_ratio: null,
  };
}

async function main() {
  const startedAt = Date.now();
  const loadBefore = loadavg();
  const commit = gitCommit(); // the code measured is the code at the start
  const duration = number('BENCH_DURATION', DEFAULTS.duration, 1);
  const allServers = Object.keys(servers);
  const allScenarios = scenarios.map((scenario) => scenario.name);
  const cpus = cpuPlan();
  const settings = {
    duration_s: duration,
    warmup_s: number('BENCH_WARMUP', Math.min(2, duration), 0),
    rounds: number('BENCH_ROUNDS', DEFAULTS.rounds, 1),
    connections: number('BENCH_CONNECTIONS', 16, 1),
    tokens: number('BENCH_TOKENS', 300, 1),
    port: number('BENCH_PORT', 3900, 0),
    servers: list('BENCH_SERVERS', allServers),
    scenarios: list('BENCH_SCENARIOS', allScenarios),
    profile: process.env.BENCH_PROFILE === '1',
    server_cpus: cpus.server,
    load_cpus: cpus.load,
    scale_cpus: cpus.scale,
  };
  if (cpus.note) log(`warning: ${cpus.note}`);
  const resultsDir = resolve(process.env.BENCH_RESULTS_DIR || join(here, 'results'));
  mkdirSync(resultsDir, { recursive: true });
  const profileDir = settings.profile ? join(resultsDir, 'profiles', new Date(startedAt).toISOString().replace(/[:.]/g, '-')) : null;

  const selected = scenarios.filter((item) => settings.scenarios.includes(item.name));
  const needsOf = (name) =>
    new Set(selected.filter((scenario) => !servers[name].scenarios || servers[name].scenarios.includes(scenario.name)).flatMap((scenario) => scenario.needs));

  // --- every server up front, kept running ----------------------------------------
  const started = {};
  const unavailable = {};
  for (const [index, name] of startOrder(settings.servers).entries()) {
    const port = settings.port === 0 ? await freePort() : settings.port + index;
    const role = servers[name].cpus === 'scale' ? cpus.scale : cpus.server;
    log(`starting ${name} on port ${port}`);
    const depth = cleanups.length;
    try {
      started[name] = await servers[name].start({
        root,
        port,
        cpus: role,
        logFile: join(resultsDir, `${name}.log`),
        defer,
        needs: needsOf(name),
        started,
        profileDir: name === GATEHOUSE ? profileDir : undefined,
      });
    } catch (error) {
      if (!(error instanceof ServerUnavailable)) throw error;
      await unwind(depth);
      unavailable[name] = error.message;
      log(`${name} cannot run: ${error.message}`);
    }
  }
  const measured = settings.servers.filter((name) => started[name]);

  // --- scenario by scenario, server after server, round after round ----------------
  const rows = [];
  const details = [];
  const windows = {}; // scenario -> measured windows of the profiled server
  for (const scenario of selected) {
    const plans = [];
    for (const name of measured) {
      const server = started[name];
      const why = unsupported(scenario, server, servers[name]);
      if (why) {
        log(`skipping ${scenario.name} on ${name}: ${why}`);
        continue;
      }
      await server.beforeScenario?.(scenario);
      const fixtures = await prepareFixtures(scenario, server, { count: settings.tokens });
      const requests = scenario.requests(server, fixtures);
      const [seed] = scenario.seeds ? await scenario.seeds(server, 1) : [];
      const problem = await probe(scenario, server, requests, seed);
      if (problem) throw new Error(`${scenario.name} on ${name} does not measure what it should: ${problem}`);
      plans.push({ name, server, requests, rounds: [] });
    }
    for (let round = 1; round <= settings.rounds; round++) {
      for (const plan of plans) {
        const { name, server, requests } = plan;
        log(
          `${scenario.name} on ${name}, round ${round}/${settings.rounds}: ${settings.warmup_s} s warm-up + ${settings.duration_s} s, ${settings.connections} connections`,
        );
        // Warm-up and measurement are separate load generator runs, so that a seeded chain's
        // seeds are issued just before the run that uses them (a peer that keeps a bounded
        // in-memory store would otherwise have forgotten them by the end of the warm-up), and
        // so that the peak RSS covers the measured window only.
        const spec = async (duration) => ({
          url: server.baseUrl,
          connections: settings.connections,
          duration,
          warmup: 0,
          requests,
          seeds: scenario.seeds ? await scenario.seeds(server, settings.connections) : undefined,
        });
        if (settings.warmup_s > 0) await runLoad(await spec(settings.warmup_s));
        const measurement = await spec(settings.duration_s);
        const rss = startRssSampler(server.pid);
        let stdout;
        try {
          stdout = await runLoad(measurement);
        } finally {
          rss.peak = rss.stop();
        }
        if (server.alive && !server.alive()) throw new Error(`${name} exited during ${scenario.name}\n${server.tail?.() ?? ''}`);

        const load = JSON.parse(stdout.trim().split('\n').pop());
        const row = roundRow(scenario, name, round, load, rss.peak);
        log(`  ${JSON.stringify(row)}`);
        if (load.problems && Object.keys(load.problems).length) log(`${scenario.name} on ${name}: unexpected responses ${JSON.stringify(load.problems)}`);
        plan.rounds.push(row);
        details.push({ ...row, description: scenario.description, load });
        if (server.profileDir) (windows[scenario.name] ??= []).push(load.window_ns);
      }
    }
    const summaries = plans.map((plan) => medianRow(plan.rounds));
    for (const summary of summaries) {
      summary.gatehouse_ratio = gatehouseRatio(summaries, summary);
      console.log(JSON.stringify(summary));
      rows.push(summary);
    }
  }

  // --- stop the servers (a CPU profile is written when its process exits) -----------
  await unwind();
  let profiles = null;
  if (profileDir) {
    const files = readProfiles(profileDir);
    if (!files.length) log(`warning: no CPU profile in ${profileDir}`);
    profiles = Object.fromEntries(Object.entries(windows).map(([name, list]) => [name, summarize(files, list, { root })]));
    if (files.length) log(`CPU profiles: ${files.map((file) => join(profileDir, file.file)).join(', ')}`);
    const summaryFile = join(resultsDir, 'profile-summary.md');
    writeFileSync(
      summaryFile,
      Object.entries(profiles)
        .map(([name, summary]) => `${profileMarkdown(name, GATEHOUSE, summary)}\n`)
        .join('\n'),
    );
    log(`where the time goes, per scenario: ${summaryFile}`);
  }

  const targets = evaluateTargets(rows, settings);
  const scaled = scaling(rows);
  const table = resultsTable(rows);
  console.log(`\n${table}\n\n${targetsTable(targets)}${scaled.length ? `\n\n${scalingTable(scaled)}` : ''}`);
  for (const [name, why] of Object.entries(unavailable)) console.log(`\n${name} did not run: ${why}`);

  const latest = {
    generated_at: new Date(startedAt).toISOString(),
    duration_s: Math.round((Date.now() - startedAt) / 1000),
    command: commandLine(),
    commit,
    settings,
    machine: {
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: cpuCount(),
      memory_gb: Math.round(os.totalmem() / 2 ** 30),
      loadavg_start: loadBefore,
      loadavg_end: loadavg(),
    },
    servers: Object.fromEntries(startOrder(settings.servers).map((name) => [name, servers[name].description])),
    unavailable,
    results: rows,
    rounds: details.map(({ load: _load, description: _description, ...row }) => row),
    targets,
    scaling: scaled,
    profiles,
    details,
    table,
  };
  const file = join(resultsDir, 'latest.json');
  writeFileSync(file, JSON.stringify(latest, null, 2) + '\n');
  writeFileSync(join(resultsDir, 'benchmarks.svg'), chartSvg(rows, { title: `Gatehouse and peers, ${latest.generated_at.slice(0, 10)}` }));
  log(`results written to ${file}`);

  const full =
    settings.servers.length === allServers.length &&
    settings.scenarios.length === allScenarios.length &&
    settings.duration_s >= DEFAULTS.duration &&
    settings.rounds >= DEFAULTS.rounds;
  const docs = process.env.BENCH_DOCS === '1' || (process.env.BENCH_DOCS !== '0' && full);
  if (docs) log(`wrote ${await writeDocs(latest, join(root, 'docs'))}`);

  const failing = rows.filter((row) => row.errors > 0 || row.non2xx > 0 || row.unexpected > 0);
  if (failing.length && process.env.BENCH_ALLOW_ERRORS !== '1') {
    log(`errors, non-2xx or unexpected answers in: ${failing.map((row) => `${row.server}/${row.scenario}`).join(', ')}`);
    process.exitCode = 1;
  }
  if (Object.keys(unavailable).length) {
    log(`not run: ${Object.keys(unavailable).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch(async (error) => {
  log(`failed: ${error.stack ?? error.message}`);
  await unwind();
  process.exitCode = 1;
});
