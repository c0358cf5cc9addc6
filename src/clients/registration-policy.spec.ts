import { describe, expect, it } from 'vitest';
import { oauthRejection } from '../../test/unit/fixtures';
import { bearerToken, isJsonContentType, untrustedMetadata, updateRequestMetadata } from './registration-policy';

const refusal = (run: () => unknown) => oauthRejection(async () => run());

describe('untrustedMetadata', () => {
  it('passes ordinary metadata through as a copy', () => {
    const input = { client_name: 'App', redirect_uris: ['https://app.example.com/cb'], scope: 'openid' };
    const output = untrustedMetadata(input);
    expect(output).toEqual(input);
    expect(output).not.toBe(input);
  });

  it('leaves non-objects to validateClientMetadata', () => {
    expect(untrustedMetadata([1])).toEqual([1]);
    expect(untrustedMetadata(null)).toBeNull();
    expect(untrustedMetadata('text')).toBe('text');
  });

  it.each([
    ['first_party: true', { first_party: true }],
    ['first_party: "yes"', { first_party: 'yes' }],
    ['a non-empty audience', { audience: ['https://other.example.com'] }],
    ['an audience that is not a list', { audience: 'https://other.example.com' }],
    ['require_pkce: false', { require_pkce: false }],
    ['allow_plain_pkce: true', { allow_plain_pkce: true }],
  ])('refuses %s with invalid_client_metadata', async (_, input) => {
    const error = await refusal(() => untrustedMetadata({ redirect_uris: ['https://app.example.com/cb'], ...input }));
    expect(error).toMatchObject({ code: 'invalid_client_metadata', status: 400 });
  });

  it('accepts and drops the harmless values a registration response carries', () => {
    const output = untrustedMetadata({ client_name: 'App', first_party: false, audience: [], require_pkce: true, allow_plain_pkce: false });
    expect(output).toEqual({ client_name: 'App', require_pkce: true, allow_plain_pkce: false });
  });

  it('does not change its input', () => {
    const input = { first_party: false, audience: [] };
    untrustedMetadata(input);
    expect(input).toEqual({ first_party: false, audience: [] });
  });
});

describe('updateRequestMetadata (RFC 7592 section 2.2)', () => {
  it('requires client_id equal to the managed client, then takes it out with the secret and the server-assigned fields', () => {
    const result = updateRequestMetadata(
      {
        client_id: 'abc',
        client_secret: 's3cret',
        client_name: 'App',
        registration_access_token: 'x',
        registration_client_uri: 'https://id.example.com/oauth/register/abc',
        client_secret_expires_at: 0,
        client_id_issued_at: 1,
        first_party: false,
      },
      'abc',
    );
    expect(result).toEqual({ metadata: { client_name: 'App' }, clientSecret: 's3cret' });
  });

  it('reports no secret when none is sent', () => {
    expect(updateRequestMetadata({ client_id: 'abc' }, 'abc')).toEqual({ metadata: {} });
  });

  it.each([
    ['a missing client_id', { client_name: 'App' }],
    ['another client_id', { client_id: 'other' }],
    ['first_party: true', { client_id: 'abc', first_party: true }],
  ])('refuses %s with invalid_client_metadata', async (_, input) => {
    expect(await refusal(() => updateRequestMetadata(input, 'abc'))).toMatchObject({ code: 'invalid_client_metadata', status: 400 });
  });

  it('leaves non-objects to validateClientMetadata', () => {
    expect(updateRequestMetadata([], 'abc')).toEqual({ metadata: [] });
  });
});

describe('bearerToken', () => {
  it.each([
    ['Bearer abc.DEF-123_~+/=', 'abc.DEF-123_~+/='],
    ['bearer abc', 'abc'],
    ['BEARER  abc', 'abc'],
  ])('reads %s', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each([undefined, '', 'Bearer', 'Bearer ', 'Basic YWJjOmRlZg==', 'Bearer a b', 'Bearer a"b', 'Bearerabc'])('finds no token in %s', (header) => {
    expect(bearerToken(header)).toBeUndefined();
  });
});

describe('isJsonContentType', () => {
  it.each([
    ['application/json', true],
    ['Application/JSON; charset=utf-8', true],
    ['application/json;charset=UTF-8', true],
    ['application/x-www-form-urlencoded', false],
    ['text/plain', false],
    ['application/jsonx', false],
    [undefined, false],
  ])('%s is %s', (header, expected) => {
    expect(isJsonContentType(header)).toBe(expected);
  });
});
