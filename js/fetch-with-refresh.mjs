// fetch-with-refresh: the ESM loader of the Go WebAssembly module.
//
//   import { load } from "/js/fetch-with-refresh.mjs";
//   const client = await load({ refreshURL: "/api/auth/refresh" });
//   const res = await client.fetchWithRefresh("/api/departments");
//
// The loader prepares each call (configured headers on same-origin calls, a
// ReadableStream body buffered so that it can be sent twice), queues calls
// made before the module is ready, and turns the module's outcomes into
// real Error objects. Every decision about refreshing is made in Go
// (wasm/refresh). Types: fetch-with-refresh.d.ts.

import { start } from "./module.mjs";

/** A definite refresh failure: the session is over. */
export class AuthError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "AuthError";
    this.status = status;
  }
}

/** A transient refresh failure: the session is kept; retry later. */
export class RefreshUnavailableError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "RefreshUnavailableError";
    this.status = status;
  }
}

/** The header in which the server states the access token's expiry (Unix ms). */
export const EXPIRES_HEADER = "X-Access-Expires";

const DEFAULTS = {
  refreshURL: "/api/auth/refresh",
  statusCodes: [401],
  headers: { "X-CSRF": "1" },
  refreshTimeoutMs: 10000,
  refreshAheadMs: 30000,
  crossTab: true,
  sessionCookie: "accessExpires",
  onAuthFailure: undefined,
  onRefresh: undefined,
  loginURL: undefined,
};

/** The name of the Web Lock and of the BroadcastChannel the tabs share. */
const CHANNEL = "fetch-with-refresh";

let instances = 0;

/**
 * Loads the module and resolves to a client once it is ready. Calls made
 * through client.fetchWithRefresh or globalThis.fetchWithRefresh before then
 * wait in a queue. Rejects if the module cannot be fetched or started.
 */
