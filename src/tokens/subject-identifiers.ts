import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Client } from '../clients/client.entity';
import { ServerSecrets } from '../secrets/server-secrets';

/**
 * OpenID Connect Core §8: the `sub` a client sees. Public by default (the user's id);
 * for clients registered with `subject_type: pairwise` a value unique to the client's
 * sector (the host of its sector_identifier_uri or of its redirect URIs), so that
 * clients of different sectors cannot correlate users. Derived with an HMAC keyed by the
 * server's derivation key (see ServerSecrets): stable across key-encryption-key
 * rotations, and not reversible without it.
 */
@Injectable()
export class SubjectIdentifiers {
  private salt: Buffer | undefined;

  constructor(private readonly secrets: ServerSecrets) {}

  subjectFor(client: Client, userId: string): string {
    if (client.metadata.subject_type !== 'pairwise') return userId;
    this.salt ??= createHmac('sha256', this.secrets.derivationKey()).update('gatehouse:pairwise-subject').digest();
    return createHmac('sha256', this.salt)
      .update(`${SubjectIdentifiers.sector(client)}|${userId}`)
      .digest('base64url');
  }

  /** The sector of a pairwise client (Core §8.1). */
  static sector(client: Client): string {
    const uri = typeof client.metadata.sector_identifier_uri === 'string' ? client.metadata.sector_identifier_uri : client.redirectUris[0];
    try {
      return new URL(uri).host;
    } catch {
      return client.clientId;
    }
  }
}
