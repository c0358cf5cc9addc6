// Shared helpers of the benchmark: child processes (optionally pinned to CPUs),
// HTTP polling, peak-RSS sampling, throwaway PostgreSQL databases, formatting.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export const log = (...parts) => process.stderr.write(`[bench] ${parts.join(' ')}\n`);

let tasksetAvailable;
/** `[command, ...args]` prefixed with `taskset -c <cpus>` when pinning is possible, else unchanged. */
export function pinned(cpus, argv) {
  if (cpus === undefined || cpus === null || cpus === '') return argv;
  tasksetAvailable ??= spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  return tasksetAvailable ? ['taskset', '-c', String(cpus), ...argv] : argv;
}

export const cpuCount = () => (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);

/**
 * CPU lists for the server, the load generator and the multi-worker server variants:
 * separate cores for server and load generator when the machine has two or more; the
 * variants with several workers get every core (`0-<n-1>`), shared with the load generator.
 */
export function cpuPlan(env = process.env) {
  const count = cpuCount();
  if (env.BENCH_PIN === '0') return { server: null, load: null, scale: null, note: 'pinning disabled (BENCH_PIN=0)' };
  if (count < 2) return { server: null, load: null, scale: null, note: `only ${count} CPU: server and load generator share it (results are not comparable)` };
  return { server: env.BENCH_SERVER_CPUS ?? '0', load: env.BENCH_LOAD_CPUS ?? '1', scale: env.BENCH_SCALE_CPUS ?? `0-${count - 1}`, note: null };
}

/** A TCP port that was free a moment ago (for BENCH_PORT=0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a long-running child (e.g. a server). Its output goes to `logFile`; the last
 * lines are kept for error messages. `taskset` execs its command, so `pid` is the server's.
 */
export function startProcess(argv, { cwd, env, logFile }) {
  const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = logFile ? createWriteStream(logFile) : null;
  let tail = '';
  const keep = (chunk) => {
    out?.write(chunk);
    tail = (tail + chunk.toString()).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => out?.end());
  return {
    child,
    pid: child.pid,
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
    tail: () => tail,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const done = await Promise.race([exited, sleep(graceMs).then(() => null)]);
      if (done) return done;
      child.kill('SIGKILL');
      return exited;
    },
  };
}

const running = new Set();
/** Kills the children of runProcess still running (e.g. a load generator on Ctrl-C). */
export function killRunning() {
  for (const child of running) child.kill('SIGKILL');
}

/** Runs a child to completion with `input` on stdin; resolves with stdout, rejects with stderr on failure. */
export function runProcess(argv, { cwd, env, input = '', timeoutMs = 120_000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(child);
    child.on('exit', () => running.delete(child));
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const out = Buffer.concat(stdout).toString();
      const err = Buffer.concat(stderr).toString();
      if (code === 0) return resolve({ stdout: out, stderr: err });
      const reason = timedOut ? `did not exit within ${timeoutMs / 1000} s` : `exited with ${signal ?? code}`;
      reject(Object.assign(new Error(`${argv.join(' ').slice(0, 200)} ${reason}\n${err.slice(-4000) || out.slice(-4000)}`), { stdout: out, timedOut }));
    });
    child.stdin.on('error', () => {}); // the child may exit before reading its input
    child.stdin.end(input);
  });
}

/** Parses a command's JSON output: the whole stdout, else its last line or block that is a JSON object. */
export function parseJsonOutput(stdout) {
  const text = stdout.trim();
  try {
    return JSON.parse(text);
  } catch {
    for (const line of text.split('\n').reverse()) {
      try {
        const value = JSON.parse(line);
        if (value && typeof value === 'object') return value;
      } catch {
        // not this line
      }
    }
    const start = text.lastIndexOf('\n{');
    if (start >= 0) return JSON.parse(text.slice(start + 1));
    throw new Error(`no JSON object in output: ${text.slice(0, 500)}`);
  }
}

