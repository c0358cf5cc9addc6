import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Consent } from './consent.entity';

/** Remembered consent, per user and client: a later request for the same or fewer scopes needs no question. */
@Injectable()
export class ConsentsService {
  constructor(@InjectRepository(Consent) private readonly consents: Repository<Consent>) {}

  /** Whether the user already allowed the client every one of `scopes`. */
  async covers(userId: string, clientId: string, scopes: readonly string[]): Promise<boolean> {
    const consent = await this.consents.findOneBy({ userId, clientId });
    return consent !== null && scopes.every((scope) => consent.scopes.includes(scope));
  }

  /** Remembers `scopes`, added to what the user allowed the client before. */
  async grant(userId: string, clientId: string, scopes: readonly string[]): Promise<void> {
    await this.consents.query(
      `INSERT INTO consents (user_id, client_id, scopes) VALUES ($1, $2, $3)
       ON CONFLICT (user_id, client_id) DO UPDATE
         SET scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || excluded.scopes)), updated_at = now()`,
      [userId, clientId, scopes],
    );
  }

  async list(userId: string): Promise<Consent[]> {
    return this.consents.find({ where: { userId }, order: { createdAt: 'ASC' } });
  }

  /** Forgets the consent; returns false when there was none. */
  async withdraw(userId: string, clientId: string): Promise<boolean> {
    const result = await this.consents.delete({ userId, clientId });
    return (result.affected ?? 0) > 0;
  }
}
