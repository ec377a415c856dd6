// The demo page: a login form, then a dashboard whose every call goes
// through fetchWithRefresh. Plain ES modules, no build step.
import { load, AuthError, RefreshUnavailableError } from "/js/fetch-with-refresh.min.mjs";

const $ = (id) => document.getElementById(id);
let expiredEarly = false; // "expire now" ended the token at the server before its time

const client = await load({
  onRefresh: (e) => {
    log(e.ok ? (e.elsewhere ? "another tab had refreshed: replayed" : "refresh: new tokens") : `refresh failed: ${e.error.name} (${e.error.status})`, e.ok ? "ok" : "bad");
    updateCounters();
  },
  onAuthFailure: () => showLogin($("app").hidden ? "" : "Your session has ended. Please log in again."),
});
const api = client.fetchWithRefresh;

// The session's events, once per tab, whichever tab (or route) caused them.
client.addEventListener("login", (e) => {
  expiredEarly = false;
  showUser(e.detail.user);
  if (!e.detail.otherTab) return; // this tab's own login is handled by the form
  log("logged in in another tab", "ok");
  showApp();
  loadDepartments().catch((err) => log(describe(err), "bad"));
});
client.addEventListener("refresh", (e) => {
  if (!e.detail.error) expiredEarly = false;
  if (e.detail.user) showUser(e.detail.user);
  if (e.detail.otherTab) log("another tab refreshed the session", "ok");
});
client.addEventListener("logout", (e) => {
  log(e.detail.otherTab ? "logged out in another tab" : "logged out");
  showLogin();
});

// The demo's login, in one place: POST /api/auth/login through the module,
// which resolves to the Response (a wrong password is a 401, not an error).
async function logIn(username, password) {
  return client.login({ username, password });
}

// log adds a line to the event log, newest first.
function log(text, kind = "") {
  const li = document.createElement("li");
  li.className = kind;
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  li.append(time, " ", text);
  $("log").prepend(li);
  while ($("log").children.length > 200) $("log").lastChild.remove();
}

function showLogin(message = "") {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
}

function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
}

// showUser shows who is signed in: the claims the server keeps of the user
// (the login and refresh events carry them, client.session() asks).
function showUser(user) {
  $("user").textContent = user?.name ?? user?.preferred_username ?? user?.email ?? user?.sub ?? "–";
}

// describe turns a call's failure into words; auth failures are handled by
// onAuthFailure, which shows the login form.
function describe(err) {
  if (err instanceof AuthError) return "the session has ended";
  if (err instanceof RefreshUnavailableError) return `the auth server is unavailable (${err.status}); the session is kept, try again`;
  return `${err.name}: ${err.message}`;
}

async function loadDepartments() {
  const res = await api("/api/departments");
  if (!res.ok) throw new Error(`GET /api/departments: ${res.status}`);
  const list = $("departments");
  list.replaceChildren(...(await res.json()).map((d) => {
    const li = document.createElement("li");
    li.textContent = d.name;
    return li;
  }));
  return res;
}

