import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AppConfig } from '../config/configuration';
import { SIGNING_ALGORITHMS } from '../clients/client-metadata';
import { STANDARD_SCOPES, SUPPORTED_CLAIMS } from '../oidc/claims';
import { ACR_PASSWORD } from '../tokens/id-token.factory';
import { RESPONSE_TYPES } from './authorize.service';
import { GrantRegistry } from './grants/grant-registry';

/**
 * Server metadata, exactly what this server implements: RFC 8414 at
 * /.well-known/oauth-authorization-server and OpenID Connect Discovery 1.0 at
 * /.well-known/openid-configuration (one document, valid for both).
 */
@ApiTags('OAuth 2.0')
@Controller('.well-known')
export class MetadataController {
  constructor(
    private readonly config: AppConfig,
    private readonly grants: GrantRegistry,
  ) {}

  @Get('oauth-authorization-server')
  @Header('Cache-Control', 'public, max-age=300')
  @Header('Access-Control-Allow-Origin', '*')
  @ApiOkResponse({ description: 'RFC 8414 authorization server metadata' })
  oauthMetadata(): Record<string, unknown> {
    return this.metadata();
  }

  @Get('openid-configuration')
  @Header('Cache-Control', 'public, max-age=300')
  @Header('Access-Control-Allow-Origin', '*')
  @ApiOkResponse({ description: 'OpenID Connect Discovery 1.0 provider metadata' })
  openidConfiguration(): Record<string, unknown> {
    return this.metadata();
  }

  private metadata(): Record<string, unknown> {
    const issuer = this.config.issuer;
    return {
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      userinfo_endpoint: `${issuer}/oauth/userinfo`,
      check_session_iframe: `${issuer}/oauth/check-session`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      ...(this.config.registrationEnabled ? { registration_endpoint: `${issuer}/oauth/register` } : {}),
      grant_types_supported: [...this.grants.grantTypes(), 'implicit'],
      response_types_supported: RESPONSE_TYPES,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: [...STANDARD_SCOPES, 'notes:read', 'notes:write'],
      claims_supported: SUPPORTED_CLAIMS,
      claims_parameter_supported: true,
      subject_types_supported: ['public', 'pairwise'],
      id_token_signing_alg_values_supported: SIGNING_ALGORITHMS,
      userinfo_signing_alg_values_supported: SIGNING_ALGORITHMS,
      acr_values_supported: [ACR_PASSWORD],
      prompt_values_supported: ['none', 'login', 'consent', 'select_account'],
      display_values_supported: ['page', 'popup', 'touch'],
      request_parameter_supported: false,
      request_uri_parameter_supported: false,
      require_request_uri_registration: false,
      service_documentation: `${issuer}/docs`,
      end_session_endpoint: `${issuer}/oauth/logout`,
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
      frontchannel_logout_supported: true,
      frontchannel_logout_session_supported: true,
    };
  }
}
