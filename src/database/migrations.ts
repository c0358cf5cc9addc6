import { InitialSchema1763900000000 } from './migrations/1763900000000-initial-schema';

/** Every migration, in order. Add new ones at the end. */
export const MIGRATIONS = [InitialSchema1763900000000];
