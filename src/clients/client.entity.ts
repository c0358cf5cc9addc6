import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** An OAuth client. Columns use RFC 7591 metadata names; the rest lives in `metadata`. */
@Entity('clients')
export class Client {
  @PrimaryColumn('text', { name: 'client_id' })
  clientId!: string;

  @Column('text', { name: 'client_name', nullable: true })
  clientName!: string | null;

  @Column('text', { name: 'token_endpoint_auth_method' })
  tokenEndpointAuthMethod!: TokenEndpointAuthMethod;

  /** SHA-256 of the secret, compared in constant time (the secret has 256 bits of entropy). */
  @Column('text', { name: 'secret_hash', nullable: true })
  secretHash!: string | null;

  /** The secret sealed with the key-encryption key, for HMAC-based algorithms. */
  @Column('text', { name: 'secret_sealed', nullable: true })
  secretSealed!: string | null;

  @Column('timestamptz', { name: 'secret_rotated_at', nullable: true })
  secretRotatedAt!: Date | null;

  @Column('text', { name: 'redirect_uris', array: true, default: () => "'{}'" })
  redirectUris!: string[];

  @Column('text', { name: 'grant_types', array: true })
  grantTypes!: string[];

  @Column('text', { name: 'response_types', array: true })
  responseTypes!: string[];

  /** Scopes the client may ask for. */
  @Column('text', { array: true, default: () => "'{}'" })
  scopes!: string[];

  /** `aud` of the access tokens it receives; empty means the configured default. */
  @Column('text', { array: true, default: () => "'{}'" })
  audience!: string[];

  @Column('integer', { name: 'access_token_ttl', nullable: true })
  accessTokenTtl!: number | null;

  @Column('integer', { name: 'refresh_token_ttl', nullable: true })
  refreshTokenTtl!: number | null;

  /** Origins of browser apps that may call the token and revocation endpoints (CORS). */
  @Column('text', { name: 'allowed_cors_origins', array: true, default: () => "'{}'" })
  allowedCorsOrigins!: string[];

  /** PKCE is required for this client's authorization requests (always for public clients). */
  @Column('boolean', { name: 'require_pkce', default: true })
  requirePkce!: boolean;

  /** The `plain` PKCE method is accepted (S256 otherwise). */
  @Column('boolean', { name: 'allow_plain_pkce', default: false })
  allowPlainPkce!: boolean;

  /** First-party clients may skip consent. */
  @Column('boolean', { name: 'first_party', default: false })
  firstParty!: boolean;

  /** Every other RFC 7591 / OpenID Connect registration field, as registered. */
  @Column('jsonb', { default: () => "'{}'" })
  metadata!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  get isPublic(): boolean {
    return this.tokenEndpointAuthMethod === 'none';
  }
}
