// Gatehouse benchmark: `npm run bench` (builds first) or `node bench/run.mjs` after `npm run build`.
//
// For each server (servers.mjs) and scenario (scenarios.mjs): the server runs pinned to
// one CPU, autocannon runs in a separate process (load.mjs) pinned to another, with a
// warm-up before each measurement. Prints one JSON line per scenario, then a markdown
// table, and writes everything to bench/results/latest.json.
//
// Set-up per server, before the scenarios: the server's start() registers a client (and,
// when a selected scenario needs a browser 'session', a user and a web client, and signs a
// browser in over HTTP); prepareFixtures() then issues the access tokens.
//
// Settings (environment):
//   BENCH_DURATION     seconds measured per scenario (default 10)
//   BENCH_WARMUP       seconds of warm-up per scenario (default 2, at most BENCH_DURATION)
//   BENCH_CONNECTIONS  concurrent connections (default 16)
//   BENCH_TOKENS       distinct access tokens for resource_api / introspection (default 300)
//   BENCH_SERVERS      comma-separated servers (default: gatehouse)
//   BENCH_SCENARIOS    comma-separated scenarios (default: all)
//   BENCH_DATABASE_URL PostgreSQL where a throwaway gh_bench_<ts> database is created and dropped
//                      (default postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse)
//   BENCH_GATEHOUSE_DATABASE_URL  run Gatehouse on this existing database instead (not created or dropped)
//   BENCH_KEY_ENCRYPTION_KEY      Gatehouse's KEY_ENCRYPTION_KEY (default: random per run; an existing
//                      database needs the key its signing keys were sealed with)
//   BENCH_PORT         first server port (default 3900)
//   BENCH_SERVER_CPUS / BENCH_LOAD_CPUS  taskset CPU lists (default 0 / 1); BENCH_PIN=0 disables pinning
//   BENCH_ALLOW_ERRORS=1  exit 0 even when a scenario saw connection errors, non-2xx or unexpected answers
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuPlan, killRunning, log, markdownTable, pinned, runProcess, startRssSampler } from './lib.mjs';
import { prepareFixtures, probe, scenarios, unsupported } from './scenarios.mjs';
import { servers } from './servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const resultsDir = join(here, 'results');

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

