import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createPgConfig } = require('@electric-sql/pglite/node-postgres') as { createPgConfig: (pglite: PGlite) => object };

/** Thrown when another live process already holds the embedded database. */
export class EmbeddedDatabaseLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the embedded database in ${dataDir} is in use by process ${pid}; stop it first or set DATABASE_URL`);
  }
}

const lockFile = (dataDir: string) => join(dataDir, 'gatehouse.lock');

/** The pid of the live process holding the embedded database, if any. */
export function embeddedDatabaseHolder(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(lockFile(dataDir), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/**
 * PostgreSQL compiled to WebAssembly, in process, persisted in `dataDir/pgdata`.
 * PGlite does not lock its folder and two processes opening it corrupt it, so this
 * class holds a lock file with its pid and refuses to open a folder held by a live process.
 */
export class EmbeddedDatabase {
  private constructor(
    private readonly dataDir: string,
    readonly pglite: PGlite,
  ) {}

  static async open(dataDir: string): Promise<EmbeddedDatabase> {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    EmbeddedDatabase.takeLock(dataDir);
    try {
      const pglite = await PGlite.create(join(dataDir, 'pgdata'));
      return new EmbeddedDatabase(dataDir, pglite);
    } catch (error) {
      rmSync(lockFile(dataDir), { force: true });
      throw error;
    }
  }

  private static takeLock(dataDir: string): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lockFile(dataDir), 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const holder = embeddedDatabaseHolder(dataDir);
        if (holder !== undefined && holder !== process.pid) throw new EmbeddedDatabaseLockedError(dataDir, holder);
        rmSync(lockFile(dataDir), { force: true }); // stale lock of a dead process
      }
    }
    throw new Error(`could not lock ${lockFile(dataDir)}`);
  }

  /** node-postgres connection settings that route queries into this PGlite instance. */
  pgConfig(): object {
    return { ...createPgConfig(this.pglite) };
  }

  async close(): Promise<void> {
    try {
      if (!this.pglite.closed) await this.pglite.close();
    } finally {
      rmSync(lockFile(this.dataDir), { force: true });
    }
  }
}
