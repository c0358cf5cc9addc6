import { createHash } from 'node:crypto';
import * as jose from 'jose';
import * as client from 'openid-client';
import { expect } from 'vitest';
import { request } from './http';
import type { TestApp, TestClient } from './test-app';

/**
 * OpenID Connect relying-party helpers for the oidc-*.e2e-spec.ts files: ID-token
 * verification with jose (every signing algorithm Gatehouse offers, HS256 with the client
 * secret), the at_hash / c_hash computation of Core §3.1.3.6 / §3.3.2.11, and discovery
 * through openid-client with the default `oidc` algorithm.
 */

/** The claims every Gatehouse ID token carries. */
export interface IdTokenClaims extends jose.JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  auth_time?: number;
  nonce?: string;
  at_hash?: string;
  c_hash?: string;
  sid?: string;
  acr?: string;
  amr?: string[];
  azp?: string;
  [claim: string]: unknown;
}

/**
 * Core §3.1.3.6 / §3.2.2.9 / §3.3.2.11: base64url of the left half of the hash of the
 * ASCII octets of the value, with the hash of the ID token's `alg` (SHA-512 for EdDSA with
 * Ed25519, as the OpenID conformance suite and oauth4webapi compute it).
 */
export function oidcHalfHash(value: string, alg: string): string {
  const hash = /512$/.test(alg) || alg === 'EdDSA' || alg === 'Ed25519' ? 'sha512' : /384$/.test(alg) ? 'sha384' : 'sha256';
  const digest = createHash(hash).update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export async function fetchJwks(t: TestApp): Promise<jose.JSONWebKeySet> {
  const result = await request<jose.JSONWebKeySet>(`${t.baseUrl}/.well-known/jwks.json`);
  expect(result.status, result.text).toBe(200);
  return result.body;
}

export interface VerifyIdTokenOptions {
  /** The client the token is for (its secret verifies HS256). */
  client: TestClient;
  /** The expected `alg` header (default RS256). */
  alg?: string;
  /** The nonce sent in the request (undefined: the token must carry none). */
  nonce?: string;
  /** Expected at_hash source (undefined: no at_hash expected unless `allowExtraHashes`). */
  accessToken?: string;
  /** Expected c_hash source. */
  code?: string;
  /** The subject expected. */
  sub?: string;
}

/**
 * Verifies an ID token as a relying party must (Core §3.1.3.7): signature with the
 * server's JWKS (kid required) or the client secret for HS256, iss, aud, azp, exp, iat,
 * nonce, and at_hash / c_hash when a token or code came with it.
 */
export async function verifyIdToken(
  t: TestApp,
  token: string,
  options: VerifyIdTokenOptions,
): Promise<{ header: jose.ProtectedHeaderParameters; claims: IdTokenClaims }> {
  const alg = options.alg ?? 'RS256';
  const header = jose.decodeProtectedHeader(token);
  expect(header.alg, 'ID token alg').toBe(alg);
  let verified: jose.JWTVerifyResult;
  const verifyOptions: jose.JWTVerifyOptions = {
    issuer: t.config.issuer,
    audience: options.client.client_id,
    algorithms: [alg],
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
  };
  if (alg === 'HS256') {
    expect(options.client.client_secret, 'HS256 needs the client secret').toBeTruthy();
    verified = await jose.jwtVerify(token, new TextEncoder().encode(options.client.client_secret), verifyOptions);
  } else {
    expect(header.kid, 'an asymmetric ID token names its key (kid)').toBeTruthy();
    const jwks = await fetchJwks(t);
    const jwk = jwks.keys.find((key) => key.kid === header.kid);
    expect(jwk, `kid ${String(header.kid)} is in the JWKS`).toBeDefined();
    verified = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), verifyOptions);
  }
  const claims = verified.payload as IdTokenClaims;
  const now = Math.floor(Date.now() / 1000);
  expect(claims.iss).toBe(t.config.issuer);
  expect(typeof claims.sub).toBe('string');
  expect(claims.sub.length).toBeGreaterThan(0);
  expect(claims.sub.length).toBeLessThanOrEqual(255);
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  expect(audiences).toContain(options.client.client_id);
  if (audiences.length > 1 || claims.azp !== undefined) expect(claims.azp).toBe(options.client.client_id);
  expect(claims.exp).toBeGreaterThan(now);
  expect(Math.abs(claims.iat - now)).toBeLessThanOrEqual(60);
  if (options.nonce !== undefined) expect(claims.nonce, 'nonce').toBe(options.nonce);
  else expect(claims.nonce, 'no nonce was sent, so none comes back').toBeUndefined();
  if (options.accessToken !== undefined) expect(claims.at_hash, 'at_hash').toBe(oidcHalfHash(options.accessToken, alg));
  if (options.code !== undefined) expect(claims.c_hash, 'c_hash').toBe(oidcHalfHash(options.code, alg));
  if (options.sub !== undefined) expect(claims.sub).toBe(options.sub);
  return { header, claims };
}

/** openid-client discovery (default `oidc` algorithm: /.well-known/openid-configuration). */
export function discoverOidc(
  t: TestApp,
  registered: TestClient,
  options: { auth?: 'basic' | 'post' | 'none'; metadata?: Partial<client.ClientMetadata> } = {},
): Promise<client.Configuration> {
  const secret = registered.client_secret;
  const method = options.auth ?? (secret ? 'basic' : 'none');
  const auth = method === 'basic' ? client.ClientSecretBasic(secret) : method === 'post' ? client.ClientSecretPost(secret) : client.None();
  return client.discovery(new URL(t.config.issuer), registered.client_id, { ...(secret ? { client_secret: secret } : {}), ...options.metadata }, auth, {
    execute: [client.allowInsecureRequests],
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
