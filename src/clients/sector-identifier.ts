import { OAuthError } from '../common/oauth-error';
import { ClientRegistration } from './client-metadata';

/**
 * OpenID Connect Core §8.1: a client's `sector_identifier_uri` must hold a JSON array
 * that lists every one of its redirect URIs. Fetched once, at registration.
 */
export async function checkSectorIdentifier(registration: ClientRegistration): Promise<void> {
  const uri = registration.metadata.sector_identifier_uri;
  if (typeof uri !== 'string') return;
  const refuse = (why: string) => new OAuthError('invalid_client_metadata', `sector_identifier_uri ${why}`);
  let listed: unknown;
  try {
    const response = await fetch(uri, { signal: AbortSignal.timeout(5000), redirect: 'error', headers: { accept: 'application/json' } });
    if (!response.ok) throw refuse(`answered ${response.status}`);
    listed = await response.json();
  } catch (error) {
    if (error instanceof OAuthError) throw error;
    throw refuse('could not be fetched as JSON');
  }
  if (!Array.isArray(listed) || listed.some((item) => typeof item !== 'string')) throw refuse('must hold a JSON array of redirect URIs');
  const missing = registration.redirectUris.filter((redirectUri) => !listed.includes(redirectUri));
  if (missing.length > 0) throw refuse(`does not list the redirect URI ${missing[0]}`);
}
