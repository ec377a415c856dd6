// Compiled by `make test-types` (tsc --noEmit) to check that
// fetch-with-refresh.d.ts describes the API the README shows.
import { load, AuthError, RefreshUnavailableError, EXPIRES_HEADER, LIFETIME_HEADER, type Client, type Stats, type SessionInfo, type SessionEventDetail } from "./fetch-with-refresh.mjs";

async function demo(): Promise<void> {
  const client: Client = await load({
    refreshURL: "/api/auth/refresh",
    statusCodes: [401, 419],
    headers: { "X-CSRF": "1" },
    refreshTimeoutMs: 5000,
    refreshAheadMs: 30000,
    onAuthFailure: (err: AuthError) => console.log(err.status),
    onRefresh: (e) => console.log(e.ok, e.elsewhere, e.error?.name),
    crossTab: true,
    sessionCookie: "accessExpires",
    loginURL: "/login",
    loginEndpoint: "/api/auth/login",
    logoutEndpoint: "/api/auth/logout",
    refreshOrigins: ["https://api.example.test"],
    sessionURL: "/api/auth/session",
  });
  client.addEventListener("end", (e) => console.log(e.detail.error?.status, e.detail.otherTab));
  client.addEventListener("login", (e) => console.log(e.detail.expiresAt, e.detail.user?.name));
  const onRefresh = (e: CustomEvent<SessionEventDetail>) => console.log(e.detail.user?.email);
  client.addEventListener("refresh", onRefresh);
  client.removeEventListener("refresh", onRefresh); // a React effect's cleanup
  const who: SessionInfo = await client.session();
  if (who.authenticated) console.log(who.user.sub, who.user.name, who.expiresAt, who.sessionExpiresAt, who.lifetimeMs);
  const login: Response = await client.login({ username: "demo", password: "demo" });
  const logout: Response = await client.logout();
  console.log(login.status, logout.status, LIFETIME_HEADER);
  const res: Response = await client.fetchWithRefresh("/api/departments");
  await client.fetchWithRefresh(new URL("https://example.test/x"), { method: "POST", body: "x", refresh: false });
  await client.fetchWithRefresh(new Request("/api/echo"), { signal: AbortSignal.timeout(1000) });
  const stats: Stats = await client.stats();
  console.log(res.status, stats.refreshes, stats.elsewhere, stats.refreshedByOthers, EXPIRES_HEADER);
  try {
    await globalThis.fetchWithRefresh?.("/api/departments");
  } catch (e) {
    if (e instanceof AuthError || e instanceof RefreshUnavailableError) console.log(e.status);
  }
}
void demo();
