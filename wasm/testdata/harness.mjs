// Scenarios for the GOOS=js tests (wasm/node_test.go) under Node. Each one
// drives the real loader and the real module against the real test server
// (internal/testing/testserver) and returns a plain object that the Go test
// asserts on. Node's fetch has no cookie jar, so setup() wraps fetch with a
// small one: the module calls globalThis.fetch, and gets the jar too.

let base, client, mod;
let lastLoginUser = null; // the user of the last "login" event
const authFailures = [];
const events = []; // every session event of this tab: {type, otherTab, error, status}
let loadedAt = 0; // when load() resolved (ms since navigation)

export async function setup(baseURL, loaderURL, options = {}) {
  base = baseURL;
  installCookieJar();
  mod = await import(loaderURL);
  const loading = mod.load({
    wasmURL: `${base}/js/fetch-with-refresh.wasm`,
    refreshURL: `${base}/api/auth/refresh`,
    onAuthFailure: (err) => authFailures.push(err.name),
    ...options,
  });
  // A call made before the module is ready waits for it.
  const early = globalThis.fetchWithRefresh(`${base}/healthz`);
  client = await loading;
  loadedAt = globalThis.performance?.now() ?? 0;
  client.addEventListener("login", (e) => { lastLoginUser = e.detail.user ?? null; });
  for (const type of ["login", "refresh", "end", "logout"]) {
    client.addEventListener(type, (e) => events.push({
      type, otherTab: e.detail.otherTab, error: e.detail.error?.name ?? "", status: e.detail.error?.status ?? 0,
    }));
  }
  return { earlyStatus: (await early).status };
}

// The session events this tab saw, and forget them.
export async function takeEvents() {
  return events.splice(0);
}

// Waits until this tab has seen an event of type (news from another tab
// arrives when it arrives), then returns every event seen and forgets them.
export async function eventsUntil(type) {
  if (!events.some((e) => e.type === type)) {
    await new Promise((resolve) => client.addEventListener(type, resolve, { once: true }));
  }
  return events.splice(0);
}