export function load(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const base = globalThis.location?.href;
  const refreshURL = new URL(opts.refreshURL, base).href;
  const counts = { authFailures: 0, refreshedByOthers: 0 };
  let ended = false; // the session ended: onAuthFailure was called for it

  // Cross-tab mode: a Web Lock around each refresh, the readable session
  // cookie as the version all tabs share, a BroadcastChannel for outcomes.
  // Each part falls back to this tab alone where the browser lacks it.
  const locks = opts.crossTab ? globalThis.navigator?.locks : undefined;
  const cookies = opts.crossTab && typeof document !== "undefined";
  const channel = opts.crossTab && typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  const sessionPattern = new RegExp(`(?:^|;\\s*)${opts.sessionCookie}=(\\d+)`);
  const sessionValue = () => Number(document.cookie.match(sessionPattern)?.[1] ?? 0);

  let api; // { fetchFn, statsFn, sessionFn } once the module is ready
  let exitError; // set when the Go program has ended
  const pending = new Set(); // reject functions of the calls in the module
  const exit = (err) => {
    exitError = err;
    for (const reject of pending) reject(err);
    pending.clear();
  };
  const started = new Promise((resolve, reject) => {
    const key = `__fetchWithRefresh${instances++}`;
    const hooks = {
      ready: (fetchFn, statsFn, sessionFn) => {
        delete globalThis[key];
        api = { fetchFn, statsFn, sessionFn };
        resolve(api);
      },
      refreshInit: () => ({
        method: "POST",
        credentials: "same-origin",
        headers: sameOrigin(refreshURL) ? opts.headers : {},
        signal: AbortSignal.timeout(opts.refreshTimeoutMs),
      }),
      expiresAt: (response) => Number(response.headers.get(EXPIRES_HEADER)) || 0,
      error: (name, message, status) =>
        name === "AuthError" ? new AuthError(message, status)
          : name === "RefreshUnavailableError" ? new RefreshUnavailableError(message, status)
            : new Error(message),
      onRefresh: (elsewhere, error) => {
        opts.onRefresh?.({ ok: !error, elsewhere, error: error ?? undefined });
        if (!error) {
          ended = false;
          if (!elsewhere) channel?.postMessage({ type: "session", expiresAt: cookies ? sessionValue() : 0, refresh: true });
        } else if (error.name === "AuthError") {
          channel?.postMessage({ type: "ended", status: error.status });
          authFailed(error);
        }
      },
    };
    if (locks) { // resolves to the release function once the lock is held
      hooks.lock = () => new Promise((held, failed) => locks.request(CHANNEL,
        { signal: AbortSignal.timeout(opts.refreshTimeoutMs) },
        () => new Promise((release) => held(release))).catch(failed));
    }
    if (cookies) hooks.shared = sessionValue;
    globalThis[key] = {
      options: {
        refreshURL,
        statusCodes: opts.statusCodes,
        refreshTimeoutMs: opts.refreshTimeoutMs,
        refreshAheadMs: opts.refreshAheadMs,
      },
      hooks,
    };
    start(opts, key).then(({ running }) => running.then(
      () => exit(new Error("fetch-with-refresh: the Go program exited")),
      exit,
    ).finally(() => reject(exitError)), reject); // ended before ready: load rejects
  });

  // What the other tabs say: a new session (a login or a refresh) or its end.
  if (channel) {
    channel.onmessage = ({ data }) => {
      if (!api) return;
      if (data.type === "session") {
        if (data.refresh) counts.refreshedByOthers++;
        ended = false;
        api.sessionFn(data.expiresAt || 0);
      } else if (data.type === "ended") {
        api.sessionFn(-data.status);
        authFailed(new AuthError(`refresh: rejected in another tab: status ${data.status}`, data.status));
      }
    };
  }

  function authFailed(err) {
    if (ended) return; // once per session end, whichever tab saw it first
    ended = true;
    counts.authFailures++;
    try {
      opts.onAuthFailure?.(err);
    } finally {
      if (opts.loginURL) globalThis.location?.assign(opts.loginURL);
    }
  }

  // A login: an answer, not the refresh's, that states the expiry. It starts
  // a new session here and in the other tabs.
  function noticeLogin(res) {
    const expires = res.headers.get(EXPIRES_HEADER);
    if (!expires || res.url === refreshURL) return;
    ended = false;
    api.sessionFn(Number(expires) || 0);
    channel?.postMessage({ type: "session", expiresAt: Number(expires) || 0 });
  }

  function fetchWithRefresh(input, init) {
    const stream = init?.body instanceof ReadableStream;
    if (!api || stream) { // queued until ready; a stream is read first
      return Promise.all([stream && new Response(init.body).arrayBuffer(), started])
        .then(([body]) => fetchWithRefresh(input, stream ? { ...init, body, duplex: undefined } : init));
    }
    let request, optOut;
    try {
      [request, optOut] = prepare(input, init, opts.headers);
    } catch (err) {
      return Promise.reject(err);
    }
    if (optOut) return fetch(request);
    if (exitError) return Promise.reject(exitError);
    return new Promise((resolve, reject) => {
      const done = () => pending.delete(reject);
      pending.add(reject);
      // The module's attempts carry the signal; this releases a call that
      // is waiting for a refresh at once.
      if (init?.signal || input instanceof Request) {
        const signal = request.signal;
        if (signal.aborted) reject(signal.reason);
        else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }
      api.fetchFn(request, (res) => {
        done();
        noticeLogin(res);
        resolve(res);
      }, (err) => { done(); reject(err); });
    });
  }

  const client = {
    fetchWithRefresh,
    /** Counters of what the module did, for dashboards and tests. */
    stats() {
      return started.then(({ statsFn }) => {
        const [calls, unauthorized, refreshes, replays, failures, elsewhere, epoch] = statsFn().split(" ").map(Number);
        return { calls, unauthorized, refreshes, replays, failures, elsewhere, epoch, ...counts };
      });
    },
  };
  globalThis.fetchWithRefresh = fetchWithRefresh;
  return started.then(() => client);
}

/**
 * Builds the Request every attempt of a call clones: init without the
 * refresh option, and the configured headers on a same-origin call that
 * lacks them. (A ReadableStream body has been read into memory before: a
 * stream can be read once, and browsers cannot upload streams over
 * HTTP/1.1.)
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
  return [request, optOut];
}

/** Same origin as the page; outside a page (Node) every URL is. */
function sameOrigin(url) {
  const origin = globalThis.location?.origin;
  return !origin || url.startsWith(origin + "/") || url === origin;
}
