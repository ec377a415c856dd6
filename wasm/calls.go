//go:build js && wasm

package main

import (
	"github.com/fetch-with-refresh/fetch-with-refresh/wasm/internal/ctxlite"
	"github.com/fetch-with-refresh/fetch-with-refresh/wasm/refresh"
	"github.com/hack-pad/safejs"
)

// call is one call between begin and its last end.
type call struct {
	c      refresh.Call
	signal safejs.Value // the call's AbortSignal, or undefined
}

// The ids begin gives calls that the policy does not see.
const (
	plainCall  = 0  // not ours to refresh: send it as it is, do not report it
	loginCall  = -1 // the login endpoint: report its answer
	logoutCall = -2 // the logout endpoint: report its answer
)

// begin is the exported begin(url, signal, expiresMs, lifetimeMs): see the
// package comment. It decides which calls go through the policy: not the
// auth endpoints (a wrong password must come back as the 401 it is), and
// only calls to our origins (a third party's 401 says nothing of our
// session).
func (c *client) begin(_ safejs.Value, args []safejs.Value) any {
	url := withoutQuery(str(arg(args, 0)))
	switch {
	case url == c.loginURL:
		return loginCall
	case url == c.logoutURL:
		return logoutCall
	case url == c.refreshURL || !c.ours(url):
		return plainCall
	}
	cl := &call{signal: arg(args, 1)}
	due := c.policy.Begin(&cl.c, sharedOf(num(arg(args, 2)), num(arg(args, 3))))
	id := c.add(cl)
	if !due {
		return id
	}
	return c.suspend(cl, func(ctx refresh.Context) (any, error) {
		return id, c.policy.Ahead(ctx, &cl.c)
	}, id)
}

// end is the exported end(id, status, expiresMs, lifetimeMs): see the
// package comment.
func (c *client) end(_ safejs.Value, args []safejs.Value) any {
	id, _ := arg(args, 0).Int()
	code := int(num(arg(args, 1)))
	switch {
	case id == loginCall && code >= 200 && code < 300:
		c.loggedIn(sharedOf(num(arg(args, 2)), num(arg(args, 3))))
		return 0
	case id == logoutCall && code >= 200 && code < 300:
		c.loggedOut(false)
		return 0
	case id <= 0:
		return 0
	}
	cl := c.get(id)
	if cl == nil || code < 0 || !c.policy.Answer(&cl.c, code) {
		c.remove(id)
		return 0
	}
	return c.suspend(cl, func(ctx refresh.Context) (any, error) {
		return nil, c.policy.Await(ctx, &cl.c)
	}, id)
}

// ours reports whether a 401 from url may refresh our session: url is on
// one of the origins the loader listed (the page's by default).
func (c *client) ours(url string) bool {
	for _, o := range c.origins {
		if len(url) >= len(o) && url[:len(o)] == o {
			return true
		}
	}
	return false
}

// withoutQuery returns url up to its "?", if any. (A loop rather than
// package strings, which costs the module 1 KB of brotli.)
func withoutQuery(url string) string {
	for i := range len(url) {
		if url[i] == '?' {
			return url[:i]
		}
	}
	return url
}

// add records cl and returns its id.
func (c *client) add(cl *call) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	c.calls[c.next] = cl
	return c.next
}

// get returns the call id, or nil.
func (c *client) get(id int) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

// remove forgets the call id.
func (c *client) remove(id int) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
}

// suspend returns a Promise that wait settles in a goroutine, with the
// call's AbortSignal as wait's Context: it resolves to wait's value, or
// rejects with its error, and then the call id is over.
func (c *client) suspend(cl *call, wait func(refresh.Context) (any, error), id int) any {
	d, err := get(c.hooks, "deferred").Invoke()
	if err != nil {
		c.remove(id)
		return nil
	}
	go func() {
		ctx, stop := signalContext(cl.signal)
		v, err := wait(ctx)
		stop()
		if err != nil {
			c.remove(id)
			_, _ = get(d, "reject").Invoke(c.toJS(err))
			return
		}
		_, _ = get(d, "resolve").Invoke(v)
	}()
	return get(d, "promise")
}

// never is the Context of a call without an AbortSignal.
var never = ctxlite.New()

// signalContext returns a Context that ends when signal aborts, with the
// signal's reason as its error (a *Rejection, handed back to JavaScript
// as it is), and a function that stops listening. An undefined signal
// never ends.
func signalContext(signal safejs.Value) (refresh.Context, func()) {
	if signal.Type() != safejs.TypeObject {
		return never, func() {}
	}
	ctx := ctxlite.New()
	abort := func() { ctx.CancelWith(&Rejection{Value: get(signal, "reason")}) }
	if !get(signal, "reason").IsUndefined() { // aborted already (reading .aborted as a bool costs 1 KB)
		abort()
		return ctx, func() {}
	}
	onAbort, err := safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		abort()
		return nil
	})
	if err != nil {
		return never, func() {}
	}
	_, _ = signal.Call("addEventListener", "abort", onAbort)
	return ctx, func() {
		_, _ = signal.Call("removeEventListener", "abort", onAbort)
		onAbort.Release()
	}
}
