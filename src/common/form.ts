import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { invalidRequest } from './oauth-error';

/** Parameters of an application/x-www-form-urlencoded body: each present once. */
export type FormParams = Readonly<Record<string, string>>;

export const MAX_PARAMETER_LENGTH = 4096;
export const MAX_PARAMETER_COUNT = 64;
export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** Fastify body parser: keeps repeated parameters as arrays so that they can be refused. */
export function parseFormBody(body: string): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of new URLSearchParams(body)) {
    const previous = params[name];
    params[name] = previous === undefined ? value : ([] as string[]).concat(previous, value);
  }
  return params;
}

/**
 * The form parameters of a request, checked once for every OAuth endpoint: the right
 * content type (RFC 6749 §3.2), no repeated parameter (§3.1), bounded sizes. Empty
 * values count as absent (§3.1). Anything else is `invalid_request`.
 */
export function readForm(request: FastifyRequest): FormParams {
  // The client-authentication guard and the handler both read the form: check it once.
  let params = checkedForms.get(request);
  if (params === undefined) {
    params = checkForm(request);
    checkedForms.set(request, params);
  }
  return params;
}

const checkedForms = new WeakMap<FastifyRequest, FormParams>();

function checkForm(request: FastifyRequest): FormParams {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== FORM_CONTENT_TYPE) throw invalidRequest(`the request body must be ${FORM_CONTENT_TYPE}`);
  const body = (request.body ?? {}) as Record<string, string | string[]>;
  const names = Object.keys(body);
  if (names.length > MAX_PARAMETER_COUNT) throw invalidRequest(`too many parameters (at most ${MAX_PARAMETER_COUNT})`);
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name of names) {
    const value = body[name];
    if (typeof value !== 'string') throw invalidRequest(`parameter ${name} is repeated`);
    if (value.length > MAX_PARAMETER_LENGTH) throw invalidRequest(`parameter ${name} is too long (at most ${MAX_PARAMETER_LENGTH} characters)`);
    if (value !== '') params[name] = value;
  }
  return params;
}

/** Route parameter decorator for `readForm`. */
export const FormBody = createParamDecorator((_: unknown, context: ExecutionContext): FormParams => {
  return readForm(context.switchToHttp().getRequest<FastifyRequest>());
});
