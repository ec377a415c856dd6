//go:build js && wasm

// Command wasm is the browser module of fetch-with-refresh. Build it with
// GOOS=js GOARCH=wasm and load it with js/fetch-with-refresh.mjs, which is
// its only supported caller.
//
// The contract with the loader: before go.run, the loader sets
// globalThis[os.Args[1]] (default "__fetchWithRefresh") to
//
//	{ options: { refreshURL, statusCodes, refreshTimeoutMs, refreshAheadMs },
//	  hooks: { ready(...), refreshInit(), expiresAt(response), error(name, message, status),
//	           onRefresh(elsewhere, error), lock()?, shared()? } }
//
// where options.refreshURL is absolute. The module reads it, builds a client
// and calls hooks.ready(fetchWithRefresh, stats, session) with three
// functions:
//
//	fetchWithRefresh(request, resolve, reject) // settles with the Response
//	stats() -> "calls unauthorized refreshes replays failures elsewhere epoch"
//	session(expiresAtMs) // a login (here or in another tab) started a new session
//	session(-status)     // another tab's refresh was rejected: the session is over
//
// then keeps running. The loader prepares the Request (headers, a buffered
// stream body) and sends calls that opt out itself; the module sends the
// Request, or a clone of it when it has a body, for each attempt. For a
// refresh it calls fetch(refreshURL, hooks.refreshInit()); it learns the new
// token's expiry from hooks.expiresAt(response) (milliseconds since the
// epoch, 0 if unknown); it rejects with hooks.error(...) values; it reports
// every refresh to hooks.onRefresh(elsewhere, error) (error null on
// success). With lock and shared (cross-tab mode), a refresh runs under
// hooks.lock, and hooks.shared() reads the session's shared version and
// expiry (Unix ms). If the options are unusable the program exits with
// status 1, which the loader reports.
//
// This package only adapts JavaScript to the policy in package refresh:
// every decision about when to refresh and replay is made there.
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
	for _, fn := range []func(safejs.Value, []safejs.Value) any{c.fetchWithRefresh, c.stats, c.session} {
		f, err := safejs.FuncOf(fn)
		if err != nil {
			return err
		}
		api = append(api, f)
	}
	_, err = hooks.Call("ready", api...)
	return err
}
