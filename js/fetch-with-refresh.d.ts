// Types of fetch-with-refresh.mjs, the loader of the fetch-with-refresh
// WebAssembly module. Checked by `make test` with tsc.

/** Options of load(); every field is optional. */
export interface Options {
  /** URL of the module. Default: fetch-with-refresh.wasm beside the loader. */
  wasmURL?: string | URL;
  /** URL of Go's wasm_exec.js, if globalThis.Go is not defined yet. Default: beside the loader. */
  wasmExecURL?: string | URL;
  /** The refresh endpoint, called with POST. Never intercepted. Default "/api/auth/refresh". */
  refreshURL?: string;
  /** Statuses that mean "the access token was not accepted". Default [401]. */
  statusCodes?: number[];
  /** Headers added to every same-origin call that lacks them. Default {"X-CSRF": "1"}. */
  headers?: Record<string, string>;
  /** Timeout of one refresh, in ms. Default 10000. */
  refreshTimeoutMs?: number;
  /**
   * When the server states the token's expiry (X-Access-Expires), a call made
   * within this many ms of it refreshes first. 0 turns it off. Default 30000.
   */
  refreshAheadMs?: number;
  /**
   * Coordinate the tabs of this browser: one refresh per expiry in the whole
   * browser (a Web Lock around each refresh, and the session cookie as a
   * version all tabs read), and a definite failure or a login in one tab
   * reaches every tab (BroadcastChannel). Each part falls back to per-tab
   * behaviour where the browser lacks it. Default true.
   */
  crossTab?: boolean;
  /** The readable cookie with the access token's expiry (Unix ms) that the server sets. Default "accessExpires". */
  sessionCookie?: string;
  /** Called once per definite refresh failure (the session is over), in every tab. */
  onAuthFailure?: (error: AuthError) => void;
  /** Called after every refresh with its outcome. */
  onRefresh?: (event: RefreshEvent) => void;
  /** Where the page goes after a definite refresh failure. Default: nowhere. */
  loginURL?: string;
}

/** The outcome of one refresh. */
export interface RefreshEvent {
  ok: boolean;
  /** Another tab had refreshed already: this tab sent no refresh. */
  elsewhere: boolean;
  error?: AuthError | RefreshUnavailableError;
}

/** fetch's init, with a per-call opt-out of refreshing. */
export interface RequestInitWithRefresh extends RequestInit {
  /** false: send this call with plain fetch, never refresh or replay it. */
  refresh?: boolean;
}

/** Same arguments as fetch; resolves to the real Response of the last attempt. */
export type FetchWithRefresh = (
  input: RequestInfo | URL,
  init?: RequestInitWithRefresh,
) => Promise<Response>;

/** Counters of what one client did. */
export interface Stats {
  /** Calls that went through the refresh policy. */
  calls: number;
  /** Attempts answered with one of statusCodes. */
  unauthorized: number;
  /** Refreshes started by this client (those found done by another tab included). */
  refreshes: number;
  /** Refreshes this client found already done by another tab. */
  elsewhere: number;
  /** Refreshes that other tabs announced. */
  refreshedByOthers: number;
  /** Attempts sent again after a refresh. */
  replays: number;
  /** Calls that ended with a refresh error. */
  failures: number;
  /** Successful refreshes and logins seen so far. */
  epoch: number;
  /** Definite refresh failures reported to onAuthFailure. */
  authFailures: number;
}

/** A loaded module. */
export interface Client {
  fetchWithRefresh: FetchWithRefresh;
  stats(): Promise<Stats>;
}

/** A definite refresh failure (the refresh endpoint answered 401 or 403). */
export class AuthError extends Error {
  constructor(message: string, status: number);
  readonly name: "AuthError";
  /** The refresh endpoint's status. */
  readonly status: number;
}

/** A transient refresh failure: no answer, a timeout, or another status. The session is kept. */
export class RefreshUnavailableError extends Error {
  constructor(message: string, status: number);
  readonly name: "RefreshUnavailableError";
  /** The refresh endpoint's status, or 0 when no answer arrived. */
  readonly status: number;
}

/** The response header in which the server states the access token's expiry (Unix ms). */
export const EXPIRES_HEADER: "X-Access-Expires";

/**
 * Loads the module; also sets globalThis.fetchWithRefresh at once (calls
 * wait until the module is ready).
 */
export function load(options?: Options): Promise<Client>;

declare global {
  /** Set by load(). */
  var fetchWithRefresh: FetchWithRefresh | undefined;
}
