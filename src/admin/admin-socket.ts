import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, Server } from 'node:net';
import { join } from 'node:path';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/configuration';
import { AdminArgs, AdminService } from './admin.service';

const MAX_REQUEST_BYTES = 1024 * 1024;

export const adminSocketPath = (dataDir: string): string => join(dataDir, 'admin.sock');

interface AdminReply {
  ok: boolean;
  result?: unknown;
  error?: string;
}

/**
 * With the embedded database only one process may open the data folder, so the running
 * server offers the admin operations on a Unix socket inside that folder (mode 0600,
 * folder 0700: file permissions are the authentication). One JSON line in, one out.
 */
@Injectable()
export class AdminSocket implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AdminSocket.name);
  private server: Server | undefined;

  constructor(
    private readonly admin: AdminService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.databaseUrl) return;
    const path = adminSocketPath(this.config.dataDir);
    rmSync(path, { force: true });
    this.server = createServer((socket) => {
      let buffer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        if (buffer.length > MAX_REQUEST_BYTES) return socket.destroy();
        const newline = buffer.indexOf('\n');
        if (newline < 0) return;
        void this.handle(buffer.slice(0, newline)).then((reply) => socket.end(JSON.stringify(reply) + '\n'));
      });
      socket.on('error', () => undefined);
    });
    this.server.listen(path, () => chmodSync(path, 0o600));
    this.server.on('error', (error) => this.logger.warn(`admin socket unavailable: ${error.message}`));
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.server) return;
    await new Promise((resolve) => this.server!.close(resolve));
    rmSync(adminSocketPath(this.config.dataDir), { force: true });
  }

  private async handle(line: string): Promise<AdminReply> {
    try {
      const request = JSON.parse(line) as { operation: string; args: AdminArgs };
      return { ok: true, result: await this.admin.run(request.operation, request.args ?? {}) };
    } catch (error) {
      return { ok: false, error: errorMessage(error) };
    }
  }
}

/** The one-line message of an admin failure (OAuth errors carry their description). */
export function errorMessage(error: unknown): string {
  const described = error as { description?: string; message?: string };
  return described?.description ?? described?.message ?? String(error);
}

/** Sends one admin operation to the server holding the embedded database. */
export function callAdminSocket(dataDir: string, operation: string, args: AdminArgs): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(adminSocketPath(dataDir));
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (buffer += chunk));
    socket.on('error', (error) => reject(new Error(`cannot reach the running server's admin socket: ${error.message}`)));
    socket.on('end', () => {
      try {
        const reply = JSON.parse(buffer) as AdminReply;
        if (reply.ok) resolve(reply.result);
        else reject(new Error(reply.error));
      } catch {
        reject(new Error('the running server gave no answer'));
      }
    });
    socket.write(JSON.stringify({ operation, args }) + '\n');
  });
}
