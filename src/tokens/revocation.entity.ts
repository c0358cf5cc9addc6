import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export type RevocationKind = 'token' | 'grant' | 'session';

/**
 * A deny-list entry for self-contained access tokens: a token id, a grant id or a
 * session id. Kept only until the last access token it can affect has expired.
 */
@Entity('revocations')
export class Revocation {
  @PrimaryColumn('text')
  kind!: RevocationKind;

  @PrimaryColumn('text')
  id!: string;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt!: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  /** Monotonic position, so that instances can poll for what they have not seen. */
  @Column({ type: 'bigint', insert: false, update: false })
  seq!: string;
}
