// Where the time of one call goes (make profile; internal/testing/e2e/profile_test.go).
// globalThis.fetch is wrapped so that each call's phases can be timed
// from outside the loader and the module: before the attempt is sent
// (preparing the Request, checking the lease), the network, and after the
// answer (settling the Promise).
import { load } from "/js/fetch-with-refresh.mjs";

const csrf = { "X-CSRF": "1" };
const realFetch = globalThis.fetch;
let sentAt = 0, answeredAt = 0;
globalThis.fetch = (input, init) => {
  sentAt = performance.now();
  return realFetch(input, init).then((r) => { answeredAt = performance.now(); return r; });
};

export async function profile(rounds, perRound) {
  const client = await load({});
  const login = await fetch("/api/auth/login", { method: "POST", headers: csrf, body: JSON.stringify({ username: "demo", password: "demo" }) });
  if (!login.ok) throw new Error(`login: ${login.status}`);
  const calls = {
    plain: () => fetch("/api/departments", { headers: csrf }),
    ours: () => client.fetchWithRefresh("/api/departments"),
  };
  const sum = { plain: { total: 0, before: 0, network: 0, after: 0 }, ours: { total: 0, before: 0, network: 0, after: 0 } };
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const name of r % 2 ? ["plain", "ours"] : ["ours", "plain"]) {
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        const res = await calls[name]();
        const t1 = performance.now();
        await res.arrayBuffer();
        const s = sum[name];
        s.total += t1 - t0;
        s.before += sentAt - t0;
        s.network += answeredAt - sentAt;
        s.after += t1 - answeredAt;
      }
    }
    n += perRound;
  }
  for (const s of Object.values(sum)) for (const k of Object.keys(s)) s[k] = (s[k] / n) * 1000; // µs per call

  // The loader's own steps, alone, in a loop.
  const loops = 2000;
  let t = performance.now();
  for (let i = 0; i < loops; i++) {
    const q = new Request("/api/departments");
    if (!q.headers.has("X-CSRF")) q.headers.set("X-CSRF", "1");
  }
  const request = ((performance.now() - t) / loops) * 1000;
  const lease = { cookie: document.cookie, until: Infinity };
  let held = 0;
  t = performance.now();
  for (let i = 0; i < loops; i++) if (document.cookie === lease.cookie && Date.now() < lease.until) held++;
  const cookie = ((performance.now() - t) / loops) * 1000; // the lease check: read the cookies, compare
  if (held !== loops) throw new Error("the cookies changed during the loop");
  const pending = new Set();
  t = performance.now();
  for (let i = 0; i < loops; i++) {
    const ctl = new AbortController();
    pending.add(ctl);
    pending.delete(ctl);
  }
  const controller = ((performance.now() - t) / loops) * 1000; // a withdrawable attempt's AbortController
  t = performance.now();
  for (let i = 0; i < loops; i++) await client.stats(); // one synchronous call into Go, and a Promise
  const crossing = ((performance.now() - t) / loops) * 1000;

  // A whole call without the network: fetch answers at once.
  globalThis.fetch = () => Promise.resolve(new Response("[]"));
  t = performance.now();
  for (let i = 0; i < loops; i++) await fetch("/api/departments");
  const stubPlain = ((performance.now() - t) / loops) * 1000;
  t = performance.now();
  for (let i = 0; i < loops; i++) await client.fetchWithRefresh("/api/departments");
  const stubOurs = ((performance.now() - t) / loops) * 1000;
  return { ...sum, request, cookie, controller, crossing, stubPlain, stubOurs };
}
