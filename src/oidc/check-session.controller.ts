import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { newNonce } from '../pages/html';
import { BROWSER_STATE_COOKIE } from '../sessions/session-cookie';

/**
 * OpenID Connect Session Management 1.0 §3.3: the OP iframe. A relying party frames it and
 * posts "client_id session_state"; the script recomputes the session state from the
 * browser-state cookie and answers "unchanged", "changed" or "error" to that origin only.
 */
function checkSessionPage(nonce: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse session check</title></head>
<body>
<script nonce="${nonce}">
(function () {
  function browserState() {
    var prefix = '${BROWSER_STATE_COOKIE}=';
    var found = document.cookie.split('; ').filter(function (c) { return c.indexOf(prefix) === 0; })[0];
    return found ? found.slice(prefix.length) : '';
  }
  function base64url(bytes) {
    var text = '';
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  }
  window.addEventListener('message', function (event) {
    var parts = typeof event.data === 'string' ? event.data.split(' ') : [];
    var dot = parts.length === 2 ? parts[1].lastIndexOf('.') : -1;
    if (dot < 0) { event.source.postMessage('error', event.origin); return; }
    var salt = parts[1].slice(dot + 1);
    var input = new TextEncoder().encode(parts[0] + ' ' + event.origin + ' ' + browserState() + ' ' + salt);
    crypto.subtle.digest('SHA-256', input).then(function (digest) {
      var expected = base64url(new Uint8Array(digest)) + '.' + salt;
      event.source.postMessage(expected === parts[1] ? 'unchanged' : 'changed', event.origin);
    });
  });
})();
</script>
</body></html>
`;
}

@Controller('oauth/check-session')
export class CheckSessionController {
  @Get()
  @ApiExcludeEndpoint()
  iframe(@Res() reply: FastifyReply): FastifyReply {
    const nonce = newNonce();
    return reply
      .headers({
        'content-type': 'text/html; charset=utf-8',
        // Meant to be framed by relying parties: the one page without frame-ancestors 'none'.
        'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; base-uri 'none'; form-action 'none'`,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
      })
      .send(checkSessionPage(nonce));
  }
}
