// fetch-with-refresh: the ESM loader of the Go WebAssembly module.
//
//   import { load } from "/js/fetch-with-refresh.mjs";
//   const client = await load({ refreshURL: "/api/auth/refresh" });
//   const res = await client.fetchWithRefresh("/api/departments");
//
// The loader owns the fast path: it prepares each call (configured headers
// on same-origin calls, a ReadableStream body buffered so that it can be
// sent twice), sorts it by URL (the auth endpoints, other origins, ours),
// sends it with fetch under the lease it holds, and numbers and watches
// the attempts that could be withdrawn (idempotent ones, while another is
// out). It asks the module, synchronously, what to do when it holds no
// lease and when an attempt is refused; it carries messages between the
// tabs and turns the module's outcomes into Error objects and events. Every
// other decision (when to refresh, when a lease holds or lapses, which
// attempts to withdraw, what a login or an ended session is, who is told)
// is made in Go: refresh/, internal/lease/ and wasm/. The names and numbers
// the two share are CONTRACT below. Types: fetch-with-refresh.d.ts,
// which `make test-types` checks against this file's JSDoc (tsc with
// checkJs).

/** @typedef {import("./fetch-with-refresh.js").Options} Options */
/** @typedef {import("./fetch-with-refresh.js").Client} Client */
/** @typedef {import("./fetch-with-refresh.js").Stats} Stats */
/** @typedef {import("./fetch-with-refresh.js").SessionEventType} SessionEventType */
/** @typedef {import("./fetch-with-refresh.js").SessionEventDetail} SessionEventDetail */
/** @typedef {import("./fetch-with-refresh.js").RequestInitWithRefresh} RequestInitWithRefresh */
/** @typedef {import("./fetch-with-refresh.js").User} User */
/** @typedef {import("./fetch-with-refresh.js").SessionInfo} SessionInfo */

/**
 * What the page's loader knows of the session: the user the server's last
 * login or refresh answer named (here or in another tab).
 * @typedef {{user: User | undefined}} SessionState
 */

/**
 * The module's side of the contract (wasm/main.go).
 * @typedef {object} ModuleAPI
 * @property {(signal: AbortSignal | undefined, expiresMs: number, lifetimeMs: number) => number | Promise<number>} begin
 * @property {(id: number, status: number, signal: AbortSignal | undefined, expiresMs?: number, lifetimeMs?: number, n?: number) => 0 | Promise<number>} end
 * @property {() => string} stats
 * @property {(kind: number, a: number, b: number) => void} session
 */

/**
 * What a page's loader keeps between calls: the module, the lease the
 * module granted (wasm/main.go), and the attempts that may be withdrawn.
 * @typedef {object} Core
 * @property {ModuleAPI | undefined} api the module's functions, once it runs
 * @property {Lease} lease
 * @property {number} fast calls sent under a lease, without begin (stats().leased)
 * @property {Map<number, Map<AbortController, number>>} pending withdrawable attempts (and when they were sent), by lease
 * @property {number} out first attempts waiting for their answers
 * @property {number} sent first attempts sent so far: each one's number
 * @property {number[]} statuses the statuses that mean "token refused"
 * @property {() => string} raw reads the cookies as the lease compares them
 * @property {(raw: string) => Token} parse reads the session cookie from them
 * @property {Promise<ModuleAPI>} module resolves when the module runs; rejects if it fails to start
 * @property {Promise<never>} exited rejects when the Go program ends (or fails to start)
 * @property {() => Promise<ModuleAPI>} need starts loading the module (if it has not started) and returns module
 * @property {(token: Token) => void} ahead starts loading the module in time for a refresh ahead of token's expiry
 */

/**
 * A lease: while the cookies read as cookie and Date.now() is before until,
 * calls are sent under id without asking the module.
 * @typedef {{id: number, until: number, cookie: string}} Lease
 */
const NO_LEASE = Object.freeze({ id: 0, until: 0, cookie: "" });


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
  sessionURL: "/api/auth/session",
  headers: { "X-CSRF": "1" },
  crossTab: true,
  sessionCookie: "accessExpires",
};

/** The name of the Web Lock and of the BroadcastChannel the tabs share. */
const CHANNEL = "fetch-with-refresh";

