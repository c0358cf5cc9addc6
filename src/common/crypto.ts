import { createHash, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * Bytes from the operating system's CSPRNG, fetched 8 KiB at a time: one system call serves
 * a few hundred tokens instead of one each (Node's randomUUID pools the same way). Every
 * byte is handed out once and the pool is never reused before it is refilled.
 */
const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** A URL-safe random string carrying `bytes` bytes of entropy (default 256 bits). */
export function randomToken(bytes = 32): string {
  if (bytes > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(bytes)).toString('base64url');
  if (poolOffset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const token = pool.toString('base64url', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return token;
}

/** SHA-256 of a UTF-8 string, base64url-encoded: how tokens and codes are stored. */
export function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** Compares two strings in time that depends only on their length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) {
    // Still spend the comparison so that a length mismatch is not a fast path.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}
