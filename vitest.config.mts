import { resolve } from 'node:path';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

/**
 * Unit specs live next to the code (src/**\/*.spec.ts); end-to-end specs (test/**\/*.e2e-spec.ts)
 * each start their own Gatehouse over a fresh PostgreSQL database (see test/helpers/test-app.ts).
 *
 * Two projects, run one after the other: `gatehouse` (every spec) first, then `log-scan`,
 * whose one test reads the logs of every Gatehouse the run started and asserts that none
 * of the secrets the tests handled appears in them (test/final/log-scan.e2e-spec.ts).
 * The run's folder (server logs, recorded secrets) is test-results/runs/<run>.
 *
 * NestJS needs legacy decorators and emitted decorator metadata (constructor injection),
 * which esbuild/oxc do not produce: swc compiles TypeScript instead, reading
 * experimentalDecorators and emitDecoratorMetadata from tsconfig.json.
 */
const RUN_DIR = process.env.GATEHOUSE_TEST_RUN_DIR || resolve('test-results/runs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
process.env.GATEHOUSE_TEST_RUN_DIR = RUN_DIR;

export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    environment: 'node',
    // Each e2e file runs its own HTTP server, database and timers: isolate them in processes.
    pool: 'forks',
    // Two cores: at most two spec files (and their servers) at once.
    maxWorkers: 2,
    fileParallelism: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // Timing-sensitive assertions (parallel refreshes, revocation propagation) must not be retried into passing.
    retry: 0,
    env: { GATEHOUSE_TEST_RUN_DIR: RUN_DIR },
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/record-secrets.setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'gatehouse',
          include: ['src/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
          exclude: ['test/final/**', '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'log-scan',
          include: ['test/final/*.e2e-spec.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
