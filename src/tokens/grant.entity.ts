import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * One authorization of a client by a subject: the family that a chain of refresh
 * tokens belongs to. Its id travels in access tokens (`grant_id`) so that revoking the
 * grant ends every token issued under it.
 */
@Entity('grants')
export class Grant {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' })
  id!: string;

  @Column('text', { name: 'client_id' })
  clientId!: string;

  @Column('text')
  subject!: string;

  @Column('text', { array: true })
  scopes!: string[];

  @Column('text', { name: 'grant_type' })
  grantType!: string;

  @Column('text', { name: 'session_id', nullable: true })
  sessionId!: string | null;

  @Column('timestamptz', { name: 'auth_time', nullable: true })
  authTime!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt!: Date;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt!: Date | null;

  @Column('text', { name: 'revoked_reason', nullable: true })
  revokedReason!: string | null;
}
