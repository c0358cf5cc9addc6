import { InitialSchema1763900000000 } from './migrations/1763900000000-initial-schema';
import { BrowserFlows1763950000000 } from './migrations/1763950000000-browser-flows';

/** Every migration, in order. Add new ones at the end. */
export const MIGRATIONS = [InitialSchema1763900000000, BrowserFlows1763950000000];
