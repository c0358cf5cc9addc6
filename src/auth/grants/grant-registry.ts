import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { unsupportedGrantType } from '../../common/oauth-error';
import { GrantStrategy, TokenGrantStrategy } from './grant-strategy';

/** Every grant strategy by `grant_type`. A duplicate grant type fails at start-up. */
@Injectable()
export class GrantRegistry implements OnModuleInit {
  private readonly strategies = new Map<string, GrantStrategy>();

  constructor(private readonly discovery: DiscoveryService) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders({ metadataKey: TokenGrantStrategy.KEY })) {
      this.register(wrapper.instance as GrantStrategy);
    }
  }

  register(strategy: GrantStrategy): void {
    if (!strategy.grantType) throw new Error(`${strategy.constructor.name} has no grantType`);
    if (this.strategies.has(strategy.grantType)) throw new Error(`grant type ${strategy.grantType} is registered twice`);
    this.strategies.set(strategy.grantType, strategy);
  }

  /** The strategy for `grantType`, or `unsupported_grant_type`. */
  get(grantType: string): GrantStrategy {
    const strategy = this.strategies.get(grantType);
    if (!strategy) throw unsupportedGrantType(`grant type ${grantType} is not supported`);
    return strategy;
  }

  grantTypes(): string[] {
    return [...this.strategies.keys()];
  }
}
