import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { FastifyReply } from 'fastify';
import { ArrayContains, Repository } from 'typeorm';
import { Client } from './client.entity';

const PREFLIGHT_CACHE_MS = 60_000;

/**
 * CORS for single-page apps, per client. A preflight is allowed for an origin that some
 * client registered in `allowed_cors_origins`; the actual response carries
 * Access-Control-Allow-Origin only once the client is authenticated and only for its own
 * origins. The authorization endpoint never answers CORS.
 */
@Injectable()
export class CorsPolicy {
  private readonly knownOrigins = new Map<string, { allowed: boolean; until: number }>();

  constructor(@InjectRepository(Client) private readonly clients: Repository<Client>) {}

  /** Answers a preflight (OPTIONS) for a client-authenticated endpoint. */
  async preflight(reply: FastifyReply, origin: string | undefined): Promise<FastifyReply> {
    reply.header('vary', 'Origin');
    if (origin && (await this.isRegisteredOrigin(origin))) {
      reply.headers({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '600',
      });
    }
    return reply.status(204).send();
  }

  /** Adds the CORS headers to a response for an authenticated client, when it registered the origin. */
  allowForClient(reply: FastifyReply, client: Client, origin: string | undefined): void {
    if (!origin) return;
    reply.header('vary', 'Origin');
    if (client.allowedCorsOrigins.includes(origin)) reply.header('access-control-allow-origin', origin);
  }

  private async isRegisteredOrigin(origin: string): Promise<boolean> {
    const cached = this.knownOrigins.get(origin);
    if (cached && cached.until > Date.now()) return cached.allowed;
    const allowed = origin.length <= 512 && (await this.clients.exists({ where: { allowedCorsOrigins: ArrayContains([origin]) } }));
    if (this.knownOrigins.size > 10_000) this.knownOrigins.clear();
    this.knownOrigins.set(origin, { allowed, until: Date.now() + PREFLIGHT_CACHE_MS });
    return allowed;
  }
}