// Waits until the session cookie's token expires within windowMs: the
// refresh-ahead window, entered by time passing, not by a sleep.
export async function untilDue(windowMs) {
  for (;;) {
    const m = document.cookie.match(/(?:^|;\s*)(?:__Host-)?accessExpires=(\d+)/);
    if (m && Number(m[1]) - Date.now() <= windowMs) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A login through the module: it starts a new session in the policy,
// which forgets an earlier definite failure. It returns once the module
// has been told (and has fired the "login" event): a login answered
// before the module runs is told to it when it starts, which on a busy
// machine comes later than the answer, and a scenario that forgets the
// events after its login would otherwise see that "login" among its own
// (TestCrossOrigin401IsNotOurs did).
async function login() {
  const res = await client.login({ username: "demo", password: "demo" });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
  // client.ready and the telling both wait on the module; ready's reaction
  // was registered first (at load), so by the time this await resumes the
  // module has been told.
  await client.ready;
}

// The pieces of the cross-tab tests, which the Go side runs in several tabs.
export const loginOnly = () => login();
// whoAmI: what the session endpoint says, and the user the last login
// event named.
export async function whoAmI() {
  await client.ready; // a login by plain fetch before the module ran is told to it once it runs
  return { session: await client.session(), loginUser: lastLoginUser };
}
export const logoutOnly = async () => (await client.logout()).status;
export const expireNow = () => expire();
export const revokeNow = () => post("/api/demo/revoke");
export async function burst(n) {
  const outcomes = await settle(Array.from({ length: n }, () => client.fetchWithRefresh(`${base}/api/departments`)));
  return { outcomes, stats: await client.stats(), authFailures: [...authFailures] };
}
export async function authFailuresSeen() {
  return [...authFailures];
}

// first: a login and a first fetch.
export async function first() {
  await post("/api/auth/logout");
  const res = await client.fetchWithRefresh(`${base}/api/auth/login`, {
    method: "POST",
    body: JSON.stringify({ username: "demo", password: "demo" }),
  });
  const departments = await client.fetchWithRefresh(`${base}/api/departments`);
  return { login: res.status, departments: departments.status };
}

async function post(path, body) {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "X-CSRF": "1" }, body: JSON.stringify(body ?? {}) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
}

const expire = () => post("/api/demo/expire");
const fault = (f) => post("/test/fault", f);

// The /test/ endpoints exist on the test server only; through the Worker,
// the counters come from the demo upstream alone.
async function reset() {
  const res = await fetch(`${base}/test/reset`, { method: "POST" });
  if (!res.ok && res.status !== 404) throw new Error(`/test/reset: ${res.status}`);
}

async function serverStats() {
  const res = await fetch(`${base}/test/stats`);
  if (res.status !== 404) return res.json();
  const upstream = await (await fetch(`${base}/api/demo/stats`, { headers: { "X-CSRF": "1" } })).json();
  return { requests: {}, upstream };
}

// settle runs the calls and describes each outcome.
async function settle(promises) {
  return Promise.all(promises.map((p) => p.then(
    async (res) => ({ status: res.status }),
    (err) => ({ error: err.name, status: err.status }),
  )));
}

// The eight kinds of call of the storm: every input type and body type.
const text = (i) => `call ${i}: héllo, wörld`;
const kinds = [
  { name: "string GET", make: () => [`${base}/api/departments`], check: async (r) => (await r.json()).length === 5 },
  { name: "URL GET", make: () => [new URL(`${base}/api/departments?x=1`)], check: async (r) => (await r.json()).length === 5 },
  { name: "Request GET", make: () => [new Request(`${base}/api/departments`)], check: async (r) => (await r.json()).length === 5 },
  {
    name: "JSON body", make: (i) => [`${base}/api/echo`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ i, text: text(i) }) }],
    check: async (r, i) => JSON.stringify(await r.json()) === JSON.stringify({ i, text: text(i) }),
  },
  {
    name: "text body", make: (i) => [`${base}/api/echo`, { method: "POST", body: text(i) }],
    check: async (r, i) => (await r.text()) === text(i) && r.headers.get("Content-Type").startsWith("text/plain"),
  },
  {
    name: "FormData body", make: (i) => { const f = new FormData(); f.set("i", String(i)); f.set("text", text(i)); return [`${base}/api/echo`, { method: "POST", body: f }]; },
    check: async (r, i) => { const f = await r.formData(); return f.get("i") === String(i) && f.get("text") === text(i); },
  },
  {
    name: "stream body", make: (i) => [`${base}/api/echo`, {
      method: "POST", duplex: "half",
      body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(text(i))); c.close(); } }),
    }],
    check: async (r, i) => (await r.text()) === text(i),
  },
  {
    name: "Blob body", make: (i) => [`${base}/api/echo`, { method: "POST", body: new Blob([text(i)], { type: "application/octet-stream" }) }],
    check: async (r, i) => (await r.text()) === text(i) && r.headers.get("Content-Type") === "application/octet-stream",
  },
  {
    name: "Request with body", make: (i) => [new Request(`${base}/api/echo`, { method: "PUT", body: text(i) })],
    check: async (r, i) => (await r.text()) === text(i) && r.headers.get("X-Echo-Method") === "PUT",
  },
];

// storm: n concurrent calls of every kind after the access token expired.
export async function storm(n) {
  await login();
  await expire();
  await reset();
  const before = await serverStats();
  const results = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const kind = kinds[i % kinds.length];
    try {
      const res = await client.fetchWithRefresh(...kind.make(i));
      return { kind: kind.name, status: res.status, intact: res.status === 200 && await kind.check(res, i) };
    } catch (err) {
      return { kind: kind.name, error: `${err.name}: ${err.message}` };
    }
  }));
  const after = await serverStats();
  return {
    results,
    refreshCalls: after.requests["/api/auth/refresh"] ?? 0,
    upstreamRefreshes: after.upstream.refreshes - before.upstream.refreshes,
    reuses: after.upstream.reuses - before.upstream.reuses,
    stats: await client.stats(),
  };
}

