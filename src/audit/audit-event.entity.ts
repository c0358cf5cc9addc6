import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** Append-only security log (UPDATE, DELETE and TRUNCATE are refused by a trigger): who did what, when, from where. Never a secret. */
@Entity('audit_events')
export class AuditEvent {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id!: string;

  @CreateDateColumn({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt!: Date;

  @Column('text')
  event!: string;

  /** Who acted when it was neither the subject nor the client: `cli` (an administrator) or `system`. */
  @Column('text', { nullable: true })
  actor!: string | null;

  @Column('text', { name: 'client_id', nullable: true })
  clientId!: string | null;

  @Column('text', { nullable: true })
  subject!: string | null;

  @Column('text', { name: 'remote_address', nullable: true })
  remoteAddress!: string | null;

  @Column('jsonb', { default: () => "'{}'" })
  details!: Record<string, unknown>;
}