async function main() {
  const duration = number('BENCH_DURATION', 10, 1);
  const settings = {
    duration_s: duration,
    warmup_s: number('BENCH_WARMUP', Math.min(2, duration), 0),
    connections: number('BENCH_CONNECTIONS', 16, 1),
    tokens: number('BENCH_TOKENS', 300, 1),
    port: number('BENCH_PORT', 3900, 1),
    servers: list('BENCH_SERVERS', Object.keys(servers)).filter((name) => process.env.BENCH_SERVERS || name === 'gatehouse'),
    scenarios: list(
      'BENCH_SCENARIOS',
      scenarios.map((scenario) => scenario.name),
    ),
  };
  const cpus = cpuPlan();
  if (cpus.note) log(`warning: ${cpus.note}`);
  mkdirSync(resultsDir, { recursive: true });

  const selected = scenarios.filter((item) => settings.scenarios.includes(item.name));
  const needs = new Set(selected.flatMap((scenario) => scenario.needs));
  const rows = [];
  const details = [];
  for (const [index, name] of settings.servers.entries()) {
    const depth = cleanups.length;
    const port = settings.port + index;
    log(`starting ${name} on port ${port}`);
    const server = await servers[name].start({ root, port, cpus: cpus.server, logFile: join(resultsDir, `${name}.log`), defer, needs });
    try {
      const started = Date.now();
      const fixtures = await prepareFixtures(server, { count: settings.tokens, scope: server.scope });
      if (fixtures.tokens.length) log(`issued ${fixtures.tokens.length} access tokens in ${Date.now() - started} ms`);

      for (const scenario of selected) {
        const why = unsupported(scenario, server, fixtures);
        if (why) {
          log(`skipping ${scenario.name} on ${name}: ${why}`);
          continue;
        }
        const requests = scenario.requests(server, fixtures);
        const problem = await probe(scenario, server, requests);
        if (problem) throw new Error(`${scenario.name} on ${name} does not measure what it should: ${problem}`);

        log(`${scenario.name} on ${name}: ${settings.warmup_s} s warm-up + ${settings.duration_s} s, ${settings.connections} connections`);
        const spec = { url: server.baseUrl, connections: settings.connections, duration: settings.duration_s, warmup: settings.warmup_s, requests };
        const rss = startRssSampler(server.pid);
        let stdout;
        try {
          ({ stdout } = await runProcess(pinned(cpus.load, [process.execPath, join(here, 'load.mjs')]), {
            cwd: root,
            env: process.env,
            input: JSON.stringify(spec),
            timeoutMs: (settings.duration_s + settings.warmup_s + 60) * 1000,
          }));
        } finally {
          rss.peak = rss.stop();
        }
        if (server.alive && !server.alive()) throw new Error(`${name} exited during ${scenario.name}\n${server.tail?.() ?? ''}`);

        const load = JSON.parse(stdout.trim().split('\n').pop());
        const row = {
          scenario: scenario.name,
          server: name,
          requests_per_sec: load.requests_per_sec,
          // Chained scenarios (authorization_code): complete round trips; null otherwise.
          round_trips_per_sec: load.round_trips_per_sec ?? null,
          p50_ms: load.latency_ms.p50,
          p99_ms: load.latency_ms.p99,
          errors: load.errors,
          // Chained scenarios: outside 2xx and not the step's expected status (an expected 302 is a success).
          non2xx: load.non2xx,
          // Chained scenarios: responses that failed their step's check (status, Location, body); null otherwise.
          unexpected: load.unexpected ?? null,
          peak_rss_mb: rss.peak,
        };
        console.log(JSON.stringify(row));
        if (load.problems && Object.keys(load.problems).length) log(`${scenario.name} on ${name}: unexpected responses ${JSON.stringify(load.problems)}`);
        rows.push(row);
        details.push({ ...row, description: scenario.description, load });
      }
    } finally {
      await unwind(depth);
    }
  }

  const table = markdownTable(rows, [
    { key: 'scenario', title: 'scenario' },
    { key: 'server', title: 'server' },
    { key: 'requests_per_sec', title: 'req/s', align: 'right' },
    { key: 'round_trips_per_sec', title: 'round trips/s', align: 'right' },
    { key: 'p50_ms', title: 'p50 ms', align: 'right' },
    { key: 'p99_ms', title: 'p99 ms', align: 'right' },
    { key: 'errors', title: 'errors', align: 'right' },
    { key: 'non2xx', title: 'non-2xx', align: 'right' },
    { key: 'unexpected', title: 'unexpected', align: 'right' },
    { key: 'peak_rss_mb', title: 'peak RSS MB', align: 'right' },
  ]);
  console.log(`\n${table}`);

  const file = join(resultsDir, 'latest.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        generated_at: new Date().toISOString(),
        settings: { ...settings, server_cpus: cpus.server, load_cpus: cpus.load },
        machine: { node: process.version, platform: `${os.platform()} ${os.release()}`, cpu: os.cpus()[0]?.model, cpus: os.cpus().length },
        results: rows,
        details,
        table,
      },
      null,
      2,
    ) + '\n',
  );
  log(`results written to ${file}`);

  const failing = rows.filter((row) => row.errors > 0 || row.non2xx > 0 || row.unexpected > 0);
  if (failing.length && process.env.BENCH_ALLOW_ERRORS !== '1') {
    log(`errors, non-2xx or unexpected answers in: ${failing.map((row) => `${row.server}/${row.scenario}`).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch(async (error) => {
  log(`failed: ${error.stack ?? error.message}`);
  await unwind();
  process.exitCode = 1;
});
