import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

/**
 * Unit specs live next to the code (src/**\/*.spec.ts); end-to-end specs (test/**\/*.e2e-spec.ts)
 * each start their own Gatehouse over a fresh PostgreSQL database (see test/helpers/test-app.ts).
 *
 * NestJS needs legacy decorators and emitted decorator metadata (constructor injection),
 * which esbuild/oxc do not produce: swc compiles TypeScript instead, reading
 * experimentalDecorators and emitDecoratorMetadata from tsconfig.json.
 */
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    include: ['src/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
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
  },
});
