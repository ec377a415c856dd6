//go:build js && wasm

// Command wasm is the browser module of fetch-with-refresh. Build it with
// GOOS=js GOARCH=wasm and load it with js/fetch-with-refresh.mjs, which is
// its only supported caller.
//
// The contract with the loader: before go.run, the loader sets
// globalThis[os.Args[1]] (default "__fetchWithRefresh") to
//
//	{ options: { refreshURL, statusCodes, refreshTimeoutMs, refreshAheadMs },
//	  hooks: { ready(api), refreshInit(), expiresAt(response), error(name, message, status), onRefresh(event) } }
//
// where options.refreshURL is absolute. The module reads it, builds a client
// and calls hooks.ready(fetchWithRefresh, stats, reset) with three
// functions:
//
//	fetchWithRefresh(request, resolve, reject) // settles with the Response
//	stats() -> [calls, unauthorized, refreshes, replays, failures, epoch]
//	reset(expiresAtMs) // a login started a new session (0: expiry unknown)
//
// then keeps running. The loader prepares the Request (headers, a buffered
// stream body) and sends calls that opt out itself; the module sends a clone
// of the Request for each attempt. For a
// refresh it calls fetch(refreshURL, hooks.refreshInit()); it learns the new
// token's expiry from hooks.expiresAt(response) (milliseconds since the
// epoch, 0 if unknown); it rejects with hooks.error(...) values; it reports
// every refresh to hooks.onRefresh({ok, error}). If the options are
// unusable the program exits with status 1, which the loader reports.
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
	fetchFn, err := safejs.FuncOf(c.fetchWithRefresh)
	if err != nil {
		return err
	}
	statsFn, err := safejs.FuncOf(c.stats)
	if err != nil {
		return err
	}
	resetFn, err := safejs.FuncOf(c.reset)
	if err != nil {
		return err
	}
	_, err = hooks.Call("ready", fetchFn, statsFn, resetFn)
	return err
}
