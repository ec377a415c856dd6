// fetch-with-refresh: the ESM loader of the Go WebAssembly module.
//
//   import { load } from "/js/fetch-with-refresh.mjs";
//   const client = await load({ refreshURL: "/api/auth/refresh" });
//   const res = await client.fetchWithRefresh("/api/departments");
//
// The loader is plumbing: it prepares each call (configured headers on
// same-origin calls, a ReadableStream body buffered so that it can be sent
// twice), sends it with fetch, and asks the module, synchronously, what to
// do before and after each attempt; it carries messages between the tabs
// and turns the module's outcomes into Error objects and events. Every
// decision (which calls may refresh, when, what a login or an ended session
// is, who is told) is made in Go: wasm/ and wasm/refresh. Types:
// fetch-with-refresh.d.ts, which `make test-types` checks against this
// file's JSDoc (tsc with checkJs).

/** @typedef {import("./fetch-with-refresh.js").Options} Options */
/** @typedef {import("./fetch-with-refresh.js").Client} Client */
/** @typedef {import("./fetch-with-refresh.js").Stats} Stats */
/** @typedef {import("./fetch-with-refresh.js").SessionEventType} SessionEventType */
/** @typedef {import("./fetch-with-refresh.js").SessionEventDetail} SessionEventDetail */
/** @typedef {import("./fetch-with-refresh.js").RequestInitWithRefresh} RequestInitWithRefresh */

/**
 * The module's side of the contract (wasm/main.go).
 * @typedef {object} ModuleAPI
 * @property {(url: string, signal: AbortSignal | undefined, expiresMs: number, lifetimeMs: number) => number | Promise<number>} begin
 * @property {(id: number, status: number, expiresMs: number, lifetimeMs: number) => 0 | Promise<void>} end
 * @property {() => string} stats
 * @property {(kind: number, a: number, b: number) => void} session
 */

/** A definite refresh failure: the session is over. */
export class AuthError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.status = status;
  }

  /** @override @type {"AuthError"} */
  name = "AuthError";
}

/** A transient refresh failure: the session is kept; retry later. */
export class RefreshUnavailableError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.status = status;
  }

  /** @override @type {"RefreshUnavailableError"} */
  name = "RefreshUnavailableError";
}

/** The header in which the server states the access token's expiry (Unix ms). */
export const EXPIRES_HEADER = "X-Access-Expires";

/** The header in which the server states the access token's lifetime (ms). */
export const LIFETIME_HEADER = "X-Access-Lifetime";

const DEFAULTS = {
  refreshURL: "/api/auth/refresh",
  loginEndpoint: "/api/auth/login",
  logoutEndpoint: "/api/auth/logout",
  headers: { "X-CSRF": "1" },
  crossTab: true,
  sessionCookie: "accessExpires",
};

/** The name of the Web Lock and of the BroadcastChannel the tabs share. */
const CHANNEL = "fetch-with-refresh";

/** What another tab said, as the module's session(kind, a, b) takes it. */
const TAB_NEWS = { login: 1, refresh: 2, end: 3, logout: 4 };

let instances = 0;

/**
 * Loads the module and resolves to a client once it is ready. Calls made
 * through client.fetchWithRefresh or globalThis.fetchWithRefresh before then
 * wait in a queue. Rejects if the module cannot be fetched or started.
 * @param {Options} [options]
 * @returns {Promise<Client>}
 */
