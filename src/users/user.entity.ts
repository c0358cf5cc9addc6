import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A person who signs in. `id` is the stable OpenID Connect subject. */
@Entity('users')
export class User {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' })
  id!: string;

  /** As entered; uniqueness is case-insensitive (unique index on lower(username)). */
  @Column('text')
  username!: string;

  @Column('text', { nullable: true })
  email!: string | null;

  @Column('boolean', { name: 'email_verified', default: false })
  emailVerified!: boolean;

  @Column('text', { nullable: true })
  name!: string | null;

  @Column('text', { name: 'given_name', nullable: true })
  givenName!: string | null;

  @Column('text', { name: 'family_name', nullable: true })
  familyName!: string | null;

  @Column('text', { name: 'phone_number', nullable: true })
  phoneNumber!: string | null;

  @Column('boolean', { name: 'phone_number_verified', default: false })
  phoneNumberVerified!: boolean;

  @Column('jsonb', { nullable: true })
  address!: Record<string, string> | null;

  /** argon2id PHC string; never leaves the users module. */
  @Column('text', { name: 'password_hash', select: false })
  passwordHash!: string;

  @Column('boolean', { default: false })
  disabled!: boolean;

  @Column('integer', { name: 'failed_login_count', default: 0 })
  failedLoginCount!: number;

  @Column('timestamptz', { name: 'locked_until', nullable: true })
  lockedUntil!: Date | null;

  @Column('timestamptz', { name: 'last_login_at', nullable: true })
  lastLoginAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
