import { recordAuthorization, recordSecretsInBody, recordSecretsInUrl } from './test-run';

/**
 * A vitest setup file (every test process): records the secrets that pass through
 * `fetch` (request URL, Authorization header and form or JSON body; response body and
 * Location header) for the log scan after the suite. The request and the response are
 * passed on untouched; only a clone of the response body is read.
 */
const originalFetch = globalThis.fetch;
type FetchInput = Parameters<typeof fetch>[0];

function recordRequest(input: FetchInput, init: RequestInit | undefined): void {
  const request = input instanceof Request ? input : undefined;
  recordSecretsInUrl(request ? request.url : input instanceof URL ? input : String(input));
  const headers = new Headers(init?.headers ?? request?.headers);
  recordAuthorization(headers.get('authorization'));
  const body = init?.body;
  if (typeof body === 'string') recordSecretsInBody(body, headers.get('content-type'));
  else if (body instanceof URLSearchParams) recordSecretsInBody(body.toString(), 'application/x-www-form-urlencoded');
}

async function recordResponse(response: Response): Promise<void> {
  recordSecretsInUrl(response.headers.get('location'), response.url || undefined);
  const type = response.headers.get('content-type');
  if (!type || !/json|html|x-www-form-urlencoded/.test(type) || response.bodyUsed) return;
  recordSecretsInBody(await response.clone().text(), type);
}

globalThis.fetch = async function recordingFetch(input: FetchInput, init?: RequestInit): Promise<Response> {
  try {
    recordRequest(input, init);
  } catch {
    // recording never changes what the test sends
  }
  const response = await originalFetch(input, init);
  await recordResponse(response).catch(() => undefined);
  return response;
};
