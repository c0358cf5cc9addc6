import { RegisteredClient } from './cluster';
import { basic, jwtPayload } from './http';
import { call, Call, CallInit, LoadRun, Outcome, startLoad } from './load';
import { authorizeCode, WebBrowser } from './web-flow';

/**
 * The mixed traffic of the fault and restart specs, through nginx: refresh-token chains,
 * authorization codes redeemed by a signed-in browser, client_credentials tokens, the sample
 * API with tokens issued earlier, and JWKS. It remembers what it was given (tokens, codes,
 * refresh tokens) and what it lost (a request with no answer from its instance), so that
 * a spec can check afterwards that nothing given was lost and nothing was honoured twice.
 */

export const WORKLOAD_PASSWORD = 'correct horse battery staple';
export const WORKLOAD_REDIRECT_URI = 'http://127.0.0.1:7602/callback';

export interface WorkloadClients {
  /** First party (no consent), authorization_code + refresh_token, scope notes:read. */
  web: RegisteredClient;
  /** password + refresh_token, scope notes:read. */
  mobile: RegisteredClient;
  /** client_credentials, scope notes:read. */
  service: RegisteredClient;
}

/** Metadata of the workload's clients, for `clients create`. */
export const WORKLOAD_CLIENTS = {
  web: {
    client_name: 'Web',
    first_party: true,
    redirect_uris: [WORKLOAD_REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'notes:read',
  },
  mobile: { client_name: 'Mobile', grant_types: ['password', 'refresh_token'], scope: 'notes:read' },
  service: { client_name: 'Reports', grant_types: ['client_credentials'], scope: 'notes:read' },
};

/** A request the load balancer could not complete: what was sent, for a retry and a database check. */
export interface Lost {
  kind: 'refresh' | 'code' | 'other';
  /** The client that sent it. */
  client: RegisteredClient;
  outcome: Outcome;
  /** The refresh token or code presented. */
  presented?: string;
  verifier?: string;
}

export interface Chain {
  /** The client the grant belongs to. */
  client: RegisteredClient;
  /** The refresh token the client holds now (the last one handed out). */
  current: string;
  grantId: string;
  /** Stopped after a lost response: the client does not know whether its token rotated. */
  uncertain: boolean;
}

export interface Workload {
  load: LoadRun;
  /** Every access token handed out, with its grant (if any). */
  accessTokens: { token: string; grantId?: string }[];
  chains: Chain[];
  /** Refresh tokens and codes presented, with how many times each was honoured (200). */
  honoured: Map<string, number>;
  lost: Lost[];
  /** Stops the load; resolves with every request made. */
  stop(): Promise<Outcome[]>;
}

const form = (client: RegisteredClient, body: Record<string, string>): CallInit => ({
  method: 'POST',
  headers: { authorization: basic(client.client_id, client.client_secret!), 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(body).toString(),
});

/** What the workload expects of a healthy service: 200, or the redirect with a code. */
export const succeeded = (outcome: Outcome) => outcome.status === 200 || (outcome.kind === 'authorize' && outcome.status === 302);

/** No answer from the instance: nginx's 502/504, or no response at all. */
export const isLost = (outcome: Outcome) => outcome.status === 0 || outcome.status === 502 || outcome.status === 504;

export async function startWorkload(baseUrl: string, clients: WorkloadClients, options: { chains?: number; concurrency?: number } = {}): Promise<Workload> {
  const accessTokens: Workload['accessTokens'] = [];
  const honoured = new Map<string, number>();
  const lost: Lost[] = [];
  const chains: Chain[] = [];
  const honour = (presented: string) => honoured.set(presented, (honoured.get(presented) ?? 0) + 1);
  const browser: WebBrowser = { headers: { 'x-forwarded-for': '198.51.100.20' } };
  /** Chains with a refresh in progress: a client never sends its refresh token twice at once. */
  const busy = new Set<Chain>();
  // Sign the browser in once before the load starts.
  await authorizeCode(baseUrl, browser, {
    clientId: clients.web.client_id,
    redirectUri: WORKLOAD_REDIRECT_URI,
    scope: 'notes:read',
    username: 'alice',
    password: WORKLOAD_PASSWORD,
  });

  const login = async (recorded: Call): Promise<void> => {
    const outcome = await recorded(
      'login',
      `${baseUrl}/oauth/token`,
      form(clients.mobile, { grant_type: 'password', username: 'alice', password: WORKLOAD_PASSWORD }),
    );
    if (outcome.status !== 200) {
      if (isLost(outcome)) lost.push({ kind: 'other', client: clients.mobile, outcome });
      return;
    }
    const accessToken = outcome.body!.access_token as string;
    const grantId = jwtPayload(accessToken).grant_id as string;
    accessTokens.push({ token: accessToken, grantId });
    chains.push({ client: clients.mobile, current: outcome.body!.refresh_token as string, grantId, uncertain: false });
  };

  const refresh = async (recorded: Call, chain: Chain): Promise<void> => {
    const presented = chain.current;
    const outcome = await recorded('refresh', `${baseUrl}/oauth/token`, form(chain.client, { grant_type: 'refresh_token', refresh_token: presented }));
    if (outcome.status === 200) {
      honour(presented);
      chain.current = outcome.body!.refresh_token as string;
      accessTokens.push({ token: outcome.body!.access_token as string, grantId: chain.grantId });
    } else if (isLost(outcome)) {
      chain.uncertain = true;
      lost.push({ kind: 'refresh', client: chain.client, outcome, presented });
    }
  };

  const code = async (recorded: Call): Promise<void> => {
    let issued;
    try {
      issued = await authorizeCode(baseUrl, browser, { clientId: clients.web.client_id, redirectUri: WORKLOAD_REDIRECT_URI, scope: 'notes:read' }, recorded);
    } catch {
      return; // the failed authorization request is recorded
    }
    const outcome = await recorded(
      'code',
      `${baseUrl}/oauth/token`,
      form(clients.web, { grant_type: 'authorization_code', code: issued.code, redirect_uri: WORKLOAD_REDIRECT_URI, code_verifier: issued.verifier }),
    );
    if (outcome.status === 200) {
      honour(issued.code);
      const accessToken = outcome.body!.access_token as string;
      const grantId = jwtPayload(accessToken).grant_id as string;
      accessTokens.push({ token: accessToken, grantId });
      chains.push({ client: clients.web, current: outcome.body!.refresh_token as string, grantId, uncertain: false });
    } else if (isLost(outcome)) {
      lost.push({ kind: 'code', client: clients.web, outcome, presented: issued.code, verifier: issued.verifier });
    }
  };

  const machine = async (recorded: Call): Promise<void> => {
    const outcome = await recorded('client_credentials', `${baseUrl}/oauth/token`, form(clients.service, { grant_type: 'client_credentials' }));
    if (outcome.status === 200) accessTokens.push({ token: outcome.body!.access_token as string });
    else if (isLost(outcome)) lost.push({ kind: 'other', client: clients.service, outcome });
  };

  const reader = async (recorded: Call): Promise<void> => {
    const pick = accessTokens[Math.floor(Math.random() * accessTokens.length)];
    if (pick) await recorded('api', `${baseUrl}/api/me`, { headers: { authorization: `Bearer ${pick.token}` } });
    await recorded('jwks', `${baseUrl}/.well-known/jwks.json`);
  };

  for (let i = 0; i < (options.chains ?? 4); i++) await login(call);

  const load = startLoad(options.concurrency ?? 6, async (worker, recorded) => {
    switch (worker % 6) {
      case 0:
      case 1: {
        const live = chains.filter((chain) => !chain.uncertain);
        const chain = live[Math.floor(Math.random() * live.length)];
        if (chain && !busy.has(chain)) {
          busy.add(chain);
          try {
            await refresh(recorded, chain);
          } finally {
            busy.delete(chain);
          }
        } else await login(recorded);
        return;
      }
      case 2:
        return code(recorded);
      case 3:
        return machine(recorded);
      default:
        return reader(recorded);
    }
  });

  return {
    load,
    accessTokens,
    chains,
    honoured,
    lost,
    stop: () => load.stop(),
  };
}
