package lease

// The contract between the module (wasm/) and its loader
// (js/fetch-with-refresh.mjs), defined once here. The loader keeps the
// same values in its CONTRACT object; TestLoaderContract reads that object
// and fails when the two differ.

// The hooks the loader hands the module, by name.
const (
	HookReady    = "ready"    // ready(begin, end, stats, session): the module runs
	HookLease    = "lease"    // lease(id, untilMs): the loader holds lease id (0: none)
	HookWithdraw = "withdraw" // withdraw(id, after): abort lease id's pending attempts numbered after after
	HookRefresh  = "refresh"  // refresh(timeoutMs) -> Promise<{status, expiresMs, lifetimeMs}>: POST the refresh endpoint once
	HookDeferred = "deferred" // deferred() -> {promise, resolve, reject}
	HookError    = "error"    // error(name, message, status) -> an Error object
	HookEmit     = "emit"     // emit(type, error, elsewhere, otherTab, broadcast, expiresMs, lifetimeMs)
	HookLock     = "lock"     // lock(timeoutMs) -> Promise<release>: cross-tab mode's Web Lock (optional)
	HookShared   = "shared"   // shared() -> {expiresMs, lifetimeMs, failedMs?, failedStatus?}: the session cookie, and a tab's transient refresh failure of its token (optional, in a page)
)

// Hooks lists every hook, in the order above.
var Hooks = []string{HookReady, HookLease, HookWithdraw, HookRefresh, HookDeferred, HookError, HookEmit, HookLock, HookShared}

// What the loader passes to the module's session(kind, a, b): news from
// another tab, or the answer of the login or logout endpoint here.
const (
	TabLogin   = 1 // another tab logged in (a, b: the token's expiry and lifetime, ms)
	TabRefresh = 2 // another tab refreshed (a, b: the new token's expiry and lifetime)
	TabEnded   = 3 // another tab's refresh was rejected (a: its status)
	TabLogout  = 4 // another tab logged out
	HereLogin  = 5 // the login endpoint answered 2xx here (a, b: its expiry headers)
	HereLogout = 6 // the logout endpoint answered 2xx here
)

// Stats names the counters of the module's stats() string, in order.
var Stats = []string{"calls", "unauthorized", "refreshes", "replays", "failures", "elsewhere", "epoch", "refreshedByOthers", "authFailures"}

// DefaultAheadMs is the refresh-ahead window (ms) when the page's
// options.refreshAheadMs is not given: at most 30 s, and refresh.Window
// shortens it to a quarter of the token's lifetime. The loader needs it
// too, to fetch the module before a refresh ahead comes due.
const DefaultAheadMs = 30_000

// Idempotent lists the methods whose attempts may be withdrawn and sent
// again (RFC 9110, 9.2.2), as do attempts with an Idempotency-Key header.
var Idempotent = []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
