// Types of fetch-with-refresh.mjs, the loader of the fetch-with-refresh
// WebAssembly module. `make test-types` checks them with tsc, and checks
// the loader's implementation against them (checkJs: its JSDoc imports
// these types, so the two cannot drift).

/** Options of load(); every field is optional. */
export interface Options {
  /** URL of the module. Default: fetch-with-refresh.wasm beside the loader. */
  wasmURL?: string | URL;
  /** URL of Go's wasm_exec.js, if globalThis.Go is not defined yet. Default: beside the loader. */
  wasmExecURL?: string | URL;
  /** The refresh endpoint, called with POST. Never intercepted. Default "/api/auth/refresh". */
  refreshURL?: string;
  /**
   * The login endpoint: never intercepted (a wrong password resolves to its
   * 401 Response); a 2xx answer starts a session (the "login" event).
   * client.login() posts to it. Default "/api/auth/login".
   */
  loginEndpoint?: string;
  /** The logout endpoint: never intercepted; a 2xx answer ends the session (the "logout" event, in every tab). Default "/api/auth/logout". */
  logoutEndpoint?: string;
  /**
   * Origins, besides the page's, whose 401s mean our session needs a
   * refresh (an API on another host that takes our cookies). A 401 from
   * any other origin is returned as it is. Default [].
   */
  refreshOrigins?: string[];
  /** Statuses that mean "the access token was not accepted". Default [401]. */
  statusCodes?: number[];
  /** Headers added to every same-origin call that lacks them. Default {"X-CSRF": "1"}. */
  headers?: Record<string, string>;
  /**
   * Timeout of one refresh (the wait for the cross-tab lock included), in
   * ms; then RefreshUnavailableError. Default 10000, above the server's
   * auth timeout (8 s), so a hanging auth server arrives as the server's 504.
   */
  refreshTimeoutMs?: number;
  /**
   * When the token's expiry is known (the session cookie, X-Access-Expires),
   * a call made within this many ms of it refreshes first; never more than
   * a quarter of the token's lifetime (X-Access-Lifetime), so a token that
   * was just issued is never refreshed ahead. 0 turns it off. Default 30000.
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
  /**
   * The readable cookie with the access token's expiry (Unix ms, then
   * optionally "." and its lifetime in ms) that the server sets; found with
   * or without a "__Host-" prefix. Default "accessExpires".
   */
  sessionCookie?: string;
  /** Called once per ended session (a definite refresh failure), in every tab: the "end" event. */
  onAuthFailure?: (error: AuthError) => void;
  /** Called after every refresh this tab made, with its outcome. */
  onRefresh?: (event: RefreshEvent) => void;
  /** Where the page goes after a definite refresh failure. Default: nowhere. */
  loginURL?: string;
  /** The session endpoint that client.session() reads. Default "/api/auth/session". */
  sessionURL?: string;
  /**
   * Fetch and start the module at once: load() then resolves once the
   * module's file has answered, and rejects if it cannot be fetched. By
   * default (false) the module stays off the page's critical path: it is
   * fetched when first needed (an answer with a refresh status; a refresh
   * ahead coming due, which the session cookie tells, with time to spare
   * for a slow link) or once the page has loaded and the browser is idle,
   * at low priority, whichever comes first. Outside a page (no document),
   * always at once.
   */
  eager?: boolean;
}

/**
 * What the server knows of the user: the claims it was told to keep
 * (-session-claims; by default sub, name, email, picture,
 * preferred_username), from the ID token or the login answer's "user".
 * Never a token.
 */
export interface User {
  sub?: string;
  name?: string;
  email?: string;
  picture?: string;
  preferred_username?: string;
  [claim: string]: unknown;
}

/** The answer of the session endpoint (client.session()). */
export type SessionInfo =
  | {
      authenticated: true;
      /** The access token's expiry (Unix ms). */
      expiresAt: number;
      /** The access token's lifetime (ms). */
      lifetimeMs: number;
      /** When the session cookie expires (Unix ms). */
      sessionExpiresAt: number;
      user: User;
    }
  | { authenticated: false };

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
  /** Calls to our origins (not the auth endpoints, not refresh: false). */
  calls: number;
  /**
   * Of those, the calls sent without asking the module: under the lease it
   * granted (nothing due or in progress), or before it ran.
   */
  leased: number;
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
  /** Ended sessions reported to the page ("end" events, onAuthFailure). */
  authFailures: number;
}

/**
 * The session events, each fired once per tab:
 * - "login": a session started (a login here or in another tab, or a new
 *   session cookie after an ended one);
 * - "refresh": a new access token (this tab's refresh, ok or not, or
 *   another tab's: detail.otherTab);
 * - "end": the session ended: a refresh was rejected (detail.error);
 * - "logout": a logout, here or in another tab.
 */
export type SessionEventType = "login" | "refresh" | "end" | "logout";

/** The detail of a session event. */
export interface SessionEventDetail {
  /** The refresh's error ("refresh" that failed, "end"). */
  error?: AuthError | RefreshUnavailableError;
  /** "refresh": another tab had refreshed already, this tab sent none. */
  elsewhere: boolean;
  /** The news came from another tab. */
  otherTab: boolean;
  /** The new access token's expiry (Unix ms), 0 if unknown. */
  expiresAt: number;
  /** "login", "refresh": the user, as the server's answer said (undefined if it said nothing). */
  user?: User;
}

/** A loaded module: the fetch, the session's lifecycle, its events. */
export interface Client extends EventTarget {
  fetchWithRefresh: FetchWithRefresh;
  /** POSTs body (JSON unless a string) to the login endpoint; resolves to its Response (a 401 for a wrong password). */
  login(body: unknown): Promise<Response>;
  /** POSTs to the logout endpoint; resolves to its Response. Every tab gets the "logout" event. */
  logout(): Promise<Response>;
  /** Resolves once the counters can be read (the module runs). */
  stats(): Promise<Stats>;
  /**
   * Asks the server who is logged in (GET sessionURL): never a 401, never
   * a token. Rejects only when the server cannot be reached or answers
   * with an error.
   */
  session(): Promise<SessionInfo>;
  /**
   * Resolves when the module runs (by default once it was needed or the
   * page went idle after its load event: see Options.eager); rejects if it
   * cannot be fetched, compiled or started (a Content-Security-Policy
   * without 'wasm-unsafe-eval', a corrupt file), with the error that the
   * calls needing the module (an answer with a refresh status) reject with
   * from then on. Calls need not wait for it: until then they are sent at
   * once, and only an answer with a refresh status waits for the module.
   */
  ready: Promise<void>;
  addEventListener(type: SessionEventType, listener: (event: CustomEvent<SessionEventDetail>) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: SessionEventType, listener: (event: CustomEvent<SessionEventDetail>) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
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

/** The response header in which the server states the access token's lifetime (ms). */
export const LIFETIME_HEADER: "X-Access-Lifetime";

/**
 * Sets globalThis.fetchWithRefresh and resolves to a client at once: calls
 * can be made from the start, and go out at once; the module is needed
 * only when an answer has a refresh status or a refresh ahead comes due
 * (see Options.eager and Client.ready). With eager: true it starts
 * loading the module at once and resolves as soon as the module's file
 * has answered (its body streams on into the compiler), and rejects if it
 * cannot be fetched.
 */
export function load(options?: Options): Promise<Client>;

declare global {
  /** Set by load(). */
  var fetchWithRefresh: FetchWithRefresh | undefined;
}
