import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** When a new run starts, runs older than a day are removed, except the newest five (to look at). */
const KEEP_RUNS = 5;
const MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * Creates this run's folder for server logs and recorded secrets (see test-run.ts) and
 * removes old runs' folders.
 */
export default function setup(): void {
  const runDir = process.env.GATEHOUSE_TEST_RUN_DIR;
  if (!runDir) return;
  mkdirSync(join(runDir, 'logs'), { recursive: true });
  mkdirSync(join(runDir, 'secrets'), { recursive: true });
  const runsDir = dirname(runDir);
  const others = readdirSync(runsDir)
    .map((name) => join(runsDir, name))
    .filter((path) => path !== runDir)
    .map((path) => ({ path, mtime: statSync(path).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const [index, run] of others.entries()) {
    if (index >= KEEP_RUNS && Date.now() - run.mtime > MAX_AGE_MS) rmSync(run.path, { recursive: true, force: true });
  }
}
