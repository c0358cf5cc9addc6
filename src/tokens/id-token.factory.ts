import { createHash, createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/configuration';
import { Client } from '../clients/client.entity';
import { ClientsService } from '../clients/clients.service';
import { constantTimeEqual } from '../common/crypto';
import { AsymmetricAlgorithm, ASYMMETRIC_ALGORITHMS, decodeJwt, JwtPayload, verifyJwtSignature } from '../common/jwt';
import { KeyStore } from '../keys/key-store';
import { userClaims } from '../oidc/claims';
import { User } from '../users/user.entity';
import { SubjectIdentifiers } from './subject-identifiers';
import { TokenEncryption } from './token-encryption';

/** ID-token signing algorithms: the asymmetric ones, and HS256 with the client secret. */
export const ID_TOKEN_SIGNING_ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, 'HS256'] as const;
export const DEFAULT_ID_TOKEN_ALG = 'RS256';
export const ID_TOKEN_TTL_SECONDS = 3600;
/** The one authentication context Gatehouse has: a password. */
export const ACR_PASSWORD = 'urn:gatehouse:acr:password';

export interface IdTokenContent {
  client: Client;
  user: User;
  scopes: readonly string[];
  authTime: Date;
  nonce?: string | null;
  sessionId?: string | null;
  /** The access token issued alongside (at_hash), and the code (c_hash). */
  accessToken?: string;
  code?: string;
  /** Claims named in the `claims` request parameter's id_token member. */
  requestedClaims?: Record<string, unknown> | null;
  /** Whether the scope claims go into the ID token (no access token to fetch them with: response_type=id_token). */
  includeScopeClaims?: boolean;
}

/** OpenID Connect Core §3.1.3.6: the left half of the hash, with the hash function of the signature's alg (SHA-512 for Ed25519). */
export function halfHash(value: string, alg: string): string {
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256')
    .update(value, 'ascii')
    .digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/**
 * Signs ID tokens (OpenID Connect Core §2): RS256 unless the client registered another
 * `id_token_signed_response_alg`; HS256 with the client's secret for clients that ask for
 * it. Carries auth_time, nonce, sid, acr/amr, and at_hash/c_hash where the flow needs them.
 */
@Injectable()
export class IdTokenFactory {
  constructor(
    private readonly keys: KeyStore,
    private readonly clients: ClientsService,
    private readonly encryption: TokenEncryption,
    private readonly subjects: SubjectIdentifiers,
    private readonly config: AppConfig,
  ) {}

  /** A signed ID token, encrypted too when the client registered id_token_encrypted_response_alg. */
  async create(content: IdTokenContent): Promise<string> {
    const { client, user } = content;
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: this.config.issuer,
      sub: this.subjects.subjectFor(client, user.id),
      aud: client.clientId,
      exp: now + ID_TOKEN_TTL_SECONDS,
      iat: now,
      auth_time: Math.floor(content.authTime.getTime() / 1000),
      acr: ACR_PASSWORD,
      amr: ['pwd'],
      azp: client.clientId,
    };
    if (content.nonce) claims.nonce = content.nonce;
    if (content.sessionId) claims.sid = content.sessionId;
    const alg = this.algorithm(client);
    if (content.accessToken) claims.at_hash = halfHash(content.accessToken, alg);
    if (content.code) claims.c_hash = halfHash(content.code, alg);
    const released = userClaims(user, content.includeScopeClaims ? content.scopes : [], content.requestedClaims);
    return this.encryption.protect(client, this.sign(client, { ...released, ...claims }), 'id_token');
  }

  /** Signs any OpenID Connect JWT for a client with its registered algorithm (ID tokens, signed UserInfo). */
  sign(client: Client, claims: Record<string, unknown>, registeredAlg = client.metadata.id_token_signed_response_alg): string {
    const alg = typeof registeredAlg === 'string' ? registeredAlg : DEFAULT_ID_TOKEN_ALG;
    if (alg === 'HS256') {
      const secret = this.clients.revealSecret(client);
      if (!secret) throw new Error(`client ${client.clientId} has no secret for HS256`);
      const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      return `${header}.${payload}.${signature}`;
    }
    return this.keys.sign(alg as AsymmetricAlgorithm, claims, 'JWT').token;
  }

  /** The algorithm the client's ID tokens are signed with. */
  algorithm(client: Client): string {
    const registered = client.metadata.id_token_signed_response_alg;
    return typeof registered === 'string' ? registered : DEFAULT_ID_TOKEN_ALG;
  }

  /**
   * The claims of an ID token this server issued, for id_token_hint: our key (or, HS256, the
   * client's secret) and our issuer. Expiry is not checked: a hint may be old (Core §3.1.2.1,
   * RP-Initiated Logout §2). Access tokens (typ at+jwt) are not ID tokens.
   */
  async verifyIssued(token: string): Promise<JwtPayload | undefined> {
    const decoded = decodeJwt(token);
    if (!decoded) return undefined;
    const { header, payload } = decoded;
    if (header.typ !== undefined && header.typ !== 'JWT') return undefined;
    if (payload.iss !== this.config.issuer || typeof payload.sub !== 'string') return undefined;
    const aud = payload.aud;
    if (!(typeof aud === 'string' || (Array.isArray(aud) && aud.length > 0 && aud.every((value) => typeof value === 'string')))) return undefined;
    if (header.alg === 'HS256') {
      const audiences = typeof aud === 'string' ? [aud] : (aud as string[]);
      const clientId = audiences.length === 1 ? audiences[0] : payload.azp;
      const client = typeof clientId === 'string' && clientId.length <= 256 ? await this.clients.find(clientId) : null;
      const secret = client ? this.clients.revealSecret(client) : undefined;
      if (!secret) return undefined;
      const expected = createHmac('sha256', secret).update(decoded.signingInput).digest('base64url');
      return constantTimeEqual(expected, decoded.signature.toString('base64url')) ? payload : undefined;
    }
    const key = typeof header.kid === 'string' ? this.keys.verificationKey(header.kid) : undefined;
    if (!key || key.alg !== header.alg || !verifyJwtSignature(decoded, key.alg, key.publicKey)) return undefined;
    return payload;
  }
}
