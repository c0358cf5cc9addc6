import type { FastifyReply } from 'fastify';
import { Page } from './html';

/** Sends a page with the headers every page needs: its CSP, no caching, no referrer, no framing. */
export function sendPage(reply: FastifyReply, page: Page, headers: Record<string, string | string[]> = {}): FastifyReply {
  return reply
    .status(page.status)
    .headers({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': page.csp,
      'cache-control': 'no-store',
      pragma: 'no-cache',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      ...headers,
    })
    .send(page.html);
}
