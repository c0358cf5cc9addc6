import { describe, expect, it } from 'vitest';
import { randomToken } from './crypto';
describe('x', () => { it('y', () => { expect(randomToken().length).toBe(43); }); });
