//go:build js && wasm

package main

import (
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/ctxlite"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/hack-pad/safejs"
)

// lease is the policy's state for the attempts the loader sends under one
// lease id: a call started (refresh.Policy.Begin) in that state, which the
// attempts answered with a refresh status copy.
type lease struct {
	id        int
	c         refresh.Call
	withdrawn bool      // the loader was told to withdraw its pending attempts
	_         [0]func() // not comparable: no equality code in the module (1 KB)
}

// call is one call between a refresh status and its replay's answer.
type call struct {
	c      refresh.Call
	signal safejs.Value // the call's AbortSignal, or undefined
}

// begin is the exported begin(signal, expiresMs, lifetimeMs): see the
// package comment. The calls without a signal that find the same refresh
// ahead due share one wait and one Promise: after an expiry, a burst of
// calls costs one goroutine, not one per call.
func (c *client) begin(_ safejs.Value, args []safejs.Value) any {
	cl := &call{signal: arg(args, 0)}
	if !c.policy.Begin(&cl.c, sharedOf(num(arg(args, 1)), num(arg(args, 2)))) {
		return c.leaseOf(&cl.c)
	}
	alone := cl.signal.Type() == safejs.TypeObject
	c.mu.Lock()
	w := c.ahead
	c.mu.Unlock()
	if !alone && w != nil && w.c.Same(&cl.c) {
		return w.promise
	}
	w = &waiter{c: cl.c}
	w.promise = c.suspend(cl, 0, func(ctx refresh.Context) (any, error) {
		err := c.policy.Ahead(ctx, &cl.c)
		c.mu.Lock()
		if c.ahead == w {
			c.ahead = nil
		}
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return c.leaseOf(&cl.c), nil
	})
	if !alone {
		c.mu.Lock()
		c.ahead = w
		c.mu.Unlock()
	}
	return w.promise
}

// waiter is a wait for a refresh ahead that calls without a signal share.
type waiter struct {
	c       refresh.Call // as Begin started the first of them
	promise any          // what begin answers them
}

// end is the exported end(id, status, signal, expiresMs, lifetimeMs): see
// the package comment.
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
	cl := &call{c: c.leaseCall(id, code != withdrawn, sharedOf(num(arg(args, 3)), num(arg(args, 4)))), signal: arg(args, 2)}
	cl.c.Resume()
	if code != withdrawn && !c.policy.Answer(&cl.c, code) {
		return 0
	}
	return c.suspend(cl, c.add(cl), func(ctx refresh.Context) (any, error) {
		return nil, c.policy.Await(ctx, &cl.c)
	})
}

// withdrawn is the status the loader reports for an attempt it withdrew.
const withdrawn = 0

// leaseOf returns the id of the lease for attempts sent as cl was started:
// the latest one if it was started in the same state, else a new one (the
// first is 1). While
// the policy is steady, the loader holds the new one (hooks.lease) and sends
// calls under it without asking.
func (c *client) leaseOf(cl *refresh.Call) int {
	c.mu.Lock()
	l := &c.leases[c.lastLease%len(c.leases)]
	if c.lastLease == 0 || !l.c.Same(cl) { // lease 0 is the loader's before the module ran
		c.lastLease++
		l = &c.leases[c.lastLease%len(c.leases)]
		*l = lease{id: c.lastLease, c: *cl}
	}
	id := l.id
	c.mu.Unlock()
	if until, ok := c.policy.Steady(cl); ok {
		var ms int64
		if !until.IsZero() {
			ms = until.UnixMilli()
		}
		_, _ = get(c.hooks, "lease").Invoke(id, ms)
	}
	return id
}

// leaseCall returns a copy of lease id's call. Lease 0, the calls the
// loader sent before the module ran, takes the policy's state at its first
// report (with the session cookie that call was sent with): what happened
// before the module ran (a login) has been reported by then, and a later
// report sees the refresh the first one started. A lease too old to be
// kept (the latest len(c.leases) are) gets a call older than any refresh
// since: its attempt is sent again without a refresh. With refused set (a
// refresh status, not a withdrawal), it also tells the loader, once per
// lease, to withdraw the lease's other pending attempts sent after the
// refused one: they carry the same token.
func (c *client) leaseCall(id int, refused bool, sent refresh.Shared) refresh.Call {
	c.mu.Lock()
	l := &c.leases[id%len(c.leases)]
	if l.id != id {
		c.mu.Unlock()
		return refresh.Call{}
	}
	if id == 0 && !c.adopted {
		c.adopted = true
		c.mu.Unlock()
		var first refresh.Call
		c.policy.Adopt(&first, sent) // the loader counted the call
		c.mu.Lock()
		l.c = first
	}
	cl, tell := l.c, refused && !l.withdrawn
	l.withdrawn = l.withdrawn || refused
	c.mu.Unlock()
	if tell {
		_, _ = get(c.hooks, "withdraw").Invoke(id)
	}
	return cl
}

// changed (Config.Changed): the policy is no longer steady, the loader's
// lease ends.
func (c *client) changed() {
	_, _ = get(c.hooks, "lease").Invoke(0, 0)
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

// suspend returns a Promise that wait settles in a goroutine, with the
// call's AbortSignal as wait's Context: it resolves to wait's value (id
// when that is nil), or rejects with its error, and then the call id (if
// any) is over.
func (c *client) suspend(cl *call, id int, wait func(refresh.Context) (any, error)) any {
	d, err := get(c.hooks, "deferred").Invoke()
	if err != nil { // (the loader's own function: not expected) the call ends with its answer
		c.remove(id)
		return 0
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
