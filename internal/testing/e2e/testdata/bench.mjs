// In-page measurements of make bench (internal/tools/bench). Each
// function returns numbers; the Go side computes medians and ratios.
import { load } from "/js/fetch-with-refresh.mjs";

let client;
const csrf = { "X-CSRF": "1" };

// setup loads the module and waits until it runs: the figures are the
// module's (the lazy start-up has its own pages).
export async function setup(options) {
  client = await load(options);
  await client.ready;
}

// login logs in through the module, which so learns the token's expiry.
export async function login() {
  const res = await client.fetchWithRefresh("/api/auth/login", {
    method: "POST", body: JSON.stringify({ username: "demo", password: "demo" }),
  });
  if (!res.ok) throw new Error(`login: ${res.status}`);
}

// overhead: sequential GETs, in rounds that alternate plain fetch and
// fetchWithRefresh; returns the per-call milliseconds of each round.
export async function overhead(rounds, perRound) {
  const ours = [], plain = [];
  for (let r = 0; r < rounds; r++) {
    for (const [list, call] of (r % 2 ? [[plain, plainGet], [ours, ourGet]] : [[ours, ourGet], [plain, plainGet]])) {
      const t0 = performance.now();
      for (let i = 0; i < perRound; i++) await (await call()).arrayBuffer();
      list.push((performance.now() - t0) / perRound);
    }
  }
  return { ours, plain };
}

const plainGet = () => fetch("/api/departments", { headers: csrf });
const ourGet = () => client.fetchWithRefresh("/api/departments");

// storm: n concurrent calls; returns the milliseconds until all settled,
// how many succeeded, and the module's counters.
export async function storm(n, expireFirst) {
  if (expireFirst) await fetch("/api/demo/expire", { method: "POST", headers: csrf });
  const before = await client.stats();
  const t0 = performance.now();
  const results = await Promise.allSettled(Array.from({ length: n }, () => ourGet().then((r) => r.status)));
  const ms = performance.now() - t0;
  const after = await client.stats();
  return {
    ms,
    ok: results.filter((r) => r.status === "fulfilled" && r.value === 200).length,
    refreshes: after.refreshes - before.refreshes,
    unauthorized: after.unauthorized - before.unauthorized,
  };
}
