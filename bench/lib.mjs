// Shared helpers of the benchmark: child processes (optionally pinned to CPUs),
// HTTP polling, peak-RSS sampling, throwaway PostgreSQL databases, formatting.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
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

/** CPU lists for the server and the load generator: separate cores when the machine has two or more. */
export function cpuPlan(env = process.env) {
  const count = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  if (env.BENCH_PIN === '0') return { server: null, load: null, note: 'pinning disabled (BENCH_PIN=0)' };
  if (count < 2) return { server: null, load: null, note: `only ${count} CPU: server and load generator share it (results are not comparable)` };
  return { server: env.BENCH_SERVER_CPUS ?? '0', load: env.BENCH_LOAD_CPUS ?? '1', note: null };
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

/** Polls `url` until it answers 2xx; fails early when `alive()` turns false. */
export async function waitForHttp(url, { timeoutMs = 60_000, alive = () => true, describe = () => '' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`server exited before ${url} answered\n${describe()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(150);
  }
  throw new Error(`${url} did not answer 2xx within ${timeoutMs / 1000} s (last: ${last})\n${describe()}`);
}

function procStatusKb(pid, field) {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Peak resident memory of `pid` over a window: resets the kernel's high-water mark
 * (VmHWM, via /proc/<pid>/clear_refs) at the start and reads it at the end, and also
 * polls VmRSS in case the reset is not permitted. Returns MiB.
 */
export function startRssSampler(pid, intervalMs = 100) {
  if (!pid) return { stop: () => null };
  let hwmReset = false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    hwmReset = true;
  } catch {
    // older kernel or not permitted: polling only
  }
  let maxKb = procStatusKb(pid, 'VmRSS');
  const timer = setInterval(() => {
    maxKb = Math.max(maxKb, procStatusKb(pid, 'VmRSS'));
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      maxKb = Math.max(maxKb, procStatusKb(pid, 'VmRSS'));
      if (hwmReset) maxKb = Math.max(maxKb, procStatusKb(pid, 'VmHWM'));
      return maxKb ? Math.round((maxKb / 1024) * 10) / 10 : null;
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
