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

export interface LoggedOutPageData {
  /** Front-Channel Logout 1.0: each client's frontchannel_logout_uri (with iss and sid), loaded in hidden iframes. */
  frontChannelUris?: readonly string[];
  /** Where to go once the iframes have loaded (the validated post_logout_redirect_uri with state). */
  continueTo?: string;
}

/** How long the signed-out page waits for front-channel iframes before continuing anyway. */
const FRONT_CHANNEL_WAIT_MS = 3000;

export function loggedOutPage(data: LoggedOutPageData = {}): Page {
  const frames = [...new Set(data.frontChannelUris ?? [])];
  const nonce = frames.length > 0 && data.continueTo ? newNonce() : undefined;
  const iframes = frames
    .map((uri) => `<iframe src="${escapeHtml(uri)}" hidden title="Signing out of an application" width="0" height="0"></iframe>`)
    .join('\n');
  const next = data.continueTo
    ? `<p><a href="${escapeHtml(data.continueTo)}" data-continue="${escapeHtml(data.continueTo)}">Return to the application</a></p>`
    : '<p>You can close this window.</p>';
  // Continue once every iframe has loaded, or after a bounded wait: a slow client must not hold the user.
  const script = nonce
    ? `<script nonce="${nonce}">(function(){var f=document.querySelectorAll('iframe'),n=f.length,d=false,to=document.querySelector('[data-continue]').getAttribute('data-continue');function go(){if(!d){d=true;location.replace(to);}}f.forEach(function(x){x.addEventListener('load',function(){if(--n<=0)go();});});setTimeout(go,${FRONT_CHANNEL_WAIT_MS});})();</script>`
    : '';
  const page = layout({
    title: 'Signed out',
    scriptNonce: nonce,
    body: `<main data-page="logged-out">
<h1>You are signed out</h1>
<p>Your session with this service has ended.</p>
${next}
${iframes}
${script}
</main>`,
  });
  if (frames.length === 0) return page;
  const origins = [...new Set(frames.map((uri) => formTarget(uri)))].join(' ');
  return { ...page, csp: `${page.csp}; frame-src ${origins}` };
}

export interface LogoutConfirmPageData {
  csrfToken: string;
  /** The validated request parameters to carry through the form (post_logout_redirect_uri, state, client_id, ui_locales). */
  params: Record<string, string>;
  clientName?: string | null;
}

/** RP-Initiated Logout 1.0 §2: asks the user before ending the session on a request that cannot be trusted. */
export function logoutConfirmPage(data: LogoutConfirmPageData): Page {
  const fields = Object.entries(data.params)
    .map(([name, value]) => hidden(name, value))
    .join('\n');
  const from = data.clientName ? `<p><span class="client-name">${escapeHtml(data.clientName)}</span> asks to sign you out.</p>` : '';
  return layout({
    title: 'Sign out',
    body: `<main data-page="logout-confirm">
<h1>Sign out of Gatehouse?</h1>
${from}
<form method="post" action="/oauth/logout/confirm">
${hidden('csrf_token', data.csrfToken)}
${fields}
<button type="submit" name="decision" value="logout">Sign out</button>
<button type="submit" name="decision" value="cancel" class="secondary">Cancel</button>
</form>
</main>`,
  });
}

/** The user chose to stay signed in. */
export function logoutCancelledPage(): Page {
  return layout({
    title: 'Still signed in',
    body: `<main data-page="logout-cancelled">
<h1>You are still signed in</h1>
<p>Nothing changed. You can close this window.</p>
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