async function post(path) {
  const res = await api(path, { method: "POST" });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status}`);
}

// action runs a button's work, shows its result and keeps the button busy.
function action(id, work) {
  $(id).addEventListener("click", async () => {
    const button = $(id);
    button.disabled = true;
    $("result").textContent = "…";
    try {
      const text = await work();
      $("result").textContent = text;
      log(text, "ok");
    } catch (err) {
      if (!(err instanceof AuthError)) {
        $("result").textContent = describe(err);
        log(describe(err), "bad");
      }
    } finally {
      button.disabled = false;
      updateCounters();
    }
  });
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (auth.mode === "oidc") { // the provider's login page; the server checks next
    return location.assign(`${auth.loginURL}?next=${encodeURIComponent(new URLSearchParams(location.search).get("next") ?? "/")}`);
  }
  const form = new FormData(event.target);
  $("login-error").textContent = "";
  const res = await logIn(form.get("username"), form.get("password"));
  if (!res.ok) {
    $("login-error").textContent = res.status === 401 ? "Unknown user or wrong password." : `Login failed (${res.status}).`;
    return;
  }
  log("logged in", "ok");
  const next = localPath(new URLSearchParams(location.search).get("next"));
  if (next) return location.assign(next); // back to the page that sent us here
  showApp();
  await loadDepartments().catch((err) => log(describe(err), "bad"));
  updateCounters();
});

action("expire", async () => {
  await post("/api/demo/expire");
  expiredEarly = true;
  updateLifetime();
  return "The access token has expired. The next call gets a 401, refreshes once and is replayed.";
});

action("storm", async () => {
  const before = (await client.stats()).refreshes;
  const started = performance.now();
  const results = await Promise.allSettled(Array.from({ length: 50 }, () => api("/api/departments")));
  const ok = results.filter((r) => r.status === "fulfilled" && r.value.ok).length;
  const refreshes = (await client.stats()).refreshes - before;
  return `50 concurrent requests: ${ok} succeeded, ${refreshes} refresh${refreshes === 1 ? "" : "es"}, ${Math.round(performance.now() - started)} ms.`;
});

action("post", async () => {
  await post("/api/demo/expire");
  expiredEarly = true;
  const body = { message: "sent after expiry", at: new Date().toISOString() };
  const res = await api("/api/echo", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const echoed = await res.json();
  const intact = JSON.stringify(echoed) === JSON.stringify(body);
  return `POST after expiry: ${res.status}, body ${intact ? "arrived intact on the replay" : "CHANGED"}: ${JSON.stringify(echoed)}`;
});

action("revoke", async () => {
  await post("/api/demo/revoke");
  log("session revoked on the server; the next call's refresh is rejected", "bad");
  await loadDepartments(); // rejects with AuthError; onAuthFailure shows the login form
  return "still logged in?";
});

action("logout", async () => {
  await client.logout(); // the "logout" event shows the login form, here and in the other tabs
  return "Logged out.";
});

async function updateCounters() {
  const s = await client.stats();
  for (const key of ["calls", "unauthorized", "replays", "failures"]) {
    $(`c-${key}`).textContent = s[key];
  }
  $("c-refreshes").textContent = s.refreshes - s.elsewhere; // sent by this tab
  $("c-others").textContent = s.refreshedByOthers + s.elsewhere;
}

// localPath returns next as a path of this origin, or null: the server's
// rule (internal/localpath), as the browser applies it. Backslashes,
// whitespace and control characters are refused; next is resolved as the
// browser resolves it (dot segments too: "/.//evil.example" is
// "//evil.example") and must stay a path of this origin that does not
// start with "//", nor once decoded ("/%2F/evil.example").
function localPath(next) {
  if (!next?.startsWith("/") || /[\s\\\x00-\x1f\x7f]/.test(next)) return null;
  const onOrigin = (path) => {
    try {
      const url = new URL(path, location.origin);
      return url.origin === location.origin && !url.pathname.startsWith("//") ? url : null;
    } catch {
      return null;
    }
  };
  const url = onOrigin(next);
  let decoded = null;
  try {
    decoded = url && onOrigin(decodeURIComponent(url.pathname));
  } catch {} // a malformed escape: refused below
  return url && decoded ? url.pathname + url.search + url.hash : null;
}

// The access token's remaining lifetime, from the readable accessExpires
// cookie (the tokens themselves are HttpOnly), unless "expire now" ended it
// early at the server: then it is expired until the next refresh.
function updateLifetime() {
  const match = document.cookie.match(/(?:^|;\s*)(?:__Host-)?accessExpires=(\d+)/);
  const left = match ? Number(match[1]) - Date.now() : NaN;
  $("lifetime").textContent = Number.isNaN(left) ? "none"
    : expiredEarly ? "expired (ended early by the demo)" : left > 0 ? `${Math.ceil(left / 1000)} s left` : "expired";
  $("lifetime").className = left > 0 && !expiredEarly ? "ok" : "bad";
}
setInterval(updateLifetime, 500);
updateLifetime();

// How to log in: the password form, or in OpenID Connect mode its button alone.
const auth = await fetch("/api/auth/config", { headers: { "X-CSRF": "1" } }).then((r) => (r.ok ? r.json() : {}), () => ({}));
if (auth.mode === "oidc") for (const el of $("login").querySelectorAll("label, .hint")) el.remove();

// The demo buttons need the embedded demo upstream; the server-rendered
// page exists on the native server only (not on the Worker).
const demo = await fetch("/api/demo/stats", { headers: { "X-CSRF": "1" } }).then((r) => r.ok, () => false);
for (const b of document.querySelectorAll("[data-demo]")) b.hidden = !demo;
$("demo-off").hidden = demo;
$("ssr-link").hidden = !(await fetch("/departments", { method: "HEAD", redirect: "manual" }).then((r) => r.status !== 404, () => false));

// An existing session (the readable accessExpires cookie says there is one)
// shows the dashboard at once, refreshing first if its token has expired;
// none shows the login form without a call.
if (/(?:^|;\s*)(?:__Host-)?accessExpires=/.test(document.cookie)) {
  try {
    await loadDepartments();
    showApp();
    log("session restored", "ok");
    const who = await client.session().catch(() => ({ authenticated: false }));
    if (who.authenticated) showUser(who.user);
  } catch (err) {
    if (!(err instanceof AuthError)) showLogin(describe(err));
  }
} else {
  showLogin();
}
updateCounters();
document.body.dataset.ready = "true";
