import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditEvent } from './audit-event.entity';
import { AuditLog } from './audit-log';
import { AuditQuery } from './audit-query';
import { KeyLifecycleAudit } from './key-lifecycle-audit';

/** The append-only audit log of security events (see AuditLog). */
@Module({
  imports: [TypeOrmModule.forFeature([AuditEvent])],
  providers: [AuditLog, AuditQuery, KeyLifecycleAudit],
  exports: [AuditLog, AuditQuery, KeyLifecycleAudit],
})
export class AuditModule {}
