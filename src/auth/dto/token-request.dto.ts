import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

/**
 * The token endpoint's common parameters (RFC 6749 §4, §6). Grant-specific ones are
 * checked by their grant strategy; unknown parameters are ignored (§3.2).
 */
export class TokenRequestDto {
  // class-validator runs the decorators bottom-up and reports the first failure: presence first.
  @MaxLength(256)
  @Matches(/^([a-z_]+|[A-Za-z][A-Za-z0-9+.-]*:\S+)$/, { message: 'grant_type is malformed' })
  @IsString({ message: 'grant_type is required' })
  grant_type!: string;

  @IsOptional()
  @IsString()
  @Matches(/^[\x20-\x7E]*$/, { message: 'scope has invalid characters' })
  scope?: string;
}

/** Every parameter TokenRequestDto validates: the token endpoint remembers verdicts by these. */
export const TOKEN_REQUEST_FIELDS = ['grant_type', 'scope'] as const;
