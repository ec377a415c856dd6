// What the recipe page runs for the test: log in, expire the access token
// on the server (the demo upstream's /demo/expire), then n concurrent calls.
import { fetchWithRefresh, getClient } from "../utils/fetchWithRefresh";

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "X-CSRF": "1", "Content-Type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${await res.text()}`);
}

export async function storm(n) {
  const client = await getClient();
  await post("/api/auth/login", { username: "demo", password: "demo" });
  await post("/api/demo/expire");
  const before = await client.stats();
  const results = await Promise.allSettled(Array.from({ length: n }, async () => {
    const res = await fetchWithRefresh("/api/departments");
    return res.ok && (await res.json()).length > 0;
  }));
  const after = await client.stats();
  return {
    succeeded: results.filter((r) => r.status === "fulfilled" && r.value === true).length,
    errors: results.filter((r) => r.status === "rejected").slice(0, 3).map((r) => String(r.reason)),
    refreshes: after.refreshes - before.refreshes,
    unauthorized: after.unauthorized - before.unauthorized,
  };
}
