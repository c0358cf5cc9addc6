import { Client } from '../clients/client.entity';
import { User } from '../users/user.entity';
import { IdTokenContent } from './id-token.factory';

/**
 * What a grant strategy decides; the TokenIssuer decides how it is issued.
 * - `stateless`: an access token only, nothing stored (client_credentials);
 * - `new`: a new grant row, with a first refresh token when `refreshToken` is true;
 * - `existing`: tokens under a grant that already exists: a refresh carries the rotated token,
 *   a code redemption the first refresh token of the grant it created with the code.
 */
export type GrantBinding =
  | { kind: 'stateless' }
  | { kind: 'new'; grantType: string; refreshToken: boolean; grantId?: string; sessionId?: string; authTime?: Date }
  | { kind: 'existing'; grantId: string; refreshToken?: string; sessionId?: string | null; authTime?: Date | null };

export interface TokenGrant {
  client: Client;
  /** The user's subject, or the client id for tokens a client obtains for itself. */
  subject: string;
  scopes: readonly string[];
  binding: GrantBinding;
  /** Claims UserInfo must release beyond the scopes' (the `claims` parameter's userinfo member), carried in the access token. */
  userinfoClaims?: string[];
  /** The grant_type (or `implicit`) that decided this, and the requester's address: for the audit log only. */
  grantType?: string;
  remoteAddress?: string;
  /** OpenID Connect: when the scopes include openid, the ID token to issue alongside (Core §3.1.3.3). */
  idToken?: Omit<IdTokenContent, 'client' | 'scopes' | 'accessToken'> & { user: User };
}

/** OpenID Connect: browser flows get a refresh token only with offline_access (Core §11); plain OAuth as the client registered. */
export function wantsRefreshToken(client: Client, scopes: readonly string[]): boolean {
  return client.grantTypes.includes('refresh_token') && (!scopes.includes('openid') || scopes.includes('offline_access'));
}

/** RFC 6749 §5.1 successful response. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  [extension: string]: unknown;
}
