import { InitialSchema1763900000000 } from './migrations/1763900000000-initial-schema';
import { BrowserFlows1763950000000 } from './migrations/1763950000000-browser-flows';
import { DynamicRegistration1764000000000 } from './migrations/1764000000000-dynamic-registration';
import { Logout1764100000000 } from './migrations/1764100000000-logout';
import { ResourceServers1764200000000 } from './migrations/1764200000000-resource-servers';
import { SharedRateLimits1764300000000 } from './migrations/1764300000000-shared-rate-limits';
import { ServerSecrets1764500000000 } from './migrations/1764500000000-server-secrets';
import { AuditAppendOnly1764400000000 } from './migrations/1764400000000-audit-append-only';
import { ExpiryIndexes1764600000000 } from './migrations/1764600000000-expiry-indexes';

/** Every migration, in order. Add new ones at the end. */
export const MIGRATIONS = [
  InitialSchema1763900000000,
  BrowserFlows1763950000000,
  DynamicRegistration1764000000000,
  Logout1764100000000,
  ResourceServers1764200000000,
  SharedRateLimits1764300000000,
  ServerSecrets1764500000000,
  AuditAppendOnly1764400000000,
  ExpiryIndexes1764600000000,
];
