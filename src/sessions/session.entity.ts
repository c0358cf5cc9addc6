import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A browser session with Gatehouse: anonymous until the user signs in (it then carries
 * the CSRF token of the login form), authenticated after. The cookie holds a random
 * token; only its SHA-256 hash is stored.
 */
@Entity('sessions')
export class Session {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' })
  id!: string;

  @Column('text', { name: 'token_hash' })
  tokenHash!: string;

  @Column('uuid', { name: 'user_id', nullable: true })
  userId!: string | null;

  @Column('text', { name: 'csrf_token' })
  csrfToken!: string;

  @Column('timestamptz', { name: 'auth_time', nullable: true })
  authTime!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'last_seen_at' })
  lastSeenAt!: Date;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt!: Date;

  @Column('timestamptz', { name: 'ended_at', nullable: true })
  endedAt!: Date | null;
}
