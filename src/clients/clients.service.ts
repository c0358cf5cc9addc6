import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { constantTimeEqual, randomToken, sha256 } from '../common/crypto';
import { notFound, OAuthError } from '../common/oauth-error';
import { SecretBox, UnknownKeyEncryptionKeyError } from '../common/secret-box';
import { ChangeFeed } from '../database/change-feed';
import { sealingContext } from '../secrets/sealed-columns';
import { Client } from './client.entity';
import { checkSectorIdentifier } from './sector-identifier';
import { ClientRegistration, isClientIdSyntax, validateClientMetadata } from './client-metadata';

/** RFC 7591 §3.2.1 registration response. `client_secret` appears only when just generated. */
export type ClientRegistrationResponse = Record<string, unknown> & { client_id: string };

/** Ends what a deleted client's grants may still use; registered by the modules that own them. */
export type ClientDeletedHook = (clientId: string) => Promise<void>;

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;
/** Compared against when the client is unknown, so both paths cost the same. */
const UNKNOWN_CLIENT_HASH = sha256('gatehouse-unknown-client');

/**
 * Owns OAuth clients: registration, secrets (generated, hashed for verification,
 * sealed for later use as HMAC keys), and a per-instance cache that every instance
 * drops when a client changes anywhere.
 */
@Injectable()
export class ClientsService implements OnModuleInit {
  private readonly logger = new Logger(ClientsService.name);
  private readonly cache = new Map<string, { client: Client | null; until: number }>();
  private readonly deletedHooks: ClientDeletedHook[] = [];

  constructor(
    @InjectRepository(Client) private readonly clients: Repository<Client>,
    private readonly changes: ChangeFeed,
    private readonly config: AppConfig,
    private readonly secretBox: SecretBox,
  ) {}

  onModuleInit(): void {
    this.changes.subscribe('clients', (clientId) => {
      if (clientId) this.cache.delete(clientId);
      else this.cache.clear();
    });
  }

