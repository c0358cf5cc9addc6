import { Injectable } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { describe, expect, it } from 'vitest';
import { Client } from '../../clients/client.entity';
import { FormParams } from '../../common/form';
import { OAuthError } from '../../common/oauth-error';
import { TokenGrant } from '../../tokens/token-grant';
import { GrantRegistry } from './grant-registry';
import { GrantStrategy, TokenGrantStrategy } from './grant-strategy';

/** A strategy that only says which grant type it is. */
function strategy(grantType: string): GrantStrategy {
  return {
    grantType,
    handle: (client: Client, params: FormParams): Promise<TokenGrant> =>
      Promise.resolve({ client, subject: params.username ?? grantType, scopes: [], binding: { kind: 'stateless' } }),
  };
}

const registry = (...strategies: GrantStrategy[]): GrantRegistry => {
  const instance = new GrantRegistry({} as DiscoveryService);
  strategies.forEach((s) => instance.register(s));
  return instance;
};

describe('GrantRegistry', () => {
  it('dispatches each grant type to its own strategy', () => {
    const password = strategy('password');
    const clientCredentials = strategy('client_credentials');
    const grants = registry(password, clientCredentials);
    expect(grants.get('password')).toBe(password);
    expect(grants.get('client_credentials')).toBe(clientCredentials);
  });

  it('lists the registered grant types', () => {
    expect(registry(strategy('password'), strategy('refresh_token')).grantTypes()).toEqual(['password', 'refresh_token']);
  });

  it('throws at registration when a grant type is registered twice', () => {
    const grants = registry(strategy('password'));
    expect(() => grants.register(strategy('password'))).toThrow('grant type password is registered twice');
  });

  it('throws at registration when a strategy has no grant type', () => {
    expect(() => registry(strategy(''))).toThrow('has no grantType');
  });

  it('answers unsupported_grant_type for an unknown grant type, naming it', () => {
    const grants = registry(strategy('password'));
    const thrown = (() => {
      try {
        grants.get('urn:example:magic');
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(OAuthError);
    expect((thrown as OAuthError).code).toBe('unsupported_grant_type');
    expect((thrown as OAuthError).status).toBe(400);
    expect((thrown as OAuthError).description).toContain('urn:example:magic');
  });

  it('does not resolve inherited names as grant types', () => {
    const grants = registry(strategy('password'));
    for (const name of ['constructor', '__proto__', 'toString']) {
      expect(() => grants.get(name)).toThrow(OAuthError);
    }
  });
});

@Injectable()
@TokenGrantStrategy()
class FakeAlphaGrant implements GrantStrategy {
  readonly grantType = 'urn:test:alpha';
  handle(client: Client): Promise<TokenGrant> {
    return Promise.resolve({ client, subject: 'alpha', scopes: [], binding: { kind: 'stateless' } });
  }
}

@Injectable()
@TokenGrantStrategy()
class FakeBetaGrant implements GrantStrategy {
  readonly grantType = 'urn:test:beta';
  handle(client: Client): Promise<TokenGrant> {
    return Promise.resolve({ client, subject: 'beta', scopes: [], binding: { kind: 'stateless' } });
  }
}

@Injectable()
@TokenGrantStrategy()
class FakeAlphaAgainGrant extends FakeAlphaGrant {}

/** A provider with a grantType but without the decorator: not a strategy. */
@Injectable()
class UndecoratedGrant implements GrantStrategy {
  readonly grantType = 'urn:test:undecorated';
  handle(client: Client): Promise<TokenGrant> {
    return Promise.resolve({ client, subject: 'x', scopes: [], binding: { kind: 'stateless' } });
  }
}

describe('GrantRegistry discovery', () => {
  it('registers every provider decorated with @TokenGrantStrategy and nothing else', async () => {
    const module = await Test.createTestingModule({
      imports: [DiscoveryModule],
      providers: [GrantRegistry, FakeAlphaGrant, FakeBetaGrant, UndecoratedGrant],
    }).compile();
    await module.init();
    const grants = module.get(GrantRegistry);
    expect(grants.grantTypes().sort()).toEqual(['urn:test:alpha', 'urn:test:beta']);
    expect(grants.get('urn:test:beta')).toBe(module.get(FakeBetaGrant));
    await module.close();
  });

  it('fails start-up when two discovered strategies claim the same grant type', async () => {
    const module = await Test.createTestingModule({
      imports: [DiscoveryModule],
      providers: [GrantRegistry, FakeAlphaGrant, FakeAlphaAgainGrant],
    }).compile();
    await expect(module.init()).rejects.toThrow('grant type urn:test:alpha is registered twice');
    await module.close();
  });
});
