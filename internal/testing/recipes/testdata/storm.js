// What the pages of the Vite and webpack recipes run (recipes_test.go
// copies it into each app's src/): log in, expire the access token on the
// server (the demo upstream's /demo/expire), then n concurrent calls.

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "X-CSRF": "1", "Content-Type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${await res.text()}`);
}

// storm runs call(i) for i < n, all at once, after expiry. call resolves to
// true when its answer is the right one.
export async function storm(client, n, call) {
  await post("/api/auth/login", { username: "demo", password: "demo" });
  await post("/api/demo/expire");
  const before = await client.stats();
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => call(i)));
  const after = await client.stats();
  return {
    succeeded: results.filter((r) => r.status === "fulfilled" && r.value === true).length,
    errors: results.filter((r) => r.status === "rejected").slice(0, 3).map((r) => String(r.reason)),
    refreshes: after.refreshes - before.refreshes,
    unauthorized: after.unauthorized - before.unauthorized,
  };
}

// ready publishes the page's run function for the test.
export function ready(run) {
  window.recipe = { run };
  document.getElementById("status").textContent = "ready";
}
