import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { invalidRequest } from './oauth-error';

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
