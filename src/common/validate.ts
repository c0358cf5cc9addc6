import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { invalidRequest, OAuthError } from './oauth-error';

/** Validates plain input against a class-validator DTO; the first failure becomes `invalid_request`. */
export function validateDto<T extends object>(dto: new () => T, input: object): T {
  const instance = plainToInstance(dto, { ...input });
  const errors = validateSync(instance, { forbidUnknownValues: false, stopAtFirstError: true });
  if (errors.length > 0) {
    const constraints = errors[0].constraints ?? {};
    throw invalidRequest(Object.values(constraints)[0] ?? `${errors[0].property} is invalid`);
  }
  return instance;
}

/**
 * `validateDto` for a hot path whose inputs repeat (a token endpoint sees the same
 * grant_type and scope again and again): the verdict depends only on the DTO's `fields`,
 * so it is remembered per combination of their values, and class-validator runs once per
 * combination. At most `max` combinations are kept (the memory is emptied when full). The
 * returned instance is shared: callers read it, never change it.
 */
export function memoizedDtoValidator<T extends object>(
  dto: new () => T,
  fields: readonly (keyof T & string)[],
  max = 1024,
): (input: Readonly<Record<string, string>>) => T {
  const verdicts = new Map<string, T | OAuthError>();
  return (input) => {
    const values = fields.map((field) => input[field]);
    const key = JSON.stringify(values);
    let verdict = verdicts.get(key);
    if (verdict === undefined) {
      const picked: Record<string, string> = {};
      fields.forEach((field, index) => {
        if (values[index] !== undefined) picked[field] = values[index];
      });
      try {
        verdict = validateDto(dto, picked);
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        verdict = error;
      }
      if (verdicts.size >= max) verdicts.clear();
      verdicts.set(key, verdict);
    }
    if (verdict instanceof OAuthError) throw verdict;
    return verdict;
  };
}
