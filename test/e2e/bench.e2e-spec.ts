import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_DATABASE_URL, ROOT } from '../helpers/processes';

/** The stable fields of a JSON line of the benchmark (one per scenario and server). */
interface ResultLine {
  scenario: string;
  server: string;
  rounds: number;
  requests_per_sec: number;
  round_trips_per_sec: number | null;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  non2xx: number;
  unexpected: number | null;
  peak_rss_mb: number | null;
  gatehouse_ratio: number | null;
}

const SERVERS = ['gatehouse', 'oidc-provider'];
const SCENARIOS = ['client_credentials', 'refresh_chain', 'jwks'];

/**
 * The benchmark suite, end to end on a tiny duration: Gatehouse and one peer (oidc-provider),
 * a plain scenario, a seeded chain and a GET. What the figures are is not asserted: only that
 * the suite runs, checks every answer and reports.
 */
describe('benchmark suite (node bench/run.mjs) on a tiny duration', () => {
  let resultsDir: string;
  let run: { code: number | null; stdout: string; stderr: string };
  let lines: ResultLine[];

  beforeAll(async () => {
    resultsDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      BENCH_DURATION: '1',
      BENCH_ROUNDS: '1',
      BENCH_WARMUP: '0',
      BENCH_SERVERS: SERVERS.join(','),
      BENCH_SCENARIOS: SCENARIOS.join(','),
      BENCH_PORT: '0',
      BENCH_DATABASE_URL: ADMIN_DATABASE_URL,
      BENCH_DATABASE_POOL_SIZE: '4',
      BENCH_RESULTS_DIR: resultsDir,
      BENCH_DOCS: '0',
    };
    run = await new Promise((resolveRun) => {
      const child = spawn(process.execPath, [resolve(ROOT, 'bench/run.mjs')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => resolveRun({ code, stdout, stderr }));
    });
    lines = run.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as ResultLine);
  }, 150_000);

  afterAll(() => {
    if (resultsDir) rmSync(resultsDir, { recursive: true, force: true });
  });

  it('exits 0', () => {
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
  });

  it('prints one JSON line per scenario and server, each with zero errors, non-2xx and unexpected answers', () => {
    const pairs = lines.map((line) => `${line.scenario}/${line.server}`).sort();
    expect(pairs).toEqual(SCENARIOS.flatMap((scenario) => SERVERS.map((server) => `${scenario}/${server}`)).sort());
    for (const line of lines) {
      expect(line.rounds).toBe(1);
      expect(line.requests_per_sec).toBeGreaterThan(0);
      expect(line.errors).toBe(0);
      expect(line.non2xx).toBe(0);
      expect(line.unexpected ?? 0).toBe(0);
    }
  });

  it('checks every rotation of the refresh chain: round trips are counted and unexpected answers are a number', () => {
    for (const line of lines.filter((entry) => entry.scenario === 'refresh_chain')) {
      expect(line.round_trips_per_sec).toBeGreaterThan(0);
      expect(line.unexpected).toBe(0);
    }
  });

  it("gives each peer's line the ratio Gatehouse ÷ peer, and none to Gatehouse's own lines", () => {
    for (const line of lines) {
      if (line.server === 'gatehouse') expect(line.gatehouse_ratio).toBeNull();
      else expect(line.gatehouse_ratio).toBeGreaterThan(0);
    }
  });

  it('prints the markdown table with the ratio column, and the targets', () => {
    expect(run.stdout).toContain(
      '| scenario | server | req/s | round trips/s | p50 ms | p99 ms | errors | non-2xx | unexpected | peak RSS MB | spread | Gatehouse ÷ this |',
    );
    for (const scenario of SCENARIOS) expect(run.stdout).toMatch(new RegExp(`^\\| ${scenario} \\| oidc-provider \\|`, 'm'));
    expect(run.stdout).toContain('| client_credentials ≥ 2.5× oidc-provider |');
  });

  it('keeps every round, the settings and the machine in latest.json', () => {
    const latest = JSON.parse(readFileSync(join(resultsDir, 'latest.json'), 'utf8')) as {
      rounds: { scenario: string; server: string; round: number }[];
      settings: { rounds: number; duration_s: number };
      machine: { cores: number; node: string };
    };
    expect(latest.rounds).toHaveLength(SCENARIOS.length * SERVERS.length);
    expect(latest.settings).toMatchObject({ rounds: 1, duration_s: 1 });
    expect(latest.machine.node).toBe(process.version);
  });
});
