import type { FastifyRequest } from 'fastify';
import { AppConfig } from '../config/configuration';

export const SESSION_COOKIE = 'gatehouse_session';

/** The session cookie's value from the Cookie header, if present. */
export function readSessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === SESSION_COOKIE) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

const secure = (config: AppConfig) => config.issuer.startsWith('https://');

/** Set-Cookie for a session: HttpOnly, SameSite=Lax, Secure whenever the issuer is https. */
export function sessionCookie(value: string, config: AppConfig): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${config.sessionTtl}${secure(config) ? '; Secure' : ''}`;
}

export function clearedSessionCookie(config: AppConfig): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure(config) ? '; Secure' : ''}`;
}
