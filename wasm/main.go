//go:build js && wasm

// Command wasm is the browser module of fetch-with-refresh. Build it with
// GOOS=js GOARCH=wasm and load it with js/fetch-with-refresh.mjs, which is
// its only supported caller.
//
// The contract with the loader: before go.run, the loader sets
// globalThis[os.Args[1]] (default "__fetchWithRefresh") to
//
//	{ options: { refreshURL, loginURL, logoutURL, origins, statusCodes,
//	             refreshTimeoutMs?, refreshAheadMs? },
//	  hooks: { ready(begin, end, stats, session), refreshInit(timeoutMs), token(response) -> {expiresMs, lifetimeMs},
//	           deferred() -> { promise, resolve, reject }, error(name, message, status),
//	           emit(type, error, elsewhere, otherTab, broadcast, expiresMs, lifetimeMs),
//	           lock(timeoutMs)?, shared()? -> {expiresMs, lifetimeMs} } }
//
// where every URL is absolute and origins are "https://host" prefixes
// whose 401s may refresh. The module reads it, builds a client and calls
// hooks.ready(begin, end, stats, session) with four functions; every one
// of them answers synchronously:
//
//	begin(url, signal, expiresMs, lifetimeMs) -> id | Promise<id>
//	    A call is about to be sent; expiresMs and lifetimeMs are the
//	    readable session cookie's (0 when none). id 0: send it as a plain
//	    fetch and do not report it. id < 0: an auth endpoint (login, logout):
//	    send it once and report its answer. id > 0: send it and report its
//	    answer. A Promise: wait (a refresh ahead is due), then send with the
//	    id it resolves to; it rejects if signal aborts first.
//	end(id, status, expiresMs, lifetimeMs) -> 0 | Promise
//	    The answer to an attempt (status -1: none arrived; the expiry
//	    headers only for id < 0). 0: the call is done. A Promise: wait,
//	    then send the call again and report that answer too; it rejects
//	    with the error the call ends with (AuthError, an AbortSignal's
//	    reason...).
//	stats() -> "calls unauthorized refreshes replays failures elsewhere epoch refreshedByOthers authFailures"
//	session(kind, a, b)
//	    What another tab said: 1 a login, 2 a refresh (a, b: the new
//	    token's expiry and lifetime, ms), 3 a rejected refresh (a: its
//	    status), 4 a logout.
//
// then keeps running. A call with a valid token therefore costs two
// synchronous calls into Go, and no goroutine; only the rare path (a
// refresh due or needed) suspends in Go. For a refresh the module calls
// fetch(refreshURL, hooks.refreshInit(timeoutMs)) and reads the new token
// with hooks.token(response). It tells the page what happened to the
// session with hooks.emit: "login", "refresh", "end" and "logout", once
// per tab, and says when the loader must tell the other tabs (broadcast).
// With lock and shared (cross-tab mode), a refresh runs under hooks.lock,
// and hooks.shared() reads the session cookie. If the options are unusable
// the program exits with status 1, which the loader reports.
//
// This package only adapts JavaScript to the policy in package refresh:
// every decision about when to refresh and replay is made there, and every
// decision about the session (which calls count, what a login is, when the
// page and the other tabs are told) is made here, in Go.
package main

import (
	"os"

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
	_, err = hooks.Call("ready", api...)
	return err
}
