import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit/audit-log';
import { constantTimeEqual, randomToken, sha256 } from '../common/crypto';
import { OAuthError } from '../common/oauth-error';
import { AppConfig } from '../config/configuration';
import { enforce, RateLimits } from '../rate-limit/rate-limits';
import { isClientIdSyntax } from './client-metadata';
import { ClientRegistrationResponse, ClientsService } from './clients.service';
import { bearerToken, untrustedMetadata, updateRequestMetadata } from './registration-policy';

/** RFC 7591 §3.2.1 / RFC 7592 §3 response: the client's metadata plus how to manage it. */
export type ClientInformationResponse = ClientRegistrationResponse & { registration_access_token: string; registration_client_uri: string };

/** Compared against when the client is unknown or has no token, so that every path costs the same. */
const NO_TOKEN_HASH = sha256('gatehouse-no-registration-access-token');

/**
 * Dynamic client registration (RFC 7591) and management (RFC 7592). Registration is open,
 * or needs the configured initial access token; each client gets a registration access
 * token (256 bits, stored as its SHA-256 only) that reads, replaces and deletes it.
 * Clients created by the admin CLI have none and cannot be managed here.
 */
@Injectable()
export class DynamicRegistrationService {
  private readonly realm: string;

  constructor(
    private readonly clients: ClientsService,
    private readonly rateLimits: RateLimits,
    private readonly audit: AuditLog,
    private readonly config: AppConfig,
    @InjectDataSource() private readonly db: DataSource,
  ) {
    this.realm = `Bearer realm="${config.issuer}"`;
  }

  /**
   * POST /oauth/register. `authorization` is the request's Authorization header; `readBody`
   * returns the metadata (or refuses the media type) once throttling and the initial access
   * token have been checked.
   */
  async register(readBody: () => unknown, authorization: string | undefined, remoteAddress: string): Promise<ClientInformationResponse> {
    this.ensureEnabled();
    enforce(await this.rateLimits.registration.takeExact(remoteAddress), 'too many registration requests from this address; retry later');
    this.checkInitialAccessToken(authorization);

    const response = await this.clients.register(untrustedMetadata(readBody()), { allowClientId: false });
    const token = randomToken(32);
    try {
      await this.db.query(`UPDATE clients SET registration_access_token_hash = $1 WHERE client_id = $2`, [sha256(token), response.client_id]);
    } catch (error) {
      await this.clients.delete(response.client_id).catch(() => undefined);
      throw error;
    }
    void this.audit.record('client.created', { clientId: response.client_id, remoteAddress, details: { via: 'dynamic_registration' } });
    return this.withManagement(response, token);
  }

  /** GET /oauth/register/:client_id (RFC 7592 §2.1). */
  async read(clientId: string, authorization: string | undefined): Promise<ClientInformationResponse> {
    this.ensureEnabled();
    const token = await this.authenticate(clientId, authorization);
    const client = await this.clients.get(clientId).catch(() => {
      throw this.invalidToken(); // deleted meanwhile
    });
    return this.withManagement(this.clients.registrationResponse(client), token);
  }

  /** PUT /oauth/register/:client_id (RFC 7592 §2.2): full replacement; the secret is kept. */
  async update(clientId: string, readBody: () => unknown, authorization: string | undefined, remoteAddress: string): Promise<ClientInformationResponse> {
    this.ensureEnabled();
    const token = await this.authenticate(clientId, authorization);
    const { metadata, clientSecret } = updateRequestMetadata(readBody(), clientId);
    if (clientSecret !== undefined) {
      const client = await this.clients.find(clientId);
      if (typeof clientSecret !== 'string' || !this.clients.verifySecret(client, clientSecret)) {
        throw new OAuthError('invalid_client_metadata', 'client_secret does not match the current secret (leave it out to keep it)');
      }
    }
    const response = await this.clients.replaceMetadata(clientId, metadata, { allowClientId: false }).catch((error: unknown) => {
      throw error instanceof OAuthError && error.code === 'not_found' ? this.invalidToken() : error;
    });
    void this.audit.record('client.updated', { clientId, remoteAddress, details: { via: 'dynamic_registration' } });
    return this.withManagement(response, token);
  }

  /** DELETE /oauth/register/:client_id (RFC 7592 §2.3): the client stops working on every instance. */
  async delete(clientId: string, authorization: string | undefined, remoteAddress: string): Promise<void> {
    this.ensureEnabled();
    await this.authenticate(clientId, authorization);
    await this.clients.delete(clientId).catch((error: unknown) => {
      throw error instanceof OAuthError && error.code === 'not_found' ? this.invalidToken() : error;
    });
    void this.audit.record('client.deleted', { clientId, remoteAddress, details: { via: 'dynamic_registration' } });
  }

  registrationClientUri(clientId: string): string {
    return `${this.config.issuer}/oauth/register/${encodeURIComponent(clientId)}`;
  }

  private withManagement(response: ClientRegistrationResponse, token: string): ClientInformationResponse {
    return { ...response, registration_access_token: token, registration_client_uri: this.registrationClientUri(response.client_id) };
  }

  private ensureEnabled(): void {
    if (!this.config.registrationEnabled) {
      throw new OAuthError('not_found', 'dynamic client registration is turned off on this server (REGISTRATION_ENABLED=false)', 404);
    }
  }

  private checkInitialAccessToken(authorization: string | undefined): void {
    const expected = this.config.registrationInitialAccessToken;
    if (expected === undefined) return;
    const presented = bearerToken(authorization);
    if (presented === undefined) {
      throw new OAuthError('invalid_token', 'registration needs an initial access token (Authorization: Bearer)', 401, { 'WWW-Authenticate': this.realm });
    }
    // Hashing first makes the comparison constant-time whatever the lengths.
    if (!constantTimeEqual(sha256(presented), sha256(expected))) {
      throw new OAuthError('invalid_token', 'the initial access token is not valid', 401, {
        'WWW-Authenticate': `${this.realm}, error="invalid_token", error_description="the initial access token is not valid"`,
      });
    }
  }

  /**
   * Checks the registration access token of `clientId`; returns it. A wrong or missing
   * token, an unknown client and a client without a token all look the same.
   */
  private async authenticate(clientId: string, authorization: string | undefined): Promise<string> {
    const presented = bearerToken(authorization);
    // An id no client can have (a NUL, say, which PostgreSQL would refuse) is simply unknown.
    const rows: { hash: string | null }[] = isClientIdSyntax(clientId)
      ? await this.db.query(`SELECT registration_access_token_hash AS hash FROM clients WHERE client_id = $1`, [clientId])
      : [];
    const stored = rows[0]?.hash ?? null;
    const matches = constantTimeEqual(sha256(presented ?? ''), stored ?? NO_TOKEN_HASH);
    if (!matches || stored === null || presented === undefined) throw this.invalidToken();
    return presented;
  }

  private invalidToken(): OAuthError {
    return new OAuthError('invalid_token', 'the registration access token is missing, invalid, or not for this client', 401, {
      'WWW-Authenticate': `${this.realm}, error="invalid_token"`,
    });
  }
}