/** Polls `url` until it answers 2xx (or a status `ready` accepts); fails early when `alive()` turns false. */
export async function waitForHttp(
  url,
  { timeoutMs = 60_000, alive = () => true, describe = () => '', ready = (status) => status >= 200 && status <= 299 } = {},
) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`server exited before ${url} answered\n${describe()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (ready(response.status)) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(150);
  }
  throw new Error(`${url} was not ready within ${timeoutMs / 1000} s (last: ${last})\n${describe()}`);
}

function procStatusKb(pid, field) {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

function childPids(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** `pid` and its descendants (e.g. a cluster primary and its workers). */
export function processTree(pid) {
  const pids = [];
  const pending = [pid];
  while (pending.length) {
    const next = pending.shift();
    pids.push(next);
    pending.push(...childPids(next));
  }
  return pids;
}

/**
 * Peak resident memory of `pid` and its descendants (a cluster's primary and workers) over a
 * window: resets each process's kernel high-water mark (VmHWM, via /proc/<pid>/clear_refs)
 * when it is first seen and reads it at the end, and also polls VmRSS in case the reset is not
 * permitted. Several processes: the sum of their high-water marks (an upper bound of the peak
 * of the sum; exact for one process). Returns MiB.
 */
export function startRssSampler(pid, intervalMs = 100) {
  if (!pid) return { stop: () => null };
  const seen = new Map(); // pid -> { hwmReset, maxKb }
  let maxSumKb = 0;
  const poll = () => {
    let sum = 0;
    for (const member of processTree(pid)) {
      let entry = seen.get(member);
      if (!entry) {
        entry = { hwmReset: false, maxKb: 0 };
        try {
          writeFileSync(`/proc/${member}/clear_refs`, '5');
          entry.hwmReset = true;
        } catch {
          // older kernel or not permitted: polling only
        }
        seen.set(member, entry);
      }
      const rss = procStatusKb(member, 'VmRSS');
      entry.maxKb = Math.max(entry.maxKb, rss);
      sum += rss;
    }
    maxSumKb = Math.max(maxSumKb, sum);
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      poll();
      let hwmSumKb = 0;
      for (const [member, entry] of seen) hwmSumKb += entry.hwmReset ? Math.max(entry.maxKb, procStatusKb(member, 'VmHWM')) : entry.maxKb;
      const kb = Math.max(maxSumKb, hwmSumKb);
      return kb ? Math.round((kb / 1024) * 10) / 10 : null;
    },
  };
}

/** Creates database `name` on the server of `adminUrl`; returns its URL. */
export async function createDatabase(adminUrl, name) {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe database name ${name}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl, name) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results in order. */
export async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * `count` tokens from a token endpoint: POST `params` (e.g. the client_credentials or password
 * grant) with Basic client auth, 8 at a time; returns the `field` of each answer (all distinct).
 */
export async function issueTokens({ baseUrl, tokenPath, client, params, count, field = 'access_token' }) {
  const authorization = basicAuth(client.id, client.secret);
  const body = new URLSearchParams(params).toString();
  const tokens = await mapLimit(Array.from({ length: count }), 8, async () => {
    const response = await fetch(new URL(tokenPath, baseUrl), {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    const json = await response.json().catch(() => null);
    if (!response.ok || typeof json?.[field] !== 'string') throw new Error(`token endpoint answered ${response.status} ${JSON.stringify(json)}`);
    return json[field];
  });
  const distinct = new Set(tokens).size;
  if (distinct !== tokens.length) throw new Error(`expected ${tokens.length} distinct tokens, got ${distinct}`);
  return tokens;
}

export function basicAuth(clientId, clientSecret) {
  // RFC 6749 §2.3.1: form-urlencode each part before Base64.
  const encode = (value) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

export function markdownTable(rows, columns) {
  const header = `| ${columns.map((c) => c.title).join(' | ')} |`;
  const rule = `| ${columns.map((c) => (c.align === 'right' ? '---:' : '---')).join(' | ')} |`;
  const body = rows.map((row) => `| ${columns.map((c) => String(row[c.key] ?? '–')).join(' | ')} |`);
  return [header, rule, ...body].join('\n');
}
