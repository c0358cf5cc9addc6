import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A signing key pair. A key is published in the JWKS from creation until
 * `unpublish_at`, signs from `activates_at` until a newer key of its algorithm
 * activates, and its private part is sealed with the key-encryption key.
 */
@Entity('signing_keys')
export class SigningKey {
  @PrimaryColumn('text')
  kid!: string;

  @Column('text')
  alg!: string;

  @Column('jsonb', { name: 'public_jwk' })
  publicJwk!: Record<string, unknown>;

  @Column('text', { name: 'private_key_sealed' })
  privateKeySealed!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'activates_at' })
  activatesAt!: Date;

  /** Set when a successor activates: the key may leave the JWKS after this time. */
  @Column('timestamptz', { name: 'unpublish_at', nullable: true })
  unpublishAt!: Date | null;
}
