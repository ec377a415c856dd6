// AbsorbObject is the Durable Object class behind the Worker's absorb.Store
// (bff/absorb/dostore is its Go client; README, "Deploy to
// Cloudflare Workers"). The Worker addresses one object per absorption key
// (namespace.idFromName(key)), so the refreshes of one session meet in one
// single-threaded object, and no other session's traffic can reach it.
//
// Protocol: POST with a JSON body, JSON answers.
//
//   /acquire  {lockTTL, wait} (ms)
//             -> 200 {"value": b64}   a completed refresh's value, within its TTL
//             -> 200 {"lease": id}    the caller refreshes; the lease lasts lockTTL
//             -> 200 {"timeout": true} the holder did not finish within wait
//             -> 503 {"error": "busy"} too many callers wait already
//   /complete {lease, value, ttl}  -> 200 {"ok": true}: value is stored for
//             ttl and handed to every waiter; the lease, if still the
//             current one, ends
//   /release  {lease}              -> 200 {"ok": true}: the lease, if still
//             the current one, goes to the next waiter
//   /forget   {}                   -> 200 {"ok": true}: the value is dropped
//             (its session ended); a lease is left alone
//
// Every answer has a JSON body (a stub's Response with a null body is one
// that syumai/workers cannot read).
//
// While a lease is held, acquire waits inside the object (a promise per
// caller, no polling) until the lease is completed, released or expires;
// then the first waiter gets the next lease, or every waiter the value.
//
// Only a completed refresh's value is written to the object's storage: an
// object evicted within the value's window reloads it, so a duplicate that
// comes later still gets it instead of refreshing again. The lease and the
// waiters live in memory only. A refresh that the upstream refused (its
// lease released) therefore writes nothing, and a lease lasts one auth
// timeout, far less than the idle time after which the runtime evicts an
// object; a waiting request keeps its object alive. An alarm deletes the
// storage when the value has expired.
//
// Memory is bounded per object: at most MAX_WAITERS waiting callers (fewer
// if the Worker variable ABSORB_MAX_WAITERS says so), one value of at most
// MAX_VALUE base64 characters, TTLs and waits capped.

const MAX_WAITERS = 256;
const MAX_VALUE = 64 * 1024;
const MAX_TTL = 10 * 60 * 1000;
const MAX_WAIT = 60 * 1000;

export class AbsorbObject {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.maxWaiters = Math.min(MAX_WAITERS, Number(env?.ABSORB_MAX_WAITERS) || MAX_WAITERS);
    this.lease = null; // {id, until}: who refreshes now, and until when
    this.value = null; // {data, until}: the last completed refresh's value
    this.waiters = []; // {resolve, timer}, first come first served
    this.leaseTimer = null; // fires when the lease expires while callers wait
    state.blockConcurrencyWhile(async () => {
      this.value = (await state.storage.get("value")) ?? null;
    });
  }

  async fetch(request) {
    if (request.method !== "POST") {
      return answer(405, { error: "method_not_allowed" });
    }
    let body;
    try {
      body = await request.json();
    } catch {
      return answer(400, { error: "bad_request", message: "the body is not JSON" });
    }
    if (body === null || typeof body !== "object") {
      return answer(400, { error: "bad_request", message: "the body is not a JSON object" });
    }
    switch (new URL(request.url).pathname) {
      case "/acquire":
        return this.acquire(body);
      case "/complete":
        return this.complete(body);
      case "/release":
        return this.release(body);
      case "/forget":
        return this.forget();
      default:
        return answer(404, { error: "not_found" });
    }
  }

  async acquire({ lockTTL, wait }) {
    lockTTL = duration(lockTTL, MAX_TTL);
    wait = duration(wait, MAX_WAIT);
    if (lockTTL === 0) {
      return answer(400, { error: "bad_request", message: "lockTTL must be a positive number of ms" });
    }
    const now = Date.now();
    if (this.value && this.value.until > now) {
      return answer(200, { value: this.value.data });
    }
    if (!this.lease || this.lease.until <= now) {
      return answer(200, { lease: this.grant(lockTTL) });
    }
    if (this.waiters.length >= this.maxWaiters) {
      return answer(503, { error: "busy", message: "too many refreshes wait for this key" });
    }
    return new Promise((resolve) => {
      const waiter = { lockTTL, resolve };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(answer(200, { timeout: true }));
      }, wait || 1);
      this.waiters.push(waiter);
      this.watchLease();
    });
  }

  async complete({ lease, value, ttl }) {
    ttl = duration(ttl, MAX_TTL);
    if (typeof value !== "string" || value === "" || ttl === 0) {
      return answer(400, { error: "bad_request", message: "value (base64) and ttl (ms) are required" });
    }
    if (value.length > MAX_VALUE) {
      return answer(413, { error: "too_large", message: `values are limited to ${MAX_VALUE} characters` });
    }
    this.value = { data: value, until: Date.now() + ttl };
    if (this.lease && this.lease.id === lease) {
      this.lease = null;
      this.clearLeaseTimer();
    }
    await this.state.storage.put("value", this.value);
    await this.scheduleCleanup();
    // A value from a lease that had expired is a real result too: the
    // waiters take it rather than refresh again.
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.resolve(answer(200, { value: value }));
    }
    return answer(200, { ok: true });
  }

  async release({ lease }) {
    if (this.lease && this.lease.id === lease) {
      this.lease = null;
      this.clearLeaseTimer();
      this.handOver();
    }
    return answer(200, { ok: true });
  }

  // forget drops the value, in memory and in storage.
  async forget() {
    if (this.value) {
      this.value = null;
      await this.state.storage.delete("value");
    }
    return answer(200, { ok: true });
  }

  // grant makes a new lease, in memory only, and returns its id.
  grant(lockTTL) {
    this.lease = { id: crypto.randomUUID(), until: Date.now() + lockTTL };
    this.watchLease();
    return this.lease.id;
  }

  // handOver gives the lease to the first waiter, if any.
  handOver() {
    const next = this.waiters.shift();
    if (next) {
      clearTimeout(next.timer);
      next.resolve(answer(200, { lease: this.grant(next.lockTTL) }));
    }
  }

  // watchLease arms a timer for the current lease's expiry while callers
  // wait for it.
  watchLease() {
    if (this.leaseTimer || !this.lease || this.waiters.length === 0) {
      return;
    }
    const lease = this.lease;
    this.leaseTimer = setTimeout(() => {
      this.leaseTimer = null;
      if (this.lease === lease) {
        this.lease = null;
        this.handOver();
      } else {
        this.watchLease();
      }
    }, Math.max(1, lease.until - Date.now()));
  }

  clearLeaseTimer() {
    clearTimeout(this.leaseTimer);
    this.leaseTimer = null;
  }

  // scheduleCleanup sets the alarm to the stored value's expiry.
  async scheduleCleanup() {
    const until = this.value?.until ?? 0;
    const current = await this.state.storage.getAlarm();
    if (until > 0 && (current === null || current < until)) {
      await this.state.storage.setAlarm(until);
    }
  }

  async alarm() {
    if (this.value && this.value.until > Date.now()) {
      await this.scheduleCleanup();
      return;
    }
    this.value = null;
    await this.state.storage.deleteAll();
  }
}

// duration returns v when it is a positive number of ms, capped at max; else 0.
function duration(v, max) {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.min(Math.ceil(v), max) : 0;
}

function answer(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8" },
  });
}