export function load(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const urls = endpoints(opts);
  const tabs = crossTab(opts);
  const events = new EventTarget();
  /** @type {ModuleAPI | undefined} */
  let api;
  /** @type {Error | undefined} */
  let exitError; // set when the Go program has ended
  /** @type {(err: Error) => void} */
  let exit = () => {};
  /** @type {Promise<never>} */
  const exited = new Promise((_, reject) => { exit = reject; });
  exited.catch(() => {}); // only raced against

  const hooks = moduleHooks(opts, urls, tabs, events);
  const key = `__fetchWithRefresh${instances++}`;
  /** @type {Promise<ModuleAPI>} */
  const started = new Promise((resolve, reject) => {
    hooks.ready = (begin, end, stats, session) => {
      delete (/** @type {any} */ (globalThis))[key];
      api = { begin, end, stats, session };
      tabs.listen(api);
      resolve(api);
    };
    /** @type {any} */ (globalThis)[key] = { options: moduleOptions(opts, urls), hooks };
    const wasmURL = new URL(opts.wasmURL ?? "./fetch-with-refresh.wasm", import.meta.url);
    start(wasmURL, opts.wasmExecURL, key).then(({ running }) => running.then(
      () => { throw new Error("fetch-with-refresh: the Go program exited"); },
    ).catch((/** @type {Error} */ err) => {
      exitError = err;
      exit(err);
      reject(err); // ended before ready: load rejects
    }), reject);
  });

  /** @type {(input: RequestInfo | URL, init?: RequestInitWithRefresh) => Promise<Response>} */
  function fetchWithRefresh(input, init) {
    const stream = init?.body instanceof ReadableStream;
    if (!api || stream) { // queued until ready; a stream is read first
      return Promise.all([stream && new Response(init?.body).arrayBuffer(), started])
        .then(([body]) => fetchWithRefresh(input, stream ? /** @type {RequestInitWithRefresh} */ ({ ...init, body: body || null, duplex: undefined }) : init));
    }
    if (exitError) return Promise.reject(exitError);
    let prepared;
    try {
      prepared = prepare(input, init, opts.headers);
    } catch (err) {
      return Promise.reject(err);
    }
    if (prepared.optOut) return fetch(prepared.request);
    return send(api, prepared.request, prepared.signal, tabs.cookie, exited);
  }

  /** @type {Omit<Client, keyof EventTarget>} */
  const methods = {
    fetchWithRefresh,
    /** @param {unknown} body @returns {Promise<Response>} */
    login: (body) => fetchWithRefresh(urls.login, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
    /** @returns {Promise<Response>} */
    logout: () => fetchWithRefresh(urls.logout, { method: "POST" }),
    /** @returns {Promise<Stats>} */
    stats: () => started.then(({ stats }) => {
      const [calls, unauthorized, refreshes, replays, failures, elsewhere, epoch, refreshedByOthers, authFailures] =
        stats().split(" ").map(Number);
      return { calls, unauthorized, refreshes, replays, failures, elsewhere, epoch, refreshedByOthers, authFailures };
    }),
  };
  const client = /** @type {Client} */ (Object.assign(events, methods));
  globalThis.fetchWithRefresh = fetchWithRefresh;
  return started.then(() => client);
}

/**
 * Sends one call: asks the module before the first attempt and after each
 * answer, and waits where it says so. A call with a valid token crosses
 * into Go twice, synchronously.
 * @param {ModuleAPI} api
 * @param {Request} request
 * @param {AbortSignal | undefined} signal the caller's, if any
 * @param {() => Token} cookie reads the session cookie
 * @param {Promise<never>} exited rejects when the Go program ends
 * @returns {Promise<Response>}
 */
async function send(api, request, signal, cookie, exited) {
  const session = cookie();
  let id = api.begin(request.url, signal, session.expiresMs, session.lifetimeMs);
  if (typeof id !== "number") id = await Promise.race([id, exited]);
  if (id === 0) return fetch(request);
  for (;;) {
    let res;
    try {
      res = await fetch(request.body && id > 0 ? request.clone() : request);
    } catch (err) {
      api.end(id, -1, 0, 0);
      throw err;
    }
    let next;
    if (id > 0) next = api.end(id, res.status, 0, 0);
    else {
      const token = tokenOf(res); // a login states the new token
      next = api.end(id, res.status, token.expiresMs, token.lifetimeMs);
    }
    if (next === 0) return res;
    await Promise.race([next, exited]);
  }
}

/**
 * The absolute URLs of the auth endpoints, and the origins whose 401s may
 * refresh: the page's (outside a page, the refresh endpoint's) and those
 * listed in refreshOrigins.
 * @param {Options} opts
 */
function endpoints(opts) {
  const refresh = new URL(opts.refreshURL ?? DEFAULTS.refreshURL, globalThis.location?.href);
  const base = globalThis.location?.href ?? refresh.href; // outside a page, beside the refresh endpoint
  return {
    refresh: refresh.href,
    login: new URL(opts.loginEndpoint ?? DEFAULTS.loginEndpoint, base).href,
    logout: new URL(opts.logoutEndpoint ?? DEFAULTS.logoutEndpoint, base).href,
    origins: [globalThis.location?.origin ?? refresh.origin, ...(opts.refreshOrigins ?? []).map((o) => new URL(o).origin)],
  };
}

/**
 * The options object the module reads (wasm/main.go). Timeouts and windows
 * the page did not set are left to the module's defaults.
 * @param {Options} opts
 * @param {ReturnType<typeof endpoints>} urls
 */
function moduleOptions(opts, urls) {
  return {
    refreshURL: urls.refresh,
    loginURL: urls.login,
    logoutURL: urls.logout,
    origins: urls.origins,
    statusCodes: opts.statusCodes,
    refreshTimeoutMs: opts.refreshTimeoutMs,
    refreshAheadMs: opts.refreshAheadMs,
  };
}

/**
 * The callbacks the module calls (wasm/main.go); ready is set by load.
 * @param {Options} opts
 * @param {ReturnType<typeof endpoints>} urls
 * @param {ReturnType<typeof crossTab>} tabs
 * @param {EventTarget} events
 */
function moduleHooks(opts, urls, tabs, events) {
  return {
    /** @type {(begin: ModuleAPI["begin"], end: ModuleAPI["end"], stats: ModuleAPI["stats"], session: ModuleAPI["session"]) => void} */
    ready: () => {},
    /** @param {number} timeoutMs */
    refreshInit: (timeoutMs) => ({
      method: "POST",
      credentials: "same-origin",
      headers: sameOrigin(urls.refresh) ? opts.headers : {},
      signal: AbortSignal.timeout(timeoutMs),
    }),
    token: tokenOf,
    deferred,
    /** @param {string} name @param {string} message @param {number} status */
    error: (name, message, status) =>
      name === "AuthError" ? new AuthError(message, status)
        : name === "RefreshUnavailableError" ? new RefreshUnavailableError(message, status)
          : new Error(message),
    /**
     * What happened to the session, once per tab: an event on the client,
     * the callbacks of the options, and the news to the other tabs.
     * @param {SessionEventType} type
     * @param {AuthError | RefreshUnavailableError | null} error
     * @param {boolean} elsewhere @param {boolean} otherTab @param {boolean} broadcast
     * @param {number} expiresAt @param {number} lifetime
     */
    emit: (type, error, elsewhere, otherTab, broadcast, expiresAt, lifetime) => {
      if (broadcast) tabs.post({ type, expiresAt, lifetime, status: error?.status ?? 0 });
      /** @type {SessionEventDetail} */
      const detail = { error: error ?? undefined, elsewhere, otherTab, expiresAt };
      events.dispatchEvent(new CustomEvent(type, { detail }));
      if (type === "refresh" && !otherTab) opts.onRefresh?.({ ok: !error, elsewhere, error: error ?? undefined });
      if (type === "end") {
        try {
          opts.onAuthFailure?.(/** @type {AuthError} */ (error));
        } finally {
          if (opts.loginURL) globalThis.location?.assign(opts.loginURL);
        }
      }
    },
    lock: tabs.lock,
    shared: tabs.shared,
  };
}

/**
 * Cross-tab mode: a Web Lock around each refresh, the readable session
 * cookie as the version all tabs share, a BroadcastChannel for the news.
 * Each part falls back to this tab alone where the browser lacks it.
 * @param {Options} opts
 */
function crossTab(opts) {
  const locks = opts.crossTab ? globalThis.navigator?.locks : undefined;
  const inPage = opts.crossTab && typeof document !== "undefined";
  const channel = opts.crossTab && typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  const name = opts.sessionCookie ?? DEFAULTS.sessionCookie;
  const literal = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); // a name is text, not a pattern
  const pattern = new RegExp(`(?:^|;\\s*)(?:__Host-)?${literal}=(\\d+)(?:\\.(\\d+))?`);
  /** @returns {Token} */
  const cookie = () => {
    const m = inPage ? document.cookie.match(pattern) : null;
    return m ? { expiresMs: Number(m[1]), lifetimeMs: Number(m[2] ?? 0) } : NO_TOKEN;
  };
  return {
    cookie,
    shared: inPage ? cookie : undefined,
    /** @type {((timeoutMs: number) => Promise<() => void>) | undefined} resolves to the release function once the lock is held */
    lock: locks && ((timeoutMs) => new Promise((held, failed) => locks.request(CHANNEL,
      { signal: AbortSignal.timeout(timeoutMs) },
      () => new Promise((release) => held(() => release(undefined)))).catch(failed))),
    /** @param {{type: string, expiresAt: number, lifetime: number, status: number}} news */
    post: (news) => channel?.postMessage(news),
    /** @param {ModuleAPI} api */
    listen: (api) => {
      if (!channel) return;
      channel.onmessage = ({ data }) => {
        const kind = TAB_NEWS[/** @type {keyof typeof TAB_NEWS} */ (data?.type)];
        if (kind) api.session(kind, kind === TAB_NEWS.end ? data.status : data.expiresAt, data.lifetime);
      };
    },
  };
}

