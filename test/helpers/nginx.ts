import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes';

/**
 * Debian's nginx as the load balancer of a test deployment: round-robin over loopback
 * upstreams, started in the foreground (`daemon off`) with a configuration, pid file,
 * logs and temp folders of its own in a temporary folder, and stopped by the test.
 */

export const NGINX_BINARY = process.env.NGINX_BINARY ?? '/usr/sbin/nginx';

/** The header nginx adds to every response: which upstream(s) it tried, as `$upstream_addr` ("a:1, b:2" after a retry). */
export const UPSTREAM_HEADER = 'x-upstream';
const GENERATION_HEADER = 'x-nginx-config';

export interface Upstream {
  /** host:port of a Gatehouse instance. */
  address: string;
  /** Taken out of rotation (`down`), as an orchestrator does before stopping an instance. */
  down?: boolean;
}

export interface Nginx {
  /** http://127.0.0.1:<port>, the deployment's public URL (its ISSUER). */
  url: string;
  /**
   * Rewrites the upstream list and reloads nginx; resolves once new connections get the new
   * configuration and the old worker has finished its requests and exited (so that nothing
   * is sent to an upstream taken out any more).
   */
  setUpstreams(upstreams: Upstream[]): Promise<void>;
  /** The error log so far (for assertion messages). */
  errorLog(): string;
  /** Stops nginx (fast shutdown) and removes its folder. */
  stop(): Promise<void>;
}

function configuration(dir: string, port: number, upstreams: Upstream[], generation: number): string {
  const servers = upstreams.length
    ? upstreams.map((upstream) => `    server ${upstream.address} max_fails=1 fail_timeout=2s${upstream.down ? ' down' : ''};`).join('\n')
    : // nginx needs at least one server; nothing listens on port 9 (discard) of loopback.
      '    server 127.0.0.1:9 down;';
  // As root, nginx runs its workers as `user`; Debian has no group "nobody", so name one that exists.
  const user = process.getuid?.() === 0 ? 'user nobody nogroup;\n' : '';
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 2048; }
http {
  log_format upstream '$remote_addr "$request" $status upstream=$upstream_addr upstream_status=$upstream_status time=$request_time';
  access_log ${dir}/access.log upstream;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 1m;
  keepalive_requests 100000;

  upstream gatehouse {
${servers}
  }

  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://gatehouse;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      # A refused or failed connection moves on to the next instance; a request already
      # sent is never sent again when it is a POST (nginx's default for non-idempotent methods).
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
      add_header ${UPSTREAM_HEADER} $upstream_addr always;
      add_header ${GENERATION_HEADER} ${generation} always;
    }
  }
}
`;
}

/** GET over a new connection (not a pooled one), so that it meets the newest nginx workers. */
function freshGet(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: { connection: 'close' }, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How many processes `pid` has (nginx's workers: one, or more while an old one finishes). */
function childCount(pid: number): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces, so read after its closing parenthesis.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) count++;
    } catch {
      // the process ended meanwhile
    }
  }
  return count;
}

/** Starts nginx on a free loopback port with the given upstreams (possibly none yet). */
export async function startNginx(upstreams: Upstream[] = []): Promise<Nginx> {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'));
    // Workers (nobody, when started as root) create the temp folders' files: let them in.
    chmodSync(dir, 0o755);
    const port = await freePort();
    try {
      return await launch(dir, port, upstreams);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      // Another process took the port between freePort() and nginx's bind: try another.
      if (/Address already in use/.test((error as Error).message) && attempt < 5) continue;
      throw error;
    }
  }
}

async function launch(dir: string, port: number, initial: Upstream[]): Promise<Nginx> {
  let generation = 1;
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, configuration(dir, port, initial, generation));
  const child: ChildProcess = spawn(NGINX_BINARY, ['-p', dir, '-c', confFile, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };

  const waitForGeneration = async (wanted: number) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${output}\n${errorLog()}`);
      try {
        const response = await freshGet(`${url}/health/live`);
        if (response.headers[GENERATION_HEADER] === String(wanted)) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`nginx did not serve configuration ${wanted} within 10 s: ${output}\n${errorLog()}`);
      await sleep(50);
    }
  };

  try {
    await waitForGeneration(generation);
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    throw error;
  }

  return {
    url,
    errorLog,
    async setUpstreams(upstreams) {
      generation += 1;
      writeFileSync(confFile, configuration(dir, port, upstreams, generation));
      child.kill('SIGHUP');
      await waitForGeneration(generation);
      const deadline = Date.now() + 30_000;
      while (childCount(child.pid!) > 1) {
        if (Date.now() > deadline) throw new Error('the old nginx worker did not exit within 30 s');
        await sleep(20);
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
