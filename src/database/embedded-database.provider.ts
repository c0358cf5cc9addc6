import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/configuration';
import { EmbeddedDatabase } from './embedded-database';

/** Opens the embedded database when no DATABASE_URL is configured, and closes it last. */
@Injectable()
export class EmbeddedDatabaseHost implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private database: EmbeddedDatabase | undefined;

  constructor(private readonly config: AppConfig) {}

  get isEmbedded(): boolean {
    return this.config.databaseUrl === undefined;
  }

  async open(): Promise<EmbeddedDatabase | undefined> {
    if (!this.isEmbedded) return undefined;
    this.logger.warn(`No DATABASE_URL set: using the embedded PostgreSQL (PGlite) in ${this.config.dataDir}; for production set DATABASE_URL`);
    this.database ??= await EmbeddedDatabase.open(this.config.dataDir);
    return this.database;
  }

  async onApplicationShutdown(): Promise<void> {
    // Let TypeORM finish closing its connection first.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await this.database?.close().catch(() => undefined);
    this.database = undefined;
  }
}
