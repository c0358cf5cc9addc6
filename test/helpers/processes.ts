import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { dropTestDatabase } from './databases';
import { appendLog, newLogFile, recordSecretSettings, recordSecretsInBody } from './test-run';

/** Helpers that run Gatehouse as real processes (the built dist/), as an operator would. */

export const ROOT = resolve(__dirname, '../..');
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse';

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Creates an empty database on the test PostgreSQL server; returns its URL and a dropper. */
export async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `gh_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => dropTestDatabase(ADMIN_DATABASE_URL, name),
  };
}

export const newKeyEncryptionKey = (): string => randomBytes(32).toString('hex');

export interface ServerProcess {
  url: string;
  process: ChildProcess;
  output: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * Starts `node dist/main.js` (on `port`, default a free one) and waits until /health answers
 * (or the process dies), for at most `startTimeoutMs` (the embedded engine can take long to
 * start on a loaded machine). Inside a test run it logs every request (LOG_LEVEL debug unless
 * given) into a LOG_FILE of the run folder, and what it prints goes to another file there, for
 * the log scan after the suite; `output()` returns both.
 */
export async function startServer(env: Record<string, string>, cwd = ROOT, startTimeoutMs = 60_000, port?: number): Promise<ServerProcess> {
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  recordSecretSettings(env);
  const logFile = env.LOG_FILE ? undefined : newLogFile('server');
  const printed = logFile && `${logFile.slice(0, -'.log'.length)}-stdout.log`;
  const logging = logFile ? { LOG_FILE: logFile, LOG_LEVEL: 'debug' } : { LOG_LEVEL: 'info' };
  const child = spawn(process.execPath, [resolve(ROOT, 'dist/main.js')], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', ISSUER: url, ...logging, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    appendLog(printed, chunk);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const logged = () => {
    try {
      return logFile ? readFileSync(logFile, 'utf8') : '';
    } catch {
      return '';
    }
  };
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}${logged()}`);
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not become healthy:\n${output}${logged()}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return {
    url,
    process: child,
    output: () => output + logged(),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI (`node dist/cli/main.js ...args`) with optional stdin. The secrets it is
 * given (passwords) and prints (client secrets) are recorded, and its standard error (its
 * log) goes to a file of the test run, for the log scan after the suite.
 */
export async function runCli(args: string[], env: Record<string, string>, input?: string, cwd = ROOT): Promise<CliResult> {
  recordSecretSettings(env);
  if (input) recordSecretsInBody(input, 'application/json');
  const result = await runScript('dist/cli/main.js', args, env, input, cwd, newLogFile('cli'));
  recordSecretsInBody(result.stdout, 'application/json');
  return result;
}

/** Runs `node <script> ...args` (a path from the repository root) to completion, with optional stdin; its standard error also goes to `logFile`. */
export function runScript(script: string, args: string[], env: Record<string, string>, input?: string, cwd = ROOT, logFile?: string): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [resolve(ROOT, script), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      appendLog(logFile, chunk);
    });
    child.on('exit', (code) => resolveRun({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Runs `node dist/main.js` expecting it to exit (e.g. on a bad setting); its output goes to a file of the test run. */
export function runServerToExit(env: Record<string, string>): Promise<CliResult> {
  recordSecretSettings(env);
  const logFile = newLogFile('server');
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [resolve(ROOT, 'dist/main.js')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // A deadline, not a wait: a loaded machine may take a while to start Node and fail.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      appendLog(logFile, stdout + stderr);
      resolveRun({ code, stdout, stderr });
    });
  });
}

export async function tokenRequest(
  url: string,
  params: Record<string, string>,
  basic?: { id: string; secret: string },
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic.id)}:${encodeURIComponent(basic.secret)}`).toString('base64')}`;
  const response = await fetch(`${url}/oauth/token`, { method: 'POST', headers, body: new URLSearchParams(params) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
