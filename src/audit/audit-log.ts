import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export interface AuditContext {
  clientId?: string;
  subject?: string;
  remoteAddress?: string;
  details?: Record<string, unknown>;
}

/** Appends security events to the audit_events table. Callers never pass secrets. */
@Injectable()
export class AuditLog {
  private readonly logger = new Logger('Audit');

  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async record(event: string, context: AuditContext = {}): Promise<void> {
    try {
      await this.db.query(`INSERT INTO audit_events (event, client_id, subject, remote_address, details) VALUES ($1, $2, $3, $4, $5)`, [
        event,
        context.clientId ?? null,
        context.subject ?? null,
        context.remoteAddress ?? null,
        JSON.stringify(context.details ?? {}),
      ]);
    } catch (error) {
      // The audit trail must not turn a successful security action into a failure.
      this.logger.error(`could not record audit event ${event}: ${(error as Error).message}`);
    }
  }
}
