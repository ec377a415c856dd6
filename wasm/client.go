//go:build js && wasm

package main

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/lease"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/hack-pad/safejs"
)

// client is one fetchWithRefresh instance: the options of one load() call,
// the refresh policy they configure, and the calls in progress.
type client struct {
	policy  *refresh.Policy
	leases  *lease.Table
	timeout time.Duration // one refresh's timeout, as the policy has it
	hooks   safejs.Value  // the loader's callbacks and error constructors

	mu       sync.Mutex    // protects the fields below
	calls    map[int]*call // the calls waiting for or sending their replay, by id
	lastCall int           // the last call id given out (they are negative)

	others       atomic.Uint64 // refreshes other tabs announced
	authFailures atomic.Uint64 // ended sessions reported to the page
	relaying     atomic.Bool   // an end of session is another tab's news, not to broadcast
}

// errNegative is newClient's error for options the loader passed on
// unchecked.
var errNegative = errors.New("fetch-with-refresh: refreshTimeoutMs and refreshAheadMs must not be negative")

// DefaultAhead is the refresh-ahead window when options.refreshAheadMs is
// not given (lease.DefaultAheadMs).
const DefaultAhead = lease.DefaultAheadMs * time.Millisecond

// newClient reads the options object the loader passes (see the package
// comment) and keeps the hooks object.
func newClient(jsOptions, jsHooks safejs.Value) (*client, error) {
	c := &client{hooks: jsHooks, calls: map[int]*call{}}
	cfg := refresh.Config{
		Refresh: c.refresh,
		Timeout: millis(get(jsOptions, "refreshTimeoutMs"), refresh.DefaultTimeout),
		Ahead:   millis(get(jsOptions, "refreshAheadMs"), DefaultAhead),
		Done:    c.refreshDone,
		Started: c.started,
		Ended:   c.ended,
		Changed: c.changed,
	}
	if get(jsHooks, lease.HookLock).Type() == safejs.TypeFunction { // cross-tab, with Web Locks
		cfg.Lock = c.lock
	}
	if get(jsHooks, lease.HookShared).Type() == safejs.TypeFunction { // cross-tab, in a page
		cfg.Shared = c.shared
	}
	if cfg.Timeout < 0 || cfg.Ahead < 0 {
		return nil, errNegative
	}
	if codes := get(jsOptions, "statusCodes"); codes.Type() == safejs.TypeObject {
		n, _ := codes.Length()
		for i := range n {
			v, _ := codes.Index(i)
			if code, err := v.Float(); err == nil {
				cfg.StatusCodes = append(cfg.StatusCodes, int(code))
			}
		}
	}
	c.timeout = cfg.Timeout
	c.policy = refresh.New(cfg)
	c.leases = lease.New(lease.Config{Policy: c.policy, Grant: c.grant, Withdraw: c.withdraw})
	return c, nil
}

// refresh calls the refresh endpoint once (the policy's RefreshFunc)
// through hooks.refresh(timeoutMs), which POSTs it with the configured
// headers and an AbortSignal.timeout as long as the policy's timeout (so
// that the request itself ends when the policy stops waiting for it; the
// policy's timer also covers the wait for the cross-tab lock), and
// resolves to the answer's {status, expiresMs, lifetimeMs}.
func (c *client) refresh(refresh.Context) (refresh.Result, error) {
	jsPromise, err := get(c.hooks, lease.HookRefresh).Invoke(c.timeout.Milliseconds())
	if err != nil {
		return refresh.Result{}, err
	}
	res, err := await(jsPromise)
	if err != nil {
		return refresh.Result{}, err
	}
	code, err := get(res, "status").Float()
	tok := tokenOf(res)
	return refresh.Result{Status: int(code), Expiry: tok.Expiry, Lifetime: tok.Lifetime}, err
}

// grant (lease.Config.Grant) tells the loader it holds lease id.
func (c *client) grant(id int, untilMs int64) {
	_, _ = get(c.hooks, lease.HookLease).Invoke(id, untilMs)
}

// withdraw (lease.Config.Withdraw) tells the loader to withdraw lease
// id's pending attempts numbered after after.
func (c *client) withdraw(id, after int) {
	_, _ = get(c.hooks, lease.HookWithdraw).Invoke(id, after)
}

// lock runs fn while holding the browser-wide lock: hooks.lock(timeoutMs) returns a
// Promise of the function that releases a Web Lock once it is held; it
// rejects if the request was aborted (at the refresh timeout).
func (c *client) lock(fn func() (refresh.Result, error)) (refresh.Result, error) {
	p, err := get(c.hooks, lease.HookLock).Invoke(c.timeout.Milliseconds())
	if err != nil {
		return refresh.Result{}, err
	}
	release, err := await(p)
	if err != nil {
		return refresh.Result{}, err
	}
	defer release.Invoke()
	return fn()
}

// shared reads the session state the tabs share through hooks.shared():
// the readable session cookie's {expiresMs, lifetimeMs} and, when a tab's
// refresh of that token failed transiently, {failedMs, failedStatus}.
func (c *client) shared() refresh.Shared {
	v, err := get(c.hooks, lease.HookShared).Invoke()
	if err != nil {
		return refresh.Shared{}
	}
	s := tokenOf(v)
	if ms := num(get(v, "failedMs")); ms > 0 {
		s.Failed, s.FailedStatus = time.UnixMilli(int64(ms)), int(num(get(v, "failedStatus")))
	}
	return s
}

// tokenOf reads {expiresMs, lifetimeMs} as the Shared state of that token
// (zero if unknown).
func tokenOf(v safejs.Value) refresh.Shared {
	return lease.Expiry(num(get(v, "expiresMs")), num(get(v, "lifetimeMs")))
}

// stats returns the counters as one string, "calls unauthorized refreshes
// replays failures elsewhere epoch refreshedByOthers authFailures", which
// the loader splits and names (cheaper in the module than an object).
func (c *client) stats(safejs.Value, []safejs.Value) any {
	s := c.policy.Stats()
	var b []byte
	for _, n := range []uint64{s.Calls, s.Unauthorized, s.Refreshes, s.Replays, s.Failures, s.Elsewhere,
		c.policy.Epoch(), c.others.Load(), c.authFailures.Load()} {
		b = strconv.AppendUint(append(b, ' '), n, 10)
	}
	return string(b[1:])
}

// toJS turns a Go error into the value a Promise rejects with: the original
// JavaScript value (a rejection, an AbortSignal's reason), or one made by
// hooks.error(name, message, status) — an AuthError, a
// RefreshUnavailableError or an Error. The errors arrive unwrapped, so a
// type switch does (errors.As would link 30 KB of reflection into the
// module).
func (c *client) toJS(err error) any {
	name, status := "Error", 0
	switch e := err.(type) {
	case *Rejection:
		return e.Value
	case safejs.Error:
		return e
	case *refresh.Error:
		name, status = "RefreshUnavailableError", e.Status
		if e.Kind == refresh.ErrRejected {
			name = "AuthError"
		}
	}
	v, jsErr := get(c.hooks, lease.HookError).Invoke(name, err.Error(), status)
	if jsErr != nil {
		return err.Error()
	}
	return v
}

// millis reads a number of milliseconds; def for anything else.
func millis(v safejs.Value, def time.Duration) time.Duration {
	if v.Type() != safejs.TypeNumber {
		return def
	}
	f, _ := v.Float()
	return time.Duration(f * float64(time.Millisecond))
}

// num reads a number; 0 for anything else.
func num(v safejs.Value) float64 {
	if v.Type() != safejs.TypeNumber {
		return 0
	}
	f, _ := v.Float()
	return f
}
