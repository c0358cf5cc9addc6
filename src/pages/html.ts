import { randomBytes } from 'node:crypto';

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A rendered page with the headers it must be sent with. */
export interface Page {
  status: number;
  html: string;
  /** Content-Security-Policy for exactly this page. */
  csp: string;
}

export interface LayoutOptions {
  title: string;
  body: string;
  status?: number;
  /** Where this page's forms (and the redirects that follow them) may go besides 'self'. */
  formTargets?: string[];
  /** A nonce for the page's one inline script (form_post auto-submit). */
  scriptNonce?: string;
}

export const SERVICE_NAME = 'Gatehouse';
export const STYLESHEET_PATH = '/assets/gatehouse.css';

export const newNonce = (): string => randomBytes(16).toString('base64');

/**
 * The one page layout: a small, accessible document with the service name, one
 * stylesheet, and a strict CSP (no script unless the page names a nonce, no framing).
 */
export function layout(options: LayoutOptions): Page {
  const formAction = ["'self'", ...new Set(options.formTargets ?? [])].join(' ');
  const csp = [
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self' data:",
    options.scriptNonce ? `script-src 'nonce-${options.scriptNonce}'` : "script-src 'none'",
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(options.title)} · ${SERVICE_NAME}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<header class="brand"><span aria-hidden="true">⛩</span> ${SERVICE_NAME}</header>
${options.body}
</body>
</html>
`;
  return { status: options.status ?? 200, html, csp };
}

/** The origin of a redirect URI, for form-action (custom schemes are kept whole). */
export function formTarget(uri: string): string {
  try {
    const parsed = new URL(uri);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : `${parsed.protocol}`;
  } catch {
    return "'none'";
  }
}