/**
 * An access token's expiry (Unix ms) and lifetime (ms); 0 when unknown.
 * @typedef {{expiresMs: number, lifetimeMs: number}} Token
 */
const NO_TOKEN = Object.freeze({ expiresMs: 0, lifetimeMs: 0 });

/**
 * The new token that a login or refresh answer states.
 * @param {Response} res
 * @returns {Token}
 */
function tokenOf(res) {
  return { expiresMs: Number(res.headers.get(EXPIRES_HEADER)) || 0, lifetimeMs: Number(res.headers.get(LIFETIME_HEADER)) || 0 };
}

/** A Promise and the functions that settle it (Promise.withResolvers, which Node 20 lacks). */
function deferred() {
  /** @type {{promise?: Promise<unknown>, resolve?: (v: unknown) => void, reject?: (e: unknown) => void}} */
  const d = {};
  d.promise = new Promise((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
}

/**
 * Fetches, instantiates and starts the module. Resolves to { running }, the
 * promise of go.run, which settles when the Go program ends (wrapped, so
 * that this async function does not wait for it).
 */
/** @param {URL} wasmURL @param {string | URL | undefined} wasmExecURL @param {string} key */
async function start(wasmURL, wasmExecURL, key) {
  const fetching = fetch(wasmURL); // in parallel with wasm_exec.js
  fetching.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
  if (typeof globalThis.Go !== "function") {
    await import(new URL(wasmExecURL ?? "./wasm_exec.js", import.meta.url).href);
  }
  const go = new globalThis.Go();
  go.argv = ["fetch-with-refresh", key];
  const response = await fetching;
  if (!response.ok) {
    throw new Error(`fetch-with-refresh: ${wasmURL}: HTTP ${response.status}`);
  }
  let result;
  if (WebAssembly.instantiateStreaming &&
      response.headers.get("Content-Type")?.startsWith("application/wasm")) {
    result = await WebAssembly.instantiateStreaming(response, go.importObject);
  } else { // a server without application/wasm: slower, but works
    result = await WebAssembly.instantiate(await response.arrayBuffer(), go.importObject);
  }
  return { running: go.run(result.instance) };
}

/**
 * Builds the Request every attempt of a call clones: init without the
 * refresh option, and the configured headers on a same-origin call that
 * lacks them; and the caller's AbortSignal, if there is one. (A
 * ReadableStream body has been read into memory before: a stream can be
 * read once, and browsers cannot upload streams over HTTP/1.1.)
 * @param {RequestInfo | URL} input
 * @param {RequestInitWithRefresh | undefined} init
 * @param {Record<string, string> | undefined} headers
 */
function prepare(input, init, headers) {
  let optOut = false;
  if (init && "refresh" in init) {
    optOut = init.refresh === false;
    init = { ...init };
    delete init.refresh;
  }
  const request = new Request(input, init);
  if (sameOrigin(request.url)) {
    for (const [name, value] of Object.entries(headers ?? {})) {
      if (!request.headers.has(name)) request.headers.set(name, value);
    }
  }
  const signal = init?.signal || input instanceof Request ? request.signal : undefined;
  return { request, optOut, signal };
}

/**
 * Same origin as the page; outside a page (Node) every URL is.
 * @param {string} url
 */
function sameOrigin(url) {
  const origin = globalThis.location?.origin;
  return !origin || url.startsWith(origin + "/") || url === origin;
}
