/** Key-management algorithms for encrypted ID tokens and UserInfo (OpenID Connect Core §10.2). */
export const KEY_ENCRYPTION_ALGORITHMS = ['RSA-OAEP-256', 'RSA-OAEP', 'ECDH-ES', 'ECDH-ES+A256KW', 'ECDH-ES+A128KW', 'A256KW', 'A128KW', 'dir'] as const;
export const CONTENT_ENCRYPTION_ALGORITHMS = ['A128CBC-HS256', 'A256CBC-HS512', 'A128GCM', 'A256GCM'] as const;
/** Algorithms whose key is derived from the client secret rather than taken from the client's keys. */
export const SECRET_BASED_ALGORITHMS: ReadonlySet<string> = new Set(['dir', 'A256KW', 'A128KW']);