/** The localStorage key of the last transient refresh failure: "token.atMs.status". */
const FAILED_KEY = "fetch-with-refresh:refresh-failed";

/**
 * The contract with the module, as package lease defines it
 * (internal/lease/contract.go): the hooks' names, the kinds of news that
 * session(kind, a, b) takes, the status of a withdrawn attempt, the order
 * of the stats() counters, the methods whose attempts may be withdrawn,
 * and the default refresh-ahead window (ms). Written as JSON: a Go test
 * reads it and fails when the two differ.
 */
const CONTRACT = Object.freeze({
  "hooks": ["ready", "lease", "withdraw", "refresh", "deferred", "error", "emit", "lock", "shared"],
  "tabNews": { "login": 1, "refresh": 2, "end": 3, "logout": 4 },
  "here": { "login": 5, "logout": 6 },
  "withdrawn": 0,
  "stats": ["calls", "unauthorized", "refreshes", "replays", "failures", "elsewhere", "epoch", "refreshedByOthers", "authFailures"],
  "idempotent": ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"],
  "aheadMs": 30000
});

/** What another tab said, as the module's session(kind, a, b) takes it. */
const TAB_NEWS = CONTRACT.tabNews;

/** How the loader sorts a call (kindOf). */
const OURS = 0, LOGIN = 1, LOGOUT = 2, PLAIN = 3;

/** What the module's session(kind, a, b) takes for a 2xx answer of the login or logout endpoint here. */
const LOGGED_IN = CONTRACT.here.login, LOGGED_OUT = CONTRACT.here.logout;

/** The reason an attempt is withdrawn with (hooks.withdraw). */
const WITHDRAWN = new Error("fetch-with-refresh: attempt withdrawn, its token was refused");

/** Methods whose attempts may be withdrawn and sent again (RFC 9110, 9.2.2). */
const IDEMPOTENT = new Set(CONTRACT.idempotent);

let instances = 0;

/**
 * How long before a refresh ahead comes due the module is fetched when it
 * has not been yet (ms): its download on a slow mobile link (about 600 KB
 * brotli at 1.6 Mbps: 3 s), its compilation and a margin.
 */
const MODULE_LEAD_MS = 10_000;

/**
 * Resolves to a client at once (options.eager: once the module's file has
 * answered, rejecting if it cannot be fetched). Calls made through
 * client.fetchWithRefresh or globalThis.fetchWithRefresh go out at once,
 * before the module runs too (under lease 0): only an answer with a
 * refresh status waits for it. The module is fetched when first needed (a
 * refresh status; a refresh ahead coming due) or once the page has loaded
 * and is idle, at low priority; options.eager fetches it at once.
 * client.ready says when it runs.
 * @param {Options} [options]
 * @returns {Promise<Client>}
 */