// until polls the test server's counters until cond(stats) holds: how a
// scenario knows that the server holds a request, without sleeping.
async function until(cond) {
  for (;;) {
    if (cond(await serverStats())) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
const release = (path) => fetch(`${base}/test/release`, { method: "POST", body: path ? JSON.stringify({ path }) : undefined });

// late401: a call sent with the old token whose 401 arrives after another
// call's refresh finished is replayed without a second refresh (on the
// fast path: a refresh started and ended between the module's "send now"
// and the answer). The late call is a POST, which is never withdrawn.
export async function late401() {
  await login();
  await expire();
  await reset();
  await fault({ path: "/api/echo", status: 0, hold: true, times: 1 });
  const slow = client.fetchWithRefresh(`${base}/api/echo`, { method: "POST", body: "x" }); // held by the server
  await until((s) => s.requests["/api/echo"] === 1);
  const fast = await client.fetchWithRefresh(`${base}/api/departments`);
  await release();
  const late = await slow;
  const stats = await serverStats();
  return { fast: fast.status, late: late.status, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, lateCalls: stats.requests["/api/echo"] };
}

// withdraw: the access token expires server-side while calls are held by
// the server, in this order: a GET sent alone, a GET, a POST, n GETs (the
// last one with a signal). The POST's 401 comes first (its path is
// released first): the module refreshes once (held) and withdraws the GETs
// sent after the POST, which are sent again without their own 401s; the
// GETs sent before it are spared (they may have made it before the token
// was refused), and wait for their own 401s. The GET with a signal is
// aborted while it waits for the refresh.
export async function withdraw(n) {
  await login();
  await reset();
  await expire();
  const stats0 = await client.stats();
  await fault({ path: "/api/departments", status: 0, hold: true, times: n + 2 });
  await fault({ path: "/api/echo", status: 0, hold: true, times: 1 });
  // Distinct URLs: Chromium's HTTP cache lets one GET per URL wait for its
  // answer at a time (the others wait for it, up to 20 s).
  const get = (name, init) => client.fetchWithRefresh(`${base}/api/departments?${name}`, init);
  const alone = get("alone"); // nothing else out: never withdrawable
  const before = get("before");
  await until((s) => s.requests["/api/departments"] === 2);
  const trigger = client.fetchWithRefresh(`${base}/api/echo`, { method: "POST", body: "x" });
  await until((s) => s.requests["/api/echo"] === 1);
  const ctl = new AbortController();
  const after = Array.from({ length: n }, (_, i) => get(`after=${i}`, i === n - 1 ? { signal: ctl.signal } : undefined));
  await until((s) => s.requests["/api/departments"] === n + 2);
  await fault({ path: "/api/auth/refresh", status: 0, hold: true, times: 1 });
  await release("/api/echo"); // the POST's 401 comes first
  await until((s) => s.requests["/api/auth/refresh"] === 1); // the later GETs are withdrawn by now
  ctl.abort();
  const [aborted] = await settle([after[n - 1]]);
  await release();
  const [triggered, spared, first, ...others] = await settle([trigger, before, alone, ...after.slice(0, n - 1)]);
  const stats = await serverStats();
  const stats1 = await client.stats();
  return {
    aborted, trigger: triggered, spared: [first, spared], withdrawn: others,
    refreshCalls: stats.requests["/api/auth/refresh"] ?? 0,
    unauthorized: stats1.unauthorized - stats0.unauthorized, replays: stats1.replays - stats0.replays,
  };
}

// leased: with a valid token, after a first call, n calls are sent under
// the module's lease without asking it.
export async function leased(n) {
  await client.ready; // (before it runs, calls are leased too: under lease 0)
  await login();
  await client.fetchWithRefresh(`${base}/api/departments`);
  const before = await client.stats();
  for (let i = 0; i < n; i++) await client.fetchWithRefresh(`${base}/api/departments`);
  const after = await client.stats();
  return { calls: after.calls - before.calls, leased: after.leased - before.leased };
}

// nextExpiry: after one refresh, the next expiry refreshes again.
export async function nextExpiry() {
  await expire();
  await reset();
  const res = await client.fetchWithRefresh(`${base}/api/departments`);
  const stats = await serverStats();
  return { status: res.status, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0 };
}

// rejected: the session is revoked; every waiting call and a later one
// fail with AuthError after one refresh; onAuthFailure fires once.
export async function rejected(n) {
  await login();
  await post("/api/demo/revoke");
  await reset();
  authFailures.length = 0;
  const waiting = await settle(Array.from({ length: n }, () => client.fetchWithRefresh(`${base}/api/departments`)));
  const later = await settle([client.fetchWithRefresh(`${base}/api/departments`)]);
  const stats = await serverStats();
  return { waiting, later: later[0], refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, departmentsCalls: stats.requests["/api/departments"], authFailures: [...authFailures] };
}

// unavailable: the refresh endpoint answers 503 once; the waiting calls get
// RefreshUnavailableError, the session survives and the next call succeeds.
export async function unavailable(n) {
  await login();
  await expire();
  await reset();
  await fault({ path: "/api/auth/refresh", status: 503, times: 1 });
  authFailures.length = 0;
  const waiting = await settle(Array.from({ length: n }, () => client.fetchWithRefresh(`${base}/api/departments`)));
  const next = await settle([client.fetchWithRefresh(`${base}/api/departments`)]);
  const stats = await serverStats();
  return { waiting, next: next[0], refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, authFailures: [...authFailures] };
}

// serverError: a 500 from a resource is a Response, not an exception.
export async function serverError() {
  await login();
  await reset();
  await fault({ path: "/api/departments", status: 500, times: 1 });
  const [first] = await settle([client.fetchWithRefresh(`${base}/api/departments`)]);
  const stats = await serverStats();
  return { first, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0 };
}

// exempt: the refresh URL itself and calls with refresh: false are sent
// once, as they are, even when answered 401.
export async function exempt() {
  await login();
  await expire();
  await reset();
  const optOut = await client.fetchWithRefresh(`${base}/api/departments`, { refresh: false });
  await post("/api/demo/revoke");
  const direct = await client.fetchWithRefresh(`${base}/api/auth/refresh`, { method: "POST" });
  const stats = await serverStats();
  return { optOut: optOut.status, direct: direct.status, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, departmentsCalls: stats.requests["/api/departments"] };
}

// abort: an aborted call rejects alone, in each phase: before it is sent,
// while its attempt is out, and while it waits for a refresh (held by the
// server until the abort); the others succeed and the module forgets it.
export async function abort() {
  await login();
  await expire();
  await reset();
  const pre = await settle([client.fetchWithRefresh(`${base}/api/departments`, { signal: AbortSignal.abort() })]);

  await fault({ path: "/api/departments", status: 0, hold: true, times: 1 });
  const inFlight = new AbortController();
  const sent = client.fetchWithRefresh(`${base}/api/departments`, { signal: inFlight.signal });
  await until((s) => s.requests["/api/departments"] === 1);
  inFlight.abort();
  const [whileSent] = await settle([sent]);
  await release();

  await fault({ path: "/api/auth/refresh", status: 0, hold: true, times: 1 });
  const ctl = new AbortController();
  const calls = [
    client.fetchWithRefresh(`${base}/api/departments`, { signal: ctl.signal }),
    client.fetchWithRefresh(`${base}/api/departments`),
  ];
  await until((s) => s.requests["/api/auth/refresh"] === 1); // both wait for it
  ctl.abort();
  const [aborted] = await settle([calls[0]]); // before the refresh ends
  await release();
  const [, other] = await settle(calls);
  const stats = await serverStats();
  return { preAborted: pre[0], whileSent, aborted, other, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0 };
}

// wrongPassword: a login with a wrong password resolves to its 401, with no
// refresh, no failure and no session event.
export async function wrongPassword() {
  await post("/api/auth/logout");
  await reset();
  events.length = 0;
  const failures = (await client.stats()).failures;
  const res = await client.login({ username: "demo", password: "wrong" });
  const stats = await serverStats();
  return { status: res.status, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, failures: (await client.stats()).failures - failures, events: events.splice(0) };
}

// plainLogin: an early call without a session ends in AuthError; a login by
// plain fetch (not through the module) starts a new session, and the next
// expiry refreshes instead of failing with the old AuthError.
export async function plainLogin() {
  await post("/api/auth/logout");
  await reset();
  events.length = 0;
  const [early] = await settle([client.fetchWithRefresh(`${base}/api/departments`)]);
  const res = await fetch(`${base}/api/auth/login`, {
    method: "POST", headers: { "X-CSRF": "1", "Content-Type": "application/json" },
    body: JSON.stringify({ username: "demo", password: "demo" }),
  });
  if (!res.ok) throw new Error(`plain login: ${res.status}`);
  await expire();
  const [after] = await settle([client.fetchWithRefresh(`${base}/api/departments`)]);
  const stats = await serverStats();
  return { early, after, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, events: events.splice(0) };
}

// crossOrigin: a 401 from another origin is returned as it is: no refresh,
// no replay, no event; other is that origin's URL that answers 401.
export async function crossOrigin(other) {
  await login();
  await reset();
  events.length = 0;
  const [res] = await settle([client.fetchWithRefresh(other, { method: "POST", body: "payload" })]);
  const stats = await serverStats();
  return { res, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, events: events.splice(0), authFailures: (await client.stats()).authFailures };
}

// expireForReal: the session's access token expires now, everywhere: the
// upstream refuses it, and the server's sealed expiry and the readable
// one say so (the test server re-seals the session; through the Worker,
// which has no test endpoints, only the page's readable expiry moves).
export async function expireForReal() {
  await expire();
  const res = await fetch(`${base}/test/expire-session`, { method: "POST" });
  if (res.ok) return;
  const m = document.cookie.match(/(?:^|;\s*)__Host-accessExpires=(\d+)(?:\.(\d+))?/);
  if (!m) throw new Error("expireForReal: no session");
  document.cookie = `__Host-accessExpires=${Date.now()}.${m[2] ?? 0}; Path=/; Secure; SameSite=Strict; Max-Age=3600`;
}

// readableSession: the readable session cookie as this tab sees it ("" when
// there is none); a value written in one tab reaches the others a moment
// later.
export const readableSession = () =>
  document.cookie.match(/(?:^|;\s*)__Host-accessExpires=([\d.]+)/)?.[1] ?? "";

// timedBurst: n concurrent calls, each outcome with how long it took (ms).
export async function timedBurst(n) {
  await client.ready;
  return Promise.all(Array.from({ length: n }, () => {
    const start = performance.now();
    const ms = () => Math.round(performance.now() - start);
    return client.fetchWithRefresh(`${base}/api/departments`).then(
      (res) => ({ status: res.status, ms: ms() }),
      (err) => ({ error: err.name, status: err.status, ms: ms() }),
    );
  }));
}

// steady: calls one after another for ms, pausing pauseMs between them (a
// page's pace, not an ordering), and counts refreshes and 401s.
export async function steady(ms, pauseMs) {
  await login();
  await reset();
  const before = await serverStats();
  const stats0 = await client.stats();
  const outcomes = {};
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < ms) {
    const [o] = await settle([client.fetchWithRefresh(`${base}/api/departments`)]);
    const key = o.error || String(o.status);
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    calls++;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  const elapsedMs = performance.now() - started;
  const after = await serverStats();
  const stats1 = await client.stats();
  return {
    calls, outcomes, elapsedMs,
    upstreamRefreshes: after.upstream.refreshes - before.upstream.refreshes,
    unauthorized: stats1.unauthorized - stats0.unauthorized,
  };
}

// exit: a module that exits (here: refused options): load() resolves,
// client.ready rejects, a call that needs the module (a 401) rejects with
// its error and one that does not is answered; a module that cannot be
// fetched rejects load().
export async function exit() {
  const options = { wasmURL: `${base}/js/fetch-with-refresh.wasm`, refreshURL: `${base}/api/auth/refresh` };
  const doomed = await mod.load({ ...options, refreshTimeoutMs: -1 });
  let message = "";
  await doomed.ready.catch((err) => { message = err.message; });
  await post("/api/auth/logout");
  const [needsModule, plain] = await settle([
    doomed.fetchWithRefresh(`${base}/api/departments`), doomed.fetchWithRefresh(`${base}/healthz`),
  ]);
  let missing = "";
  await mod.load({ ...options, wasmURL: `${base}/js/missing.wasm` }).catch((err) => { missing = err.message; });
  globalThis.fetchWithRefresh = client.fetchWithRefresh; // load() set it to the last client's
  return { message, needsModule, plain, missing };
}

// moduleHeld: the module's file is held by the server, so a new client's
// calls go out before its module runs. After a server-side expiry: a POST
// answered 401 waits for the module; a GET answered 401 whose caller
// aborts rejects at once, module or not; once the module runs it
// refreshes once, and a GET sent before it all (held until then) whose 401
// comes after that refresh is replayed without a second one.
export async function moduleHeld() {
  await login();
  await reset();
  await expire();
  await fault({ path: "/js/fetch-with-refresh.wasm", status: 0, hold: true, times: 1 });
  await fault({ path: "/api/departments", status: 0, hold: true, times: 1 });
  const loading = mod.load({ wasmURL: `${base}/js/fetch-with-refresh.wasm`, refreshURL: `${base}/api/auth/refresh` });
  const call = globalThis.fetchWithRefresh; // set by load() at once
  globalThis.fetchWithRefresh = client.fetchWithRefresh;
  const late = call(`${base}/api/departments?late`); // held
  await until((s) => s.requests["/api/departments"] === 1);
  const waiting = call(`${base}/api/echo`, { method: "POST", body: "x" }); // 401: waits for the module
  const ctl = new AbortController();
  const aborted = call(`${base}/api/departments?aborted`, { signal: ctl.signal }); // 401: waits too
  await until((s) => s.requests["/api/departments"] === 2 && s.requests["/api/echo"] === 1);
  ctl.abort();
  const [abortedOutcome] = await settle([aborted]); // with the module still held
  await release("/js/fetch-with-refresh.wasm");
  const early = await loading;
  const [waitingOutcome] = await settle([waiting]);
  await release("/api/departments");
  const [lateOutcome] = await settle([late]);
  const stats = await serverStats();
  return {
    aborted: abortedOutcome, waiting: waitingOutcome, late: lateOutcome,
    refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, stats: await early.stats(),
  };
}

// beforeModule: a client's first calls go out before its module runs; one
// answered 401 (the access token revoked) waits for the module, which
// refreshes once, and is replayed.
export async function beforeModule() {
  await login();
  await expire();
  await reset();
  const early = await mod.load({ wasmURL: `${base}/js/fetch-with-refresh.wasm`, refreshURL: `${base}/api/auth/refresh` });
  globalThis.fetchWithRefresh = client.fetchWithRefresh;
  const results = await settle([early.fetchWithRefresh(`${base}/api/departments`), early.fetchWithRefresh(`${base}/api/departments`)]);
  const stats = await serverStats();
  return { results, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, stats: await early.stats() };
}

function installCookieJar() {
  if (typeof document !== "undefined" || globalThis.fetch.jar) return; // a browser has its own

  const jar = new Map();
  const realFetch = globalThis.fetch;
  const jarFetch = async (input, init) => {
    const request = new Request(input, init);
    if (jar.size) request.headers.set("Cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const response = await realFetch(request);
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === "" || attrs.some((a) => a.trim().toLowerCase() === "max-age=0")) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  };
  jarFetch.jar = jar;
  globalThis.fetch = jarFetch;
}

// abortAhead: a call that waits for a refresh ahead (its token expires
// within the window; the refresh is held by the server) and is aborted
// rejects alone; a call without a signal succeeds once the refresh is done,
// and neither was answered 401.
export async function abortAhead(windowMs) {
  await login();
  await untilDue(windowMs);
  await reset();
  await fault({ path: "/api/auth/refresh", status: 0, hold: true, times: 1 });
  const before = await client.stats();
  const ctl = new AbortController();
  const aborted = client.fetchWithRefresh(`${base}/api/departments`, { signal: ctl.signal });
  const other = client.fetchWithRefresh(`${base}/api/departments`);
  await until((s) => s.requests["/api/auth/refresh"] === 1);
  ctl.abort();
  const [a] = await settle([aborted]);
  await release();
  const [o] = await settle([other]);
  const after = await client.stats();
  const stats = await serverStats();
  return { aborted: a, other: o, unauthorized: after.unauthorized - before.unauthorized, departmentsCalls: stats.requests["/api/departments"] ?? 0 };
}

// moduleRequests: the module's requests that have ended (Resource Timing:
// start and end, ms since navigation), when the page's load event ended
// and when load() resolved.
export function moduleRequests() {
  const nav = performance.getEntriesByType("navigation")[0];
  const wasm = performance.getEntriesByType("resource").filter((e) => e.name.includes(".wasm"))
    .map((e) => ({ start: e.startTime, end: e.responseEnd }));
  return { wasm, loadEventEnd: nav?.loadEventEnd ?? 0, loaded: loadedAt };
}

// untilRunning: waits for the module to run, without calling anything.
export const untilRunning = () => client.ready;

// loginNoWait: a login through the client that does not wait for the
// module (which may not be fetched yet).
export async function loginNoWait() {
  const res = await client.login({ username: "demo", password: "demo" });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
  await reset();
}

// expireUpstream: the upstream stops accepting the access token; its
// cookie still says it is valid, so the next calls get 401s.
export const expireUpstream = () => expire();

// coldCalls: n concurrent calls, and what they cost: the module's
// requests before them, the calls' outcomes, the refreshes the server saw
// and the 401s the module counted.
export async function coldCalls(n) {
  const before = moduleRequests().wasm.length;
  const outcomes = await settle(Array.from({ length: n }, () => client.fetchWithRefresh(`${base}/api/departments`)));
  const stats = await serverStats();
  return { before, outcomes, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, unauthorized: (await client.stats()).unauthorized };
}

// timedCall: one call, timed (ms), without waiting for the module.
export async function timedCall() {
  const start = performance.now();
  const res = await client.fetchWithRefresh(`${base}/api/departments`);
  return { status: res.status, ms: performance.now() - start };
}
