import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { FORM_CONTENT_TYPE, MAX_PARAMETER_COUNT, MAX_PARAMETER_LENGTH, parseFormBody, readForm } from './form';
import { OAuthError } from './oauth-error';

/** A Fastify-like request; `contentType: null` sends no Content-Type header. */
function request(body: unknown, contentType: string | null = FORM_CONTENT_TYPE): FastifyRequest {
  return { headers: contentType === null ? {} : { 'content-type': contentType }, body } as unknown as FastifyRequest;
}

/** The OAuthError a call throws (fails the test if it throws nothing or something else). */
function oauthError(call: () => unknown): OAuthError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    return error as OAuthError;
  }
  throw new Error('expected an OAuthError, nothing was thrown');
}

describe('parseFormBody', () => {
  it('decodes application/x-www-form-urlencoded: + as space, percent escapes, UTF-8', () => {
    expect({ ...parseFormBody('grant_type=password&username=al+ice&password=p%40ss%C3%A9%26') }).toEqual({
      grant_type: 'password',
      username: 'al ice',
      password: 'p@ss\u00e9&',
    });
  });

  it('keeps a repeated parameter as an array of every value, in order', () => {
    expect(parseFormBody('scope=a&scope=b&scope=c').scope).toEqual(['a', 'b', 'c']);
    expect(parseFormBody('scope=a&scope=').scope).toEqual(['a', '']);
  });

  it('keeps __proto__ as an ordinary parameter without touching any prototype', () => {
    const params = parseFormBody('__proto__=x&constructor=y&__proto__[polluted]=1');
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(params.__proto__).toBe('x');
    expect(params.constructor).toBe('y');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.keys(params)).toEqual(['__proto__', 'constructor', '__proto__[polluted]']);
  });

  it('does not resolve inherited names: toString or hasOwnProperty are absent unless sent', () => {
    const params = parseFormBody('a=1');
    expect(params.toString).toBeUndefined();
    expect(params.hasOwnProperty).toBeUndefined();
    expect(parseFormBody('toString=1&toString=2').toString).toEqual(['1', '2']);
  });

  it('keeps empty values as empty strings (readForm decides what they mean)', () => {
    expect({ ...parseFormBody('a=&b') }).toEqual({ a: '', b: '' });
    expect(Object.keys(parseFormBody(''))).toEqual([]);
  });
});

describe('readForm', () => {
  it('checks a request once: a second read (guard, then handler) returns the same parameters', () => {
    const incoming = request(parseFormBody('grant_type=client_credentials'));
    const first = readForm(incoming);
    expect(readForm(incoming)).toBe(first);
    expect(readForm(request(parseFormBody('grant_type=client_credentials')))).not.toBe(first);
  });

  it('returns the parameters of a form body', () => {
    expect({ ...readForm(request(parseFormBody('grant_type=client_credentials&scope=read'))) }).toEqual({ grant_type: 'client_credentials', scope: 'read' });
  });

  it('accepts the form content type with parameters and in any case', () => {
    expect(readForm(request(parseFormBody('a=1'), 'Application/X-WWW-Form-Urlencoded; charset=UTF-8')).a).toBe('1');
  });

  it('rejects any other content type, or none, with invalid_request', () => {
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencodedx', '', null]) {
      const error = oauthError(() => readForm(request({ a: '1' }, type)));
      expect(error.code).toBe('invalid_request');
      expect(error.status).toBe(400);
      expect(error.description).toContain(FORM_CONTENT_TYPE);
    }
  });

  it('rejects a repeated parameter with invalid_request naming it', () => {
    const error = oauthError(() => readForm(request(parseFormBody('grant_type=password&scope=a&scope=b'))));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toContain('scope');
  });

  it('rejects a repeated parameter even when one of its values is empty', () => {
    expect(oauthError(() => readForm(request(parseFormBody('scope=&scope=b')))).code).toBe('invalid_request');
  });

  it(`accepts ${MAX_PARAMETER_COUNT} parameters and rejects ${MAX_PARAMETER_COUNT + 1}`, () => {
    const body = (count: number) => Array.from({ length: count }, (_, i) => `p${i}=v`).join('&');
    expect(Object.keys(readForm(request(parseFormBody(body(MAX_PARAMETER_COUNT)))))).toHaveLength(MAX_PARAMETER_COUNT);
    const error = oauthError(() => readForm(request(parseFormBody(body(MAX_PARAMETER_COUNT + 1)))));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toContain('too many parameters');
  });

  it(`accepts a value of ${MAX_PARAMETER_LENGTH} characters and rejects a longer one, naming the parameter`, () => {
    expect(readForm(request({ state: 'x'.repeat(MAX_PARAMETER_LENGTH) })).state).toHaveLength(MAX_PARAMETER_LENGTH);
    const error = oauthError(() => readForm(request({ state: 'x'.repeat(MAX_PARAMETER_LENGTH + 1) })));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toContain('state');
    expect(error.description).toContain('too long');
  });

  it('drops empty values: a parameter sent empty counts as absent', () => {
    const params = readForm(request(parseFormBody('grant_type=password&scope=&username=alice')));
    expect('scope' in params).toBe(false);
    expect(params.scope).toBeUndefined();
    expect({ ...params }).toEqual({ grant_type: 'password', username: 'alice' });
  });

  it('treats a missing body as no parameters', () => {
    expect(Object.keys(readForm(request(undefined)))).toEqual([]);
  });

  it('returns an object without a prototype, so that __proto__ stays a plain parameter', () => {
    const params = readForm(request(parseFormBody('__proto__=x')));
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(params.__proto__).toBe('x');
    expect(Object.prototype).not.toHaveProperty('x');
  });
});
