import { getMetadataStorage, IsOptional, IsString, Matches } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { TOKEN_REQUEST_FIELDS, TokenRequestDto } from '../auth/dto/token-request.dto';
import { OAuthError } from './oauth-error';
import { memoizedDtoValidator, validateDto } from './validate';

class ExampleDto {
  @Matches(/^[a-z]+$/, { message: 'name must be lowercase letters' })
  @IsString({ message: 'name is required' })
  name!: string;

  @IsOptional()
  @IsString()
  note?: string;
}

describe('memoizedDtoValidator', () => {
  it('gives the same verdicts as validateDto, for valid and invalid input', () => {
    const validate = memoizedDtoValidator(ExampleDto, ['name', 'note']);
    const inputs: Record<string, string>[] = [{ name: 'alice' }, { name: 'Alice' }, {}, { name: 'bob', note: 'x' }, { name: 'alice' }, { name: 'Alice' }];
    for (const input of inputs) {
      let expected: unknown;
      try {
        expected = validateDto(ExampleDto, input);
      } catch (error) {
        expected = error;
      }
      if (expected instanceof OAuthError) {
        expect(() => validate(input)).toThrow(expected.message);
      } else {
        expect(validate(input)).toEqual(expected);
      }
    }
  });

  it('tells an absent field from any value, including separators and the text "undefined"', () => {
    const validate = memoizedDtoValidator(ExampleDto, ['name', 'note']);
    expect(() => validate({})).toThrow(/name is required/);
    expect(() => validate({ name: 'undefined', note: '' })).not.toThrow();
    expect(() => validate({ name: 'a","b' })).toThrow(/lowercase/);
    expect(validate({ name: 'a', note: '","b' }).note).toBe('","b');
  });

  it('ignores fields it was not told about, and forgets everything when full', () => {
    const validate = memoizedDtoValidator(ExampleDto, ['name', 'note'], 2);
    expect(validate({ name: 'a', other: 'x' }).name).toBe('a');
    for (const name of ['b', 'c', 'd']) expect(validate({ name }).name).toBe(name);
    expect(() => validate({ name: 'E' })).toThrow(/lowercase/);
  });

  it('TOKEN_REQUEST_FIELDS names every field TokenRequestDto validates (the token endpoint remembers verdicts by them)', () => {
    const validated = new Set(
      getMetadataStorage()
        .getTargetValidationMetadatas(TokenRequestDto, '', true, false)
        .map((rule) => rule.propertyName),
    );
    expect([...validated].sort()).toEqual([...TOKEN_REQUEST_FIELDS].sort());
  });
});
