//go:build js && wasm

// Command wasm is the browser module of fetch-with-refresh. Build it with
// GOOS=js GOARCH=wasm and load it with js/fetch-with-refresh.mjs, which is
// its only supported caller.
//
// The contract with the loader (its names and numbers are package lease's
// constants, which the loader's CONTRACT object repeats and a test
// compares): before go.run, the loader sets globalThis[os.Args[1]]
// (default "__fetchWithRefresh") to
//
//	{ options: { statusCodes, refreshTimeoutMs?, refreshAheadMs? },
//	  hooks: { ready(begin, end, stats, session), lease(id, untilMs), withdraw(id, after),
//	           refresh(timeoutMs) -> Promise<{status, expiresMs, lifetimeMs}>,
//	           deferred() -> { promise, resolve, reject }, error(name, message, status),
//	           emit(type, error, elsewhere, otherTab, broadcast, expiresMs, lifetimeMs),
//	           lock(timeoutMs)?, shared()? -> {expiresMs, lifetimeMs, failedMs?, failedStatus?} } }
//
// where statusCodes are the statuses that mean "token refused" (401 if
// empty). The module reads it, builds a client and calls hooks.ready with
// four functions; every one of them answers synchronously. The loader
// sorts the calls first: the auth endpoints' answers go to session, the
// calls to other origins (and refresh: false) bypass the module, and every
// other call goes through begin and end.
//
//	begin(signal, expiresMs, lifetimeMs) -> lease | Promise<lease>
//	    A call is about to be sent; expiresMs and lifetimeMs are the
//	    readable session cookie's (0 when none). lease (> 0): send it under
//	    that lease. A Promise: wait (a refresh ahead is due), then send it
//	    under the lease it resolves to; it rejects if signal aborts first.
//	    While the policy is steady, begin also grants the lease:
//	    hooks.lease(id, untilMs). Until hooks.lease(0, 0) revokes it, untilMs
//	    (0: no limit) passes, or document.cookie reads differently (any
//	    cookie of the page: the session cookie changes with every new
//	    token), the loader sends every call under it without calling
//	    begin: a call with a valid token crosses into Go zero times.
//	end(id, status, signal, expiresMs, lifetimeMs, n) -> 0 | Promise<id>
//	    Attempt n (the loader numbers its first attempts from 1) under
//	    lease id was answered with a refresh status, or withdrawn (status
//	    0); or the replay of call id (< 0) was answered (any status; -1: no
//	    answer). Lease 0 is that of the calls sent before the module ran;
//	    the session cookie they were sent with comes with their reports
//	    (expiresMs, lifetimeMs). 0: the call is done. A Promise: wait, then
//	    send the call again and report that answer with the id it resolves
//	    to; it rejects with the error the call ends with (AuthError, an
//	    AbortSignal's reason...). The first refresh status under a lease
//	    makes the module call hooks.withdraw(id, n), during that end: the
//	    loader aborts the lease's pending withdrawable attempts numbered
//	    after n and reports each as withdrawn.
//	stats() -> "calls unauthorized refreshes replays failures elsewhere epoch refreshedByOthers authFailures"
//	    (calls: those that went through begin; the loader adds its own.)
//	session(kind, a, b)
//	    What another tab said: 1 a login, 2 a refresh (a, b: the new
//	    token's expiry and lifetime, ms), 3 a rejected refresh (a: its
//	    status), 4 a logout. Or what happened here: 5 the login endpoint
//	    answered 2xx (a, b: its expiry headers), 6 the logout endpoint did.
//
// then keeps running. Only the rare path (a refresh due or needed)
// suspends in Go. For a refresh the module calls hooks.refresh. It tells
// the page what happened to the session with hooks.emit: "login",
// "refresh", "end" and "logout", once per tab, and says when the loader
// must tell the other tabs (broadcast). With lock and shared (cross-tab
// mode), a refresh runs under hooks.lock, and hooks.shared() reads the
// session cookie. If the options are unusable the program exits with
// status 1, which the loader reports.
//
// This package only adapts JavaScript to Go: when to refresh and replay
// is package refresh's decision; when a lease holds, what an attempt
// reported under it means and which attempts to withdraw are package
// lease's; what a login or an ended session is, and who is told, is
// decided here (session.go). The loader owns the fast path: it sorts
// calls by URL as the page's options say, applies the lease it holds, and
// numbers and watches the attempts that may be withdrawn.
package main

import (
	"os"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/lease"
	"github.com/hack-pad/safejs"
)

func main() {
	if err := start(); err != nil {
		println("fetch-with-refresh:", err.Error())
		os.Exit(1)
	}
	select {} // serve calls until the page goes away
}

// start reads the loader's handshake object and hands it the API.
func start() error {
	key := "__fetchWithRefresh"
	if len(os.Args) > 1 {
		key = os.Args[1]
	}
	handshake := global(key)
	hooks := get(handshake, "hooks")
	c, err := newClient(get(handshake, "options"), hooks)
	if err != nil {
		return err
	}
	var api []any
	for _, fn := range []func(safejs.Value, []safejs.Value) any{c.begin, c.end, c.stats, c.session} {
		f, err := safejs.FuncOf(fn)
		if err != nil {
			return err
		}
		api = append(api, f)
	}
	_, err = hooks.Call(lease.HookReady, api...)
	return err
}
