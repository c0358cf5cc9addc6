import { Injectable } from '@nestjs/common';
import { invalidClient, invalidRequest } from '../common/oauth-error';
import { ClientAuthLockout } from './client-auth-lockout';
import { Client, TokenEndpointAuthMethod } from './client.entity';
import { ClientsService } from './clients.service';

/** What a request offers to authenticate its client: the Authorization header and the form. */
export interface ClientCredentialsInput {
  authorization?: string;
  clientId?: string;
  clientSecret?: string;
  /** Where the request came from (recorded when a lockout starts). */
  remoteAddress?: string;
}

export interface AuthenticatedClient {
  client: Client;
  method: TokenEndpointAuthMethod;
}

function decodeBasicPart(value: string): string {
  // RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic encoding.
  return decodeURIComponent(value.replace(/\+/g, '%20'));
}

/**
 * Authenticates the client of a token, revocation or introspection request before
 * any grant logic runs: client_secret_basic, client_secret_post or none (public
 * clients). Every failure is `invalid_client` (401), with a Basic challenge when the
 * client tried Basic. Wrong secrets for a confidential client count towards the lockout of
 * its secret path (ClientAuthLockout); a locked client gets the same answer as a wrong
 * secret, whatever it presents.
 */
@Injectable()
export class ClientAuthenticator {
  constructor(
    private readonly clients: ClientsService,
    private readonly lockout: ClientAuthLockout,
  ) {}

  async authenticate(input: ClientCredentialsInput): Promise<AuthenticatedClient> {
    const basic = this.parseBasic(input.authorization);
    if (basic) {
      if (input.clientSecret !== undefined) throw invalidRequest('use exactly one client authentication method');
      if (input.clientId !== undefined && input.clientId !== basic.clientId) throw invalidRequest('client_id does not match the Authorization header');
      return { client: await this.checkSecret(basic.clientId, basic.secret, true, input.remoteAddress), method: 'client_secret_basic' };
    }
    if (input.clientSecret !== undefined) {
      if (!input.clientId) throw invalidRequest('client_secret needs client_id');
      return { client: await this.checkSecret(input.clientId, input.clientSecret, false, input.remoteAddress), method: 'client_secret_post' };
    }
    if (input.clientId !== undefined) {
      const client = await this.clients.find(input.clientId);
      if (!client) throw invalidClient('unknown client');
      if (!client.isPublic) throw invalidClient('this client must authenticate with its secret');
      return { client, method: 'none' };
    }
    throw invalidClient('client authentication is required', false);
  }

  private async checkSecret(clientId: string, secret: string, usedBasic: boolean, remoteAddress: string | undefined): Promise<Client> {
    const client = await this.clients.find(clientId);
    const valid = this.clients.verifySecret(client, secret);
    if (client?.secretHash) {
      // Checked after the secret, so that a locked client's answer takes as long as any other.
      if (this.lockout.isLocked(client.clientId)) throw invalidClient('client authentication failed', usedBasic);
      if (!valid) this.lockout.recordFailure(client.clientId, remoteAddress);
    }
    if (!valid || !client) throw invalidClient('client authentication failed', usedBasic);
    return client;
  }

  private parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
    if (header === undefined) return undefined;
    const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
    if (!match) {
      if (/^Basic\b/i.test(header)) throw invalidClient('malformed Basic credentials', true);
      return undefined; // another scheme (e.g. Bearer) is not client authentication
    }
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidClient('malformed Basic credentials', true);
    try {
      const clientId = decodeBasicPart(decoded.slice(0, colon));
      const secret = decodeBasicPart(decoded.slice(colon + 1));
      if (!clientId) throw new Error('empty client id');
      return { clientId, secret };
    } catch {
      throw invalidClient('malformed Basic credentials', true);
    }
  }
}
