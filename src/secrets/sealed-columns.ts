/** The additional data each kind of sealed value is bound to, so that a value cannot be moved to another row. */
export const sealingContext = {
  signingKey: (kid: string): string => `signing-key:${kid}`,
  clientSecret: (clientId: string): string => `client-secret:${clientId}`,
  serverSecret: (name: string): string => `server-secret:${name}`,
};

/**
 * A database column that holds SecretBox values. Every such column is listed in
 * SEALED_COLUMNS: the start-up check and the re-encrypt command walk this list, and a
 * test fails when a `*_sealed` column is missing from it.
 */
export interface SealedColumn {
  /** Its name in the re-encrypt summary. */
  kind: 'signing_keys' | 'client_secrets' | 'server_secrets';
  /** One value, in words, for error messages. */
  label: string;
  table: string;
  /** The primary key (text). */
  id: string;
  column: string;
  context: (id: string) => string;
  /** SQL condition for the rows a running server opens; the start-up check looks at these only. */
  inUse?: string;
}

export const SEALED_COLUMNS: readonly SealedColumn[] = [
  {
    kind: 'signing_keys',
    label: 'signing key',
    table: 'signing_keys',
    id: 'kid',
    column: 'private_key_sealed',
    context: sealingContext.signingKey,
    // Keys past unpublish_at are never loaded again.
    inUse: 'unpublish_at IS NULL OR unpublish_at > now()',
  },
  { kind: 'client_secrets', label: 'client secret', table: 'clients', id: 'client_id', column: 'secret_sealed', context: sealingContext.clientSecret },
  { kind: 'server_secrets', label: 'server secret', table: 'server_secrets', id: 'name', column: 'value_sealed', context: sealingContext.serverSecret },
];
