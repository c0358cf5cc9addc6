import { escapeHtml, formTarget, layout, newNonce, Page } from './html';

/** What a scope means, in words a person understands; unknown scopes are shown as they are. */
const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are (your account identifier)',
  profile: 'Your name and basic profile',
  email: 'Your email address',
  address: 'Your postal address',
  phone: 'Your phone number',
  offline_access: 'Keep access while you are away',
  'notes:read': 'Read your notes',
  'notes:write': 'Create and delete your notes',
};

const hidden = (name: string, value: string) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;

export interface LoginPageData {
  csrfToken: string;
  returnTo: string;
  clientName?: string;
  username?: string;
  error?: string;
  status?: number;
  formTargets?: string[];
}

export function loginPage(data: LoginPageData): Page {
  const intro = data.clientName
    ? `<p>Sign in to continue to <span class="client-name">${escapeHtml(data.clientName)}</span>.</p>`
    : '<p>Sign in to your account.</p>';
  return layout({
    title: 'Sign in',
    status: data.status,
    formTargets: data.formTargets,
    body: `<main data-page="login">
<h1>Sign in</h1>
${intro}
${data.error ? `<p role="alert">${escapeHtml(data.error)}</p>` : ''}
<form method="post" action="/login">
${hidden('csrf_token', data.csrfToken)}
${hidden('return_to', data.returnTo)}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="${escapeHtml(data.username ?? '')}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main>`,
  });
}

export interface ConsentPageData {
  csrfToken: string;
  returnTo: string;
  clientName: string;
  clientId: string;
  scopes: readonly string[];
  username: string;
  formTargets: string[];
}

export function consentPage(data: ConsentPageData): Page {
  const scopes = data.scopes
    .map((scope) => `<li><code>${escapeHtml(scope)}</code>${SCOPE_DESCRIPTIONS[scope] ? ` — ${escapeHtml(SCOPE_DESCRIPTIONS[scope])}` : ''}</li>`)
    .join('\n');
  return layout({
    title: 'Allow access?',
    formTargets: data.formTargets,
    body: `<main data-page="consent">
<h1>Allow access?</h1>
<p><span class="client-name">${escapeHtml(data.clientName)}</span> wants to access your account <strong>${escapeHtml(data.username)}</strong>:</p>
<ul class="scopes">
${scopes}
</ul>
<form method="post" action="/consent">
${hidden('csrf_token', data.csrfToken)}
${hidden('return_to', data.returnTo)}
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</div>
</form>
<p class="muted">You can withdraw this later. Client id: <code>${escapeHtml(data.clientId)}</code></p>
</main>`,
  });
}

export interface ErrorPageData {
  status: number;
  error: string;
  description: string;
  /** What the person can do about it. */
  hint?: string;
}

export function errorPage(data: ErrorPageData): Page {
  return layout({
    title: 'Something went wrong',
    status: data.status,
    body: `<main data-page="error" data-error="${escapeHtml(data.error)}">
<h1>This request cannot continue</h1>
<p role="alert">${escapeHtml(data.description)}</p>
${data.hint ? `<p>${escapeHtml(data.hint)}</p>` : ''}
<p class="muted">Error code: <code>${escapeHtml(data.error)}</code></p>
</main>`,
  });
}

export function loggedOutPage(): Page {
  return layout({
    title: 'Signed out',
    body: `<main data-page="logged-out">
<h1>You are signed out</h1>
<p>Your session with this service has ended. You can close this window.</p>
</main>`,
  });
}

export function signedInPage(username: string, csrfToken: string): Page {
  return layout({
    title: 'Signed in',
    body: `<main data-page="signed-in">
<h1>You are signed in</h1>
<p>Signed in as <strong>${escapeHtml(username)}</strong>.</p>
<form method="post" action="/logout">${hidden('csrf_token', csrfToken)}<button type="submit" class="secondary">Sign out</button></form>
</main>`,
  });
}

/** OAuth 2.0 Form Post Response Mode: an auto-submitting form to the client's redirect URI. */
export function formPostPage(action: string, params: Record<string, string>): Page {
  const nonce = newNonce();
  const fields = Object.entries(params)
    .map(([name, value]) => hidden(name, value))
    .join('\n');
  return layout({
    title: 'Continuing…',
    formTargets: [formTarget(action)],
    scriptNonce: nonce,
    body: `<main data-page="form-post">
<form method="post" action="${escapeHtml(action)}">
${fields}
<noscript><p>JavaScript is off: press the button to continue.</p><button type="submit">Continue</button></noscript>
</form>
<script nonce="${nonce}">document.forms[0].submit();</script>
</main>`,
  });
}
