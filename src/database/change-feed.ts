import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client as PgClient } from 'pg';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/configuration';

export type ChangeTopic = 'keys' | 'clients' | 'revocations' | 'resources' | 'client-lockouts';
type Listener = (payload: string) => void;

const CHANNEL = 'gatehouse_changes';

/**
 * Tells every instance that something they cache changed, through PostgreSQL
 * LISTEN/NOTIFY. With the embedded engine there is only one process, so changes are
 * dispatched locally. Notifications are a fast path only: every cache also re-reads
 * on a timer, so a lost notification delays a change, never loses it. When the
 * listening connection comes back after it was lost (PostgreSQL restarted, say), every
 * subscriber is told to re-read at once, since notifications sent meanwhile are gone.
 */
@Injectable()
export class ChangeFeed implements OnApplicationShutdown {
  private readonly logger = new Logger(ChangeFeed.name);
  private readonly listeners = new Map<ChangeTopic, Set<Listener>>();
  private listener: PgClient | undefined;
  /** A connection is being opened: later subscribers wait for it instead of opening another. */
  private connecting = false;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Whether a listening connection was ever up (a later one must catch up). */
  private listened = false;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  subscribe(topic: ChangeTopic, listener: Listener): void {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic)!.add(listener);
    if (this.config.databaseUrl && !this.listener && !this.connecting && !this.reconnectTimer) void this.connect();
  }

  /** Announces a change to every instance (including this one). */
  async publish(topic: ChangeTopic, payload = ''): Promise<void> {
    if (!this.config.databaseUrl) {
      this.dispatch(topic, payload);
      return;
    }
    await this.dataSource.query('SELECT pg_notify($1, $2)', [CHANNEL, `${topic}:${payload}`]);
  }

  private dispatch(topic: ChangeTopic, payload: string): void {
    for (const listener of this.listeners.get(topic) ?? []) {
      try {
        listener(payload);
      } catch (error) {
        this.logger.error(`change listener for ${topic} failed: ${(error as Error).message}`);
      }
    }
  }

  private async connect(): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.stopped) return;
    this.connecting = true;
    const client = new PgClient({ connectionString: this.config.databaseUrl, connectionTimeoutMillis: 3000, application_name: 'gatehouse-listener' });
    client.on('error', () => this.reconnect(client));
    client.on('end', () => this.reconnect(client));
    client.on('notification', (message) => {
      const text = message.payload ?? '';
      const colon = text.indexOf(':');
      this.dispatch(text.slice(0, colon) as ChangeTopic, text.slice(colon + 1));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (this.stopped) {
        // Shut down while connecting: do not keep the process alive.
        client.removeAllListeners('end');
        await client.end();
        return;
      }
      this.listener = client;
      // Whatever changed while nobody listened: every cache re-reads (an empty payload means "everything").
      if (this.listened) for (const topic of this.listeners.keys()) this.dispatch(topic, '');
      this.listened = true;
    } catch {
      this.reconnect(client);
    } finally {
      this.connecting = false;
    }
  }

  private reconnect(client: PgClient): void {
    if (this.listener === client) this.listener = undefined;
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => void this.connect(), 1000);
    this.reconnectTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.listener;
    this.listener = undefined;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