export function load(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const urls = endpoints(opts);
  const tabs = crossTab(opts);
  const events = new EventTarget();
  /** @type {(err: Error) => void} */
  let exit = () => {};
  /** @type {Promise<never>} */
  const exited = new Promise((_, reject) => { exit = reject; });
  exited.catch(() => {}); // only raced against

  /** @type {SessionState} */
  const state = { user: undefined };
  const hooks = moduleHooks(opts, urls, tabs, events, state);
  const key = `__fetchWithRefresh${instances++}`;
  /** @type {(api: ModuleAPI) => void} */
  let ready = () => {};
  /** @type {Promise<ModuleAPI>} */
  const started = new Promise((resolve) => { ready = resolve; });
  /** @type {Core} */
  const core = {
    api: undefined, lease: NO_LEASE, fast: 0, pending: new Map(), out: 0, sent: 0, statuses: urls.statuses,
    raw: tabs.raw, parse: tabs.parse, module: Promise.race([started, exited]), exited,
    need: () => { loadModule("auto"); return core.module; },
    ahead: (token) => {
      if (fetched || !token.expiresMs || token.expiresMs === aheadOf) return;
      aheadOf = token.expiresMs;
      const aheadMs = Math.min(opts.refreshAheadMs ?? CONTRACT.aheadMs, token.lifetimeMs > 0 ? token.lifetimeMs / 4 : Infinity);
      const delay = token.expiresMs - aheadMs - MODULE_LEAD_MS - Date.now();
      clearTimeout(aheadTimer);
      aheadTimer = setTimeout(() => loadModule("auto"), Math.min(Math.max(delay, 0), 2 ** 31 - 1));
    },
  };
  /** @type {ReturnType<typeof setTimeout> | undefined} the timer of core.ahead, for the token that expires at aheadOf */
  let aheadTimer, aheadOf = 0;
  /** @type {Promise<void> | undefined} set once the module is being fetched */
  let fetched;
  hooks.ready = (begin, end, stats, session) => {
    delete (/** @type {any} */ (globalThis))[key];
    core.api = { begin, end, stats, session };
    ready(core.api);
  };
  hooks.lease = (id, untilMs) => {
    core.lease = id ? { id, until: untilMs || Infinity, cookie: tabs.raw() } : NO_LEASE;
  };
  hooks.withdraw = (id, after) => {
    core.pending.get(id)?.forEach((n, ctl) => n > after && ctl.abort(WITHDRAWN));
  };
  tabs.listen(core, state);
  /** @type {any} */ (globalThis)[key] = { options: moduleOptions(opts, urls), hooks };
  /**
   * Starts fetching, compiling and running the module, once.
   * @param {"low" | "auto"} priority the fetch's
   */
  function loadModule(priority) {
    if (fetched) return;
    clearTimeout(aheadTimer);
    // module.mjs too is fetched only now: nothing of the module's is on
    // the page's critical path (a bundler makes it a chunk of its own).
    const loading = import("./module.mjs").then(({ start }) => start(opts, key, priority));
    fetched = loading.then((l) => l.fetched);
    fetched.catch(() => {}); // reported by running, below
    // A module that fails to start or ends: calls go on as before it ran,
    // and those that need it (a refresh status) reject with the error.
    loading.then((l) => l.running).then(() => { throw new Error("fetch-with-refresh: the Go program exited"); })
      .catch((/** @type {Error} */ err) => {
        core.api = undefined;
        core.lease = NO_LEASE;
        core.module = Promise.reject(err);
        core.module.catch(() => {});
        exit(err);
      });
  }

  /** @type {(input: RequestInfo | URL, init?: RequestInitWithRefresh) => Promise<Response>} */
  function fetchWithRefresh(input, init) {
    if (init?.body instanceof ReadableStream) { // read first: sent twice, perhaps
      return new Response(init.body).arrayBuffer()
        .then((body) => fetchWithRefresh(input, /** @type {RequestInitWithRefresh} */ ({ ...init, body, duplex: undefined })));
    }
    let prepared;
    try {
      prepared = prepare(input, init, opts.headers);
    } catch (err) {
      return Promise.reject(err);
    }
    const { request, signal } = prepared;
    const kind = prepared.optOut ? PLAIN : kindOf(request.url, urls);
    if (kind === OURS) return send(core, request, signal);
    if (kind === PLAIN) return fetch(request);
    return authCall(core, kind, request, state);
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
    stats: () => core.module.then(({ stats }) => {
      const counts = stats().split(" ").map(Number);
      const named = Object.fromEntries(CONTRACT.stats.map((name, i) => [name, counts[i]]));
      return /** @type {Stats} */ ({ ...named, calls: named.calls + core.fast, leased: core.fast });
    }),
    ready: core.module.then(() => undefined),
    /** @returns {Promise<SessionInfo>} */
    session: () => fetch(urls.session, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((res) => {
        if (!res.ok) throw new Error(`fetch-with-refresh: the session endpoint answered ${res.status}`);
        return res.json();
      }),
  };
  methods.ready.catch(() => {}); // a page that never awaits it hears of a failure from its calls
  const client = /** @type {Client} */ (Object.assign(events, methods));
  globalThis.fetchWithRefresh = fetchWithRefresh;
  if (opts.eager || typeof document === "undefined") {
    loadModule("auto");
    return /** @type {Promise<void>} */ (fetched).then(() => client);
  }
  core.ahead(tabs.parse(tabs.raw()));
  whenIdle(() => loadModule("low"));
  return Promise.resolve(client);
}

/**
 * Runs fn once the page has loaded (its load event) and the browser is
 * idle: in an idle period (requestIdleCallback, 2 s at the latest), else
 * as a background task (scheduler.postTask), else at the next turn.
 * @param {() => void} fn
 */
function whenIdle(fn) {
  const g = /** @type {any} */ (globalThis);
  const idle = () => {
    if (typeof g.requestIdleCallback === "function") g.requestIdleCallback(fn, { timeout: 2000 });
    else if (typeof g.scheduler?.postTask === "function") g.scheduler.postTask(fn, { priority: "background" });
    else setTimeout(fn, 0);
  };
  if (document.readyState === "complete") idle();
  else g.addEventListener("load", idle, { once: true });
}

/**
 * Sends one call to our origins: under the lease the loader holds, or the
 * one begin gives, and asks the module again only when an attempt is
 * refused or withdrawn. A call with a valid token does not cross into Go.
 * @param {Core} core
 * @param {Request} request
 * @param {AbortSignal | undefined} signal the caller's, if any
 * @returns {Promise<Response>}
 */
async function send(core, request, signal) {
  const { api, lease } = core;
  let id = 0; // before the module runs, every call is sent under lease 0
  /** @type {Token} */
  let token = NO_TOKEN; // and the module learns the session cookie it was sent with
  const cookies = core.raw();
  if (!api) {
    core.fast++;
    token = core.parse(cookies);
    core.ahead(token);
  } else if (lease.id && cookies === lease.cookie && Date.now() < lease.until) {
    id = lease.id;
    core.fast++;
  } else {
    const now = core.parse(cookies);
    const v = api.begin(signal, now.expiresMs, now.lifetimeMs);
    id = typeof v === "number" ? v : await Promise.race([v, core.exited]);
  }
  for (;;) {
    const replay = id < 0; // a replay's id is its call's; an attempt under a lease, the lease's
    // An attempt sent while no other one waits for its answer cannot be
    // withdrawn by another's 401 (so a call at a time costs no
    // AbortController, and no second Request inside fetch); the next ones
    // can be.
    const n = replay ? 0 : ++core.sent;
    const ctl = replay || !core.out ? undefined : watch(core.pending, id, n, request, signal);
    if (!replay) core.out++;
    /** @type {Response | undefined} */
    let res;
    try {
      const attempt = request.body && !replay ? request.clone() : request;
      res = await (ctl ? fetch(attempt, { signal: signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal }) : fetch(attempt));
    } catch (err) {
      if (ctl?.signal.reason !== WITHDRAWN) {
        if (replay) core.api?.end(id, -1, signal);
        throw err;
      }
    } finally {
      if (!replay) core.out--;
      if (ctl) unwatch(core.pending, id, ctl);
    }
    if (ctl?.signal.aborted) res = undefined; // withdrawn, perhaps after its answer came
    // (The module decides what a refresh status means; the loader only
    // spares it the answers that cannot be one.)
    if (res && !replay && !core.statuses.includes(res.status)) return res;
    const module = core.api ?? await untilAborted(core.need(), signal);
    const next = module.end(id, res?.status ?? CONTRACT.withdrawn, signal, token.expiresMs, token.lifetimeMs, n);
    if (next === 0) {
      if (res) return res;
      throw new Error("fetch-with-refresh: the module could not wait for the refresh");
    }
    id = await Promise.race([next, core.exited]);
  }
}

/**
 * Registers attempt n under lease id if it may be withdrawn (an idempotent
 * one), and returns the AbortController that withdraws it; undefined for
 * the others.
 * @param {Map<number, Map<AbortController, number>>} pending
 * @param {number} id
 * @param {number} n
 * @param {Request} request
 * @param {AbortSignal | undefined} signal the caller's, if any
 */
function watch(pending, id, n, request, signal) {
  if (signal && typeof AbortSignal.any !== "function") return undefined;
  if (!IDEMPOTENT.has(request.method) && !request.headers.has("Idempotency-Key")) return undefined;
  const ctl = new AbortController();
  let attempts = pending.get(id);
  if (!attempts) pending.set(id, attempts = new Map());
  attempts.set(ctl, n);
  return ctl;
}

/**
 * Waits for promise, or rejects with the reason of signal's abort first.
 * @template T
 * @param {Promise<T>} promise
 * @param {AbortSignal | undefined} signal
 * @returns {Promise<T>}
 */
function untilAborted(promise, signal) {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/**
 * Forgets an attempt that watch registered.
 * @param {Map<number, Map<AbortController, number>>} pending
 * @param {number} id
 * @param {AbortController} ctl
 */
function unwatch(pending, id, ctl) {
  const attempts = pending.get(id);
  if (attempts?.delete(ctl) && !attempts.size) pending.delete(id);
}

/**
 * Sends a call to the login or logout endpoint once, and tells the module
 * when it succeeded (once it runs).
 * @param {Core} core
 * @param {number} kind LOGIN or LOGOUT
 * @param {Request} request
 * @param {SessionState} state
 */
async function authCall(core, kind, request, state) {
  const res = await fetch(request);
  const token = tokenOf(res);
  if (res.ok) state.user = kind === LOGIN ? await userOf(res.clone()) : undefined;
  /** @param {ModuleAPI} api */
  const tell = (api) => api.session(kind === LOGIN ? LOGGED_IN : LOGGED_OUT, token.expiresMs, token.lifetimeMs);
  if (res.ok && core.api) tell(core.api);
  else if (res.ok) {
    core.module.then(tell, () => {});
    if (kind === LOGIN) core.ahead(token.expiresMs ? token : core.parse(core.raw()));
  }
  return res;
}

/**
 * How the loader sorts a call by its URL: the login and logout endpoints,
 * the refresh endpoint and other origins (PLAIN: their 401s say nothing of
 * our session), and the rest (OURS).
 * @param {string} url
 * @param {ReturnType<typeof endpoints>} urls
 */
function kindOf(url, urls) {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  if (path === urls.login) return LOGIN;
  if (path === urls.logout) return LOGOUT;
  if (path === urls.refresh || !urls.origins.some((o) => url.startsWith(o))) return PLAIN;
  return OURS;
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
    session: new URL(opts.sessionURL ?? DEFAULTS.sessionURL, base).href,
    origins: [globalThis.location?.origin ?? refresh.origin, ...(opts.refreshOrigins ?? []).map((o) => new URL(o).origin)]
      .map((o) => o + "/"),
    statuses: opts.statusCodes?.length ? opts.statusCodes : [401],
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
    statusCodes: urls.statuses,
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
 * @param {SessionState} state
 */
function moduleHooks(opts, urls, tabs, events, state) {
  return {
    /** @type {(begin: ModuleAPI["begin"], end: ModuleAPI["end"], stats: ModuleAPI["stats"], session: ModuleAPI["session"]) => void} */
    ready: () => {},
    /** @type {(id: number, untilMs: number) => void} set by load */
    lease: () => {},
    /** @type {(id: number, after: number) => void} set by load */
    withdraw: () => {},
    /**
     * POSTs the refresh endpoint once, and resolves to its status and the
     * new token's expiry.
     * @param {number} timeoutMs
     */
    refresh: (timeoutMs) => {
      const token = tabs.shared?.().expiresMs ?? 0; // the token this refresh replaces
      return fetch(urls.refresh, {
        method: "POST",
        credentials: "same-origin",
        headers: sameOrigin(urls.refresh) ? opts.headers : {},
        signal: AbortSignal.timeout(timeoutMs),
      }).then(async (res) => {
        if (res.ok) state.user = (await userOf(res)) ?? state.user;
        if (res.status >= 500) tabs.failed(token, res.status);
        return { status: res.status, ...tokenOf(res) };
      }, (err) => {
        tabs.failed(token, 0);
        throw err;
      });
    },
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
      if (type === "end" || type === "logout") state.user = undefined;
      const user = type === "login" || type === "refresh" ? state.user : undefined;
      if (broadcast) tabs.post({ type, expiresAt, lifetime, status: error?.status ?? 0, user });
      /** @type {SessionEventDetail} */
      const detail = { error: error ?? undefined, elsewhere, otherTab, expiresAt, user };
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
 * cookie as the version all tabs share, a BroadcastChannel for the news,
 * and in localStorage the last transient failure of a refresh (written
 * before the lock is released, so that a tab that waited for the lock
 * does not try the same token again at once). Each part falls back to
 * this tab alone where the browser lacks it.
 * @param {Options} opts
 */
function crossTab(opts) {
  const locks = opts.crossTab ? globalThis.navigator?.locks : undefined;
  const inPage = opts.crossTab && typeof document !== "undefined";
  const channel = opts.crossTab && typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  const name = opts.sessionCookie ?? DEFAULTS.sessionCookie;
  const literal = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); // a name is text, not a pattern
  const pattern = new RegExp(`(?:^|;\\s*)(?:__Host-)?${literal}=(\\d+)(?:\\.(\\d+))?`);
  /** @returns {string} */
  const raw = () => (inPage ? document.cookie : "");
  /** @param {string} cookies @returns {Token} */
  const parse = (cookies) => {
    const m = cookies.match(pattern);
    return m ? { expiresMs: Number(m[1]), lifetimeMs: Number(m[2] ?? 0) } : NO_TOKEN;
  };
  /** @returns {Storage | undefined} */
  const storage = () => {
    try {
      return inPage ? globalThis.localStorage : undefined;
    } catch {
      return undefined; // storage disabled (a sandboxed frame, a privacy setting)
    }
  };
  /** @returns {Token & {failedMs?: number, failedStatus?: number}} */
  const shared = () => {
    const token = parse(raw());
    const [version, at, status] = (storage()?.getItem(FAILED_KEY) ?? "").split(".").map(Number);
    return token.expiresMs > 0 && version === token.expiresMs ? { ...token, failedMs: at, failedStatus: status } : token;
  };
  return {
    raw,
    parse,
    shared: inPage ? shared : undefined,
    /**
     * Records that a refresh of the token that expires at expiresMs failed
     * transiently (status 0: no answer), for the tabs that wait for the lock.
     * @param {number} expiresMs @param {number} status
     */
    failed: (expiresMs, status) => {
      if (expiresMs <= 0) return;
      try {
        storage()?.setItem(FAILED_KEY, `${expiresMs}.${Date.now()}.${status}`);
      } catch {
        // full or disabled: the other tabs try again themselves
      }
    },
    /** @type {((timeoutMs: number) => Promise<() => void>) | undefined} resolves to the release function once the lock is held */
    lock: locks && ((timeoutMs) => new Promise((held, failed) => locks.request(CHANNEL,
      { signal: AbortSignal.timeout(timeoutMs) },
      () => new Promise((release) => held(() => release(undefined)))).catch(failed))),
    /** @param {{type: string, expiresAt: number, lifetime: number, status: number, user: User | undefined}} news */
    post: (news) => channel?.postMessage(news),
    /**
     * Hands the other tabs' news to the module, in order: at once while it
     * runs, once it runs before that.
     * @param {Core} core
     * @param {SessionState} state
     */
    listen: (core, state) => {
      if (!channel) return;
      channel.onmessage = ({ data }) => {
        const kind = TAB_NEWS[/** @type {keyof typeof TAB_NEWS} */ (data?.type)];
        if (!kind) return;
        if (kind === TAB_NEWS.login || kind === TAB_NEWS.refresh) state.user = data.user ?? state.user;
        /** @param {ModuleAPI} api */
        const tell = (api) => api.session(kind, kind === TAB_NEWS.end ? data.status : data.expiresAt, data.lifetime);
        if (core.api) tell(core.api);
        else core.module.then(tell, () => {});
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

/**
 * The user that a login or refresh answer names ({"user": {...}}), or
 * undefined.
 * @param {Response} res
 * @returns {Promise<User | undefined>}
 */
function userOf(res) {
  return res.json().then((body) => (body && typeof body.user === "object" ? body.user : undefined), () => undefined);
}

/** A Promise and the functions that settle it (Promise.withResolvers, which Node 20 lacks). */
function deferred() {
  /** @type {{promise?: Promise<unknown>, resolve?: (v: unknown) => void, reject?: (e: unknown) => void}} */
  const d = {};
  d.promise = new Promise((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
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
