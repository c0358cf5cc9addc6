import type { FastifyRequest } from 'fastify';
import { AppConfig } from '../config/configuration';

export const SESSION_COOKIE = 'gatehouse_session';
/**
 * OpenID Connect Session Management 1.0: the OP browser state, readable by the
 * check_session_iframe's script (so not HttpOnly). It only says which session is
 * current; it grants nothing.
 */
export const BROWSER_STATE_COOKIE = 'gatehouse_browser_state';

/** A cookie value percent-decoded; a broken escape (the cookie was not ours) names no session. */
function decodeCookieValue(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** The session cookie's value from the Cookie header, if present. */
export function readSessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === SESSION_COOKIE) return decodeCookieValue(rest.join('='));
  }
  return undefined;
}

const secure = (config: AppConfig) => config.issuer.startsWith('https://');

/** Set-Cookie for a session: HttpOnly, SameSite=Lax, Secure whenever the issuer is https. */
export function sessionCookie(value: string, config: AppConfig): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${config.sessionTtl}${secure(config) ? '; Secure' : ''}`;
}

/** Set-Cookie headers after sign-in: the session, and the browser state for Session Management. */
export function signedInCookies(value: string, browserState: string, config: AppConfig): string[] {
  return [
    sessionCookie(value, config),
    `${BROWSER_STATE_COOKIE}=${browserState}; Path=/; SameSite=Lax; Max-Age=${config.sessionTtl}${secure(config) ? '; Secure' : ''}`,
  ];
}

/** Set-Cookie headers that end the session in the browser (both cookies). */
export function clearedSessionCookie(config: AppConfig): string[] {
  const end = `SameSite=Lax; Max-Age=0${secure(config) ? '; Secure' : ''}`;
  return [`${SESSION_COOKIE}=; Path=/; HttpOnly; ${end}`, `${BROWSER_STATE_COOKIE}=; Path=/; ${end}`];
}
