//go:build js && wasm

package main

import (
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/ctxlite"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/lease"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/hack-pad/safejs"
)

// call is one call between a refresh status and its replay's answer.
type call struct {
	c      refresh.Call
	signal safejs.Value // the call's AbortSignal, or undefined
}

// begin is the exported begin(signal, expiresMs, lifetimeMs): see the
// package comment and lease.Table.Begin.
func (c *client) begin(_ safejs.Value, args []safejs.Value) any {
	signal := arg(args, 0)
	shared := signal.Type() != safejs.TypeObject
	return c.leases.Begin(lease.Expiry(num(arg(args, 1)), num(arg(args, 2))), shared, func(w *lease.Wait) any {
		return c.suspend(signal, 0, func(ctx refresh.Context) (any, error) {
			id, err := c.leases.Ahead(ctx, w)
			return id, err
		})
	})
}

// end is the exported end(id, status, signal, expiresMs, lifetimeMs, n):
// see the package comment and lease.Table.Report.
func (c *client) end(_ safejs.Value, args []safejs.Value) any {
	id, _ := arg(args, 0).Int()
	code := int(num(arg(args, 1)))
	if id < 0 { // a replay's answer: counted, and the call is over
		if cl := c.get(id); cl != nil {
			c.policy.Answer(&cl.c, code)
			c.remove(id)
		}
		return 0
	}
	rc, again := c.leases.Report(id, int(num(arg(args, 5))), code, lease.Expiry(num(arg(args, 3)), num(arg(args, 4))))
	if !again {
		return 0
	}
	cl := &call{c: rc, signal: arg(args, 2)}
	return c.suspend(cl.signal, c.add(cl), func(ctx refresh.Context) (any, error) {
		return nil, c.policy.Await(ctx, &cl.c)
	})
}

// changed (Config.Changed): the policy is no longer steady, the loader's
// lease ends.
func (c *client) changed() {
	_, _ = get(c.hooks, lease.HookLease).Invoke(0, 0)
}

// add records cl and returns its id, which is negative.
func (c *client) add(cl *call) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastCall--
	c.calls[c.lastCall] = cl
	return c.lastCall
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

// suspend returns a Promise that wait settles in a goroutine, with
// signal (a call's AbortSignal, or undefined) as wait's Context: it resolves to wait's value (id
// when that is nil), or rejects with its error, and then the call id (if
// any) is over.
func (c *client) suspend(signal safejs.Value, id int, wait func(refresh.Context) (any, error)) any {
	d, err := get(c.hooks, lease.HookDeferred).Invoke()
	if err != nil { // (the loader's own function: not expected) the call ends with its answer
		c.remove(id)
		return 0
	}
	go func() {
		ctx, stop := signalContext(signal)
		v, err := wait(ctx)
		stop()
		if err != nil {
			c.remove(id)
			_, _ = get(d, "reject").Invoke(c.toJS(err))
			return
		}
		if v == nil {
			v = id
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
