//go:build js && wasm

package main

import (
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/lease"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/hack-pad/safejs"
)

// session is the exported session(kind, a, b): see the package comment.
func (c *client) session(_ safejs.Value, args []safejs.Value) any {
	kind, _ := arg(args, 0).Int()
	a, b := num(arg(args, 1)), num(arg(args, 2))
	switch kind {
	case lease.HereLogin:
		c.loggedIn(lease.Expiry(a, b))
	case lease.HereLogout:
		c.loggedOut(false)
	case lease.TabLogin:
		s := lease.Expiry(a, b)
		c.policy.Reset(s.Expiry, s.Lifetime)
		c.emit("login", nil, false, true, false, s)
	case lease.TabRefresh:
		s := lease.Expiry(a, b)
		c.others.Add(1)
		c.policy.Reset(s.Expiry, s.Lifetime)
		c.emit("refresh", nil, false, true, false, s)
	case lease.TabEnded:
		c.relaying.Store(true)
		c.policy.Fail(int(a)) // calls c.ended if the session was still on here
		c.relaying.Store(false)
	case lease.TabLogout:
		c.loggedOut(true)
	}
	return nil
}

// loggedIn starts the session that a login here (the login endpoint
// answered 2xx; a and b: the expiry headers of its answer) opened, and tells the page and the other tabs.
func (c *client) loggedIn(s refresh.Shared) {
	if s.Version == 0 {
		s = c.sharedNow()
	}
	c.policy.Reset(s.Expiry, s.Lifetime)
	c.emit("login", nil, false, false, true, s)
}

// loggedOut ends the session after a logout, here or (otherTab) in
// another tab, and tells the page once, and the other tabs if it was here.
func (c *client) loggedOut(otherTab bool) {
	if c.policy.Logout() {
		c.emit("logout", nil, false, otherTab, !otherTab, refresh.Shared{})
	}
}

// sharedNow reads the session cookie, or nothing outside a page.
func (c *client) sharedNow() refresh.Shared {
	if get(c.hooks, lease.HookShared).Type() != safejs.TypeFunction {
		return refresh.Shared{}
	}
	return c.shared()
}

// refreshDone (Config.Done) reports each refresh to the page, and a new
// token to the other tabs.
func (c *client) refreshDone(res refresh.Result, err error) {
	s := refresh.Shared{Expiry: res.Expiry, Lifetime: res.Lifetime}
	if !res.Expiry.IsZero() {
		s.Version = res.Expiry.UnixMilli()
	}
	c.emit("refresh", err, res.Elsewhere, false, err == nil && !res.Elsewhere, s)
}

// started (Config.Started): the session cookie shows a new session after
// a definite failure (a login by plain fetch, a form, the server, another
// tab).
func (c *client) started(s refresh.Shared) {
	c.emit("login", nil, false, false, false, s)
}

// ended (Config.Ended), once per ended session in this tab: the page is
// told, and the other tabs too unless the news came from one of them.
func (c *client) ended(err *refresh.Error) {
	c.authFailures.Add(1)
	otherTab := c.relaying.Load()
	c.emit("end", err, false, otherTab, !otherTab, refresh.Shared{})
}

// emit calls hooks.emit(type, error, elsewhere, otherTab, broadcast,
// expiresMs, lifetimeMs).
func (c *client) emit(kind string, err error, elsewhere, otherTab, broadcast bool, s refresh.Shared) {
	var jsErr any
	if err != nil {
		jsErr = c.toJS(err)
	}
	_, _ = get(c.hooks, lease.HookEmit).Invoke(kind, jsErr, elsewhere, otherTab, broadcast,
		s.Version, s.Lifetime.Milliseconds())
}
