import cluster, { Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** How long the primary waits for its workers to finish their requests on SIGTERM. */
const SHUTDOWN_GRACE_MS = 30_000;
/** A worker that dies within this long of its start counts as crash-looping: restarts slow down. */
const STABLE_AFTER_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;

/**
 * The primary process of WORKERS > 1: forks the HTTP workers (each a whole Gatehouse
 * instance; they share the port through Node's cluster module), restarts a worker that
 * dies, and on SIGTERM/SIGINT asks every worker to shut down gracefully and exits when
 * they have. The first worker starts alone, so that it applies pending migrations
 * before the others open the database.
 */
export async function runClusterPrimary(workers: number, logger: Logger): Promise<void> {
  let stopping = false;
  let exitCode = 0;
  let restartDelay = 500;
  const started = new Map<Worker, number>();

  const fork = (): Worker => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    return worker;
  };

  const first = fork();
  const listening = await new Promise<boolean>((resolve) => {
    first.once('listening', () => resolve(true));
    first.once('exit', () => resolve(false));
  });
  // The worker has said why on its own standard error (a setting, the database): stop here.
  if (!listening) process.exit(1);
  for (let index = 1; index < workers; index++) fork();
  logger.info(`cluster primary ${process.pid}: ${workers} workers`);

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (started.get(worker) ?? 0);
    started.delete(worker);
    if (stopping) {
      if (code !== 0) exitCode = 1;
      if (started.size === 0) process.exit(exitCode);
      return;
    }
    restartDelay = lived > STABLE_AFTER_MS ? 500 : Math.min(restartDelay * 2, MAX_RESTART_DELAY_MS);
    logger.error(`worker ${worker.process.pid} exited (${signal ?? code}); starting another in ${restartDelay} ms`);
    setTimeout(() => {
      if (!stopping) fork();
    }, restartDelay);
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received: asking ${started.size} workers to finish their requests`);
    for (const worker of started.keys()) worker.process.kill('SIGTERM');
    if (started.size === 0) process.exit(0);
    setTimeout(() => {
      logger.error('workers did not stop in time');
      for (const worker of started.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
