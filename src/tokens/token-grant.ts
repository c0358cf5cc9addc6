import { Client } from '../clients/client.entity';

/**
 * What a grant strategy decides; the TokenIssuer decides how it is issued.
 * - `stateless`: an access token only, nothing stored (client_credentials);
 * - `new`: a new grant row, with a first refresh token when `refreshToken` is true;
 * - `existing`: tokens under a grant that already exists (a refresh carries the rotated token).
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
}

/** RFC 6749 §5.1 successful response. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  [extension: string]: unknown;
}
