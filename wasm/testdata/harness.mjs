// Scenarios for the GOOS=js tests (wasm/node_test.go) under Node. Each one
// drives the real loader and the real module against the real test server
// (cmd/internal/testserver) and returns a plain object that the Go test
// asserts on. Node's fetch has no cookie jar, so setup() wraps fetch with a
// small one: the module calls globalThis.fetch, and gets the jar too.

let base, client, mod;
const authFailures = [];

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
  return { earlyStatus: (await early).status };
}

// A login through the module: its X-Access-Expires header starts a new
// session in the policy, which forgets an earlier definite failure.
async function login() {
  const res = await client.fetchWithRefresh(`${base}/api/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "demo", password: "demo" }),
  });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
}

// The pieces of the cross-tab tests, which the Go side runs in several tabs.
export const loginOnly = () => login();
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

// late401: a call sent with the old token whose 401 arrives after another
// call's refresh finished is replayed without a second refresh.
export async function late401() {
  await login();
  await expire();
  await reset();
  await fault({ path: "/api/departments", status: 0, delayMs: 500, times: 1 });
  const slow = client.fetchWithRefresh(`${base}/api/departments`); // held 500 ms by the server
  await new Promise((r) => setTimeout(r, 100));
  const fast = await client.fetchWithRefresh(`${base}/api/echo`, { method: "POST", body: "x" });
  const late = await slow;
  const stats = await serverStats();
  return { fast: fast.status, late: late.status, refreshCalls: stats.requests["/api/auth/refresh"] ?? 0, departmentsCalls: stats.requests["/api/departments"] };
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

// abort: while a slow refresh runs, an aborted call rejects alone.
export async function abort() {
  await login();
  await expire();
  await reset();
  await fault({ path: "/api/auth/refresh", status: 0, delayMs: 400, times: 1 });
  const ctl = new AbortController();
  const calls = [
    client.fetchWithRefresh(`${base}/api/departments`, { signal: ctl.signal }),
    client.fetchWithRefresh(`${base}/api/departments`),
  ];
  setTimeout(() => ctl.abort(), 100);
  const started = Date.now();
  const [aborted, other] = await settle(calls);
  const pre = await settle([client.fetchWithRefresh(`${base}/api/departments`, { signal: AbortSignal.abort() })]);
  return { aborted, other, preAborted: pre[0], tookMs: Date.now() - started };
}

// exit: a module that exits (here: refused options) rejects load().
export async function exit() {
  try {
    await mod.load({ wasmURL: `${base}/js/fetch-with-refresh.wasm`, refreshURL: `${base}/api/auth/refresh`, refreshTimeoutMs: -1 });
    return { rejected: false };
  } catch (err) {
    return { rejected: true, message: err.message };
  }
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