  /** Registers a client from RFC 7591 metadata; returns the registration response with the secret, once. */
  async register(metadata: unknown, options: { allowClientId: boolean }): Promise<ClientRegistrationResponse> {
    const registration = validateClientMetadata(metadata, { ...options, allowInsecureRedirectUris: this.config.allowInsecureRedirectUris });
    await checkSectorIdentifier(registration);
    const client = this.clients.create(this.toEntity(registration));
    // Never starting with - or _, so that ids are safe as command-line arguments.
    client.clientId = registration.clientId ?? randomToken(18).replace(/^[-_]/, 'c');
    const secret = client.isPublic ? undefined : this.assignSecret(client);
    try {
      await this.clients.save(client);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') {
        throw new OAuthError('invalid_client_metadata', `client_id ${client.clientId} is already taken`);
      }
      throw error;
    }
    const saved = await this.clients.findOneByOrFail({ clientId: client.clientId });
    return this.registrationResponse(saved, secret);
  }

  /** The client with this id, from the cache when fresh. */
  async find(clientId: string): Promise<Client | null> {
    // No client has another id: no lookup (or cache entry) for what a client sent as garbage.
    if (!isClientIdSyntax(clientId)) return null;
    const cached = this.cache.get(clientId);
    const now = Date.now();
    if (cached && cached.until > now) return cached.client;
    const client = await this.clients.findOneBy({ clientId });
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(clientId, { client, until: now + CACHE_TTL_MS });
    return client;
  }

  async get(clientId: string): Promise<Client> {
    const client = await this.clients.findOneBy({ clientId });
    if (!client) throw notFound(`no client ${clientId}`);
    return client;
  }

  async list(): Promise<Client[]> {
    return this.clients.find({ order: { createdAt: 'ASC' } });
  }

  /** Registers work to run once a client is deleted (its grants are revoked that way). */
  onDeleted(hook: ClientDeletedHook): void {
    this.deletedHooks.push(hook);
  }

  async delete(clientId: string): Promise<void> {
    const result = await this.clients.delete({ clientId });
    if (!result.affected) throw notFound(`no client ${clientId}`);
    await this.changes.publish('clients', clientId);
    for (const hook of this.deletedHooks) await hook(clientId);
  }

  /** Replaces the client's secret; the old one stops working on every instance. */
  async rotateSecret(clientId: string): Promise<ClientRegistrationResponse> {
    const client = await this.get(clientId);
    if (client.isPublic) throw new OAuthError('invalid_request', `client ${clientId} is public and has no secret`);
    const secret = this.assignSecret(client);
    await this.clients.update({ clientId }, { secretHash: client.secretHash, secretSealed: client.secretSealed, secretRotatedAt: new Date() });
    await this.changes.publish('clients', clientId);
    return this.registrationResponse(await this.get(clientId), secret);
  }

  /**
   * Replaces a client's metadata as a whole (RFC 7592 §2.2): omitted fields return to
   * their defaults. The secret is kept; a client that becomes confidential gets one (returned
   * once), a client that becomes public loses it.
   */
  async replaceMetadata(clientId: string, metadata: unknown, options: { allowClientId: boolean }): Promise<ClientRegistrationResponse> {
    const registration = validateClientMetadata(metadata, { ...options, allowInsecureRedirectUris: this.config.allowInsecureRedirectUris });
    await checkSectorIdentifier(registration);
    if (registration.clientId !== undefined && registration.clientId !== clientId) {
      throw new OAuthError('invalid_client_metadata', 'client_id cannot be changed');
    }
    const client = await this.get(clientId);
    const { secretHash: _hash, secretSealed: _sealed, ...fields } = this.toEntity(registration);
    Object.assign(client, fields);
    let secret: string | undefined;
    if (client.isPublic) {
      client.secretHash = null;
      client.secretSealed = null;
    } else if (!client.secretHash) {
      secret = this.assignSecret(client);
    }
    await this.clients.save(client);
    this.cache.delete(clientId);
    await this.changes.publish('clients', clientId);
    return this.registrationResponse(await this.get(clientId), secret);
  }

  /** Constant-time check of a presented secret (no KDF: the secret has 256 bits of entropy). */
  verifySecret(client: Client | null, presented: string): boolean {
    const matches = constantTimeEqual(sha256(presented), client?.secretHash ?? UNKNOWN_CLIENT_HASH);
    return matches && client !== null && client.secretHash !== null;
  }

  /**
   * The client's secret in clear, for HMAC-based algorithms (HS256 ID tokens, JWE dir).
   * A secret sealed with a key-encryption key this instance lacks is a server fault:
   * logged in one line naming the key, answered `server_error` with no detail.
   */
  revealSecret(client: Client): string | undefined {
    if (!client.secretSealed) return undefined;
    try {
      return this.secretBox.open(client.secretSealed, sealingContext.clientSecret(client.clientId));
    } catch (error) {
      if (!(error instanceof UnknownKeyEncryptionKeyError)) throw error;
      this.logger.error(`cannot use the secret of client ${client.clientId}: ${error.message}`);
      throw new OAuthError('server_error', 'the server cannot use this client secret at the moment', 500);
    }
  }

  registrationResponse(client: Client, secret?: string): ClientRegistrationResponse {
    return {
      client_id: client.clientId,
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
      ...(client.clientName ? { client_name: client.clientName } : {}),
      token_endpoint_auth_method: client.tokenEndpointAuthMethod,
      grant_types: client.grantTypes,
      response_types: client.responseTypes,
      redirect_uris: client.redirectUris,
      scope: client.scopes.join(' '),
      ...(client.audience.length ? { audience: client.audience } : {}),
      ...(client.accessTokenTtl ? { access_token_ttl: client.accessTokenTtl } : {}),
      ...(client.refreshTokenTtl ? { refresh_token_ttl: client.refreshTokenTtl } : {}),
      first_party: client.firstParty,
      require_pkce: client.requirePkce,
      ...(client.allowPlainPkce ? { allow_plain_pkce: true } : {}),
      ...(client.allowedCorsOrigins.length ? { allowed_cors_origins: client.allowedCorsOrigins } : {}),
      ...client.metadata,
    };
  }

  private assignSecret(client: Client): string {
    const secret = randomToken(32);
    client.secretHash = sha256(secret);
    client.secretSealed = this.secretBox.seal(secret, sealingContext.clientSecret(client.clientId));
    return secret;
  }

  private toEntity(registration: ClientRegistration): Partial<Client> {
    return {
      clientName: registration.clientName,
      tokenEndpointAuthMethod: registration.tokenEndpointAuthMethod,
      redirectUris: registration.redirectUris,
      grantTypes: registration.grantTypes,
      responseTypes: registration.responseTypes,
      scopes: registration.scopes,
      audience: registration.audience,
      accessTokenTtl: registration.accessTokenTtl,
      refreshTokenTtl: registration.refreshTokenTtl,
      firstParty: registration.firstParty,
      allowedCorsOrigins: registration.allowedCorsOrigins,
      requirePkce: registration.requirePkce,
      allowPlainPkce: registration.allowPlainPkce,
      metadata: registration.metadata,
      secretHash: null,
      secretSealed: null,
    };
  }
}
