//go:build js && wasm

package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/wasm/internal/ctxlite"
	"github.com/fetch-with-refresh/fetch-with-refresh/wasm/refresh"
	"github.com/hack-pad/safejs"
)

// never is the Context of every call: the loader, not the module, releases
// a call whose AbortSignal fires (it rejects the call's Promise at once; the
// module's attempts carry the same signal, so nothing more is sent).
var never = ctxlite.New()

// client is one fetchWithRefresh instance: the options of one load() call
// and the refresh policy they configure.
type client struct {
	policy     *refresh.Policy
	refreshURL string       // absolute URL of the refresh endpoint
	hooks      safejs.Value // the loader's callbacks and error constructors
}

// Errors of newClient, for options the loader passed on unchecked.
var (
	errNoRefreshURL = errors.New("fetch-with-refresh: options.refreshURL must be an absolute URL")
	errNegative     = errors.New("fetch-with-refresh: refreshTimeoutMs and refreshAheadMs must not be negative")
)

// newClient reads the options object the loader passes (see the package
// comment) and keeps the hooks object.
func newClient(jsOptions, jsHooks safejs.Value) (*client, error) {
	c := &client{hooks: jsHooks, refreshURL: str(get(jsOptions, "refreshURL"))}
	if c.refreshURL == "" {
		return nil, errNoRefreshURL
	}
	cfg := refresh.Config{
		Refresh: c.refresh,
		Timeout: millis(get(jsOptions, "refreshTimeoutMs")),
		Ahead:   millis(get(jsOptions, "refreshAheadMs")),
		Done:    c.refreshDone,
	}
	if get(jsHooks, "lock").Type() == safejs.TypeFunction { // cross-tab, with Web Locks
		cfg.Lock = c.lock
	}
	if get(jsHooks, "shared").Type() == safejs.TypeFunction { // cross-tab, in a page
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
	c.policy = refresh.New(cfg)
	return c, nil
}

// fetchWithRefresh is the exported function (request, resolve, reject): it
// takes the Request the loader prepared and the functions of the Promise the
// loader returns, which it settles with the last attempt's Response or an
// error. The work runs in a goroutine: a js.FuncOf callback must never block.
func (c *client) fetchWithRefresh(_ safejs.Value, args []safejs.Value) any {
	go func() {
		res, err := c.do(arg(args, 0))
		if err != nil {
			_, _ = arg(args, 2).Invoke(c.toJS(err))
			return
		}
		_, _ = arg(args, 1).Invoke(res)
	}()
	return nil
}

// do runs one call under the policy. Every attempt of a call with a body
// sends a clone of req, so that the body is still there for the replay; a
// Request without a body can be sent as it is, twice.
func (c *client) do(req safejs.Value) (safejs.Value, error) {
	hasBody := !get(req, "body").IsNull()
	var res safejs.Value
	send := func() (int, error) {
		attempt := req
		if hasBody {
			var err error
			if attempt, err = req.Call("clone"); err != nil {
				return 0, err
			}
		}
		jsPromise, err := global("fetch").Invoke(attempt)
		if err != nil {
			return 0, err
		}
		if res, err = await(jsPromise); err != nil {
			return 0, err
		}
		return status(res)
	}
	var err error
	if str(get(req, "url")) == c.refreshURL { // never intercepted
		_, err = send()
	} else {
		err = c.policy.Do(never, send)
	}
	return res, err
}

// refresh calls the refresh endpoint once (the policy's RefreshFunc) with
// the init that hooks.refreshInit() builds: POST, the configured headers,
// and an AbortSignal.timeout as long as the policy's. The policy gives up
// at the same moment, so ctx is not needed here.
func (c *client) refresh(refresh.Context) (refresh.Result, error) {
	init, err := get(c.hooks, "refreshInit").Invoke()
	if err != nil {
		return refresh.Result{}, err
	}
	jsPromise, err := global("fetch").Invoke(c.refreshURL, init)
	if err != nil {
		return refresh.Result{}, err
	}
	res, err := await(jsPromise)
	if err != nil {
		return refresh.Result{}, err
	}
	code, err := status(res)
	return refresh.Result{Status: code, Expiry: c.expiry(res)}, err
}

// session is the exported session(n). n >= 0: a login, here (an answer
// that is not a refresh states the token's expiry) or in another tab,
// started a new session whose access token expires at n (Unix ms; 0 if
// unknown). n < 0: another tab's refresh was rejected with status -n, so the
// session is over here too. (One number, because every distinct JavaScript
// type read costs the module size.)
func (c *client) session(_ safejs.Value, args []safejs.Value) any {
	n, _ := arg(args, 0).Float()
	if n < 0 {
		c.policy.Fail(int(-n))
		return nil
	}
	var exp time.Time
	if n > 0 {
		exp = time.UnixMilli(int64(n))
	}
	c.policy.Reset(exp)
	return nil
}

// refreshDone reports each refresh to the loader's onRefresh hook, which
// counts them, tells the other tabs, and calls onAuthFailure once per
// definite failure.
func (c *client) refreshDone(res refresh.Result, err error) {
	var jsErr any
	if err != nil {
		jsErr = c.toJS(err)
	}
	_, _ = get(c.hooks, "onRefresh").Invoke(res.Elsewhere, jsErr)
}

// lock runs fn while holding the browser-wide lock: hooks.lock() returns a
// Promise of the function that releases a Web Lock once it is held; it
// rejects if the request was aborted (at the refresh timeout).
func (c *client) lock(fn func() (refresh.Result, error)) (refresh.Result, error) {
	p, err := get(c.hooks, "lock").Invoke()
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

// shared reads the session state the tabs share through hooks.shared(): the
// access token's expiry in Unix ms, which changes with every new token.
func (c *client) shared() refresh.Shared {
	v, err := get(c.hooks, "shared").Invoke()
	ms, _ := v.Float()
	if err != nil || ms <= 0 {
		return refresh.Shared{}
	}
	return refresh.Shared{Version: int64(ms), Expiry: time.UnixMilli(int64(ms))}
}

// stats returns the policy's counters as one string, "calls unauthorized
// refreshes replays failures elsewhere epoch", which the loader splits and
// names (cheaper in the module than an array of numbers).
func (c *client) stats(safejs.Value, []safejs.Value) any {
	s := c.policy.Stats()
	var b []byte
	for _, n := range []uint64{s.Calls, s.Unauthorized, s.Refreshes, s.Replays, s.Failures, s.Elsewhere, c.policy.Epoch()} {
		b = strconv.AppendUint(append(b, ' '), n, 10)
	}
	return string(b[1:])
}

// toJS turns a Go error into the value a Promise rejects with: the original
// JavaScript error, or one made by hooks.error(name, message, status) — an
// AuthError, a RefreshUnavailableError or an Error. The errors arrive
// unwrapped, so a type switch does (errors.As would link 30 KB of reflection
// into the module).
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
	v, jsErr := get(c.hooks, "error").Invoke(name, err.Error(), status)
	if jsErr != nil {
		return err.Error()
	}
	return v
}

// expiry asks the loader's expiresAt hook when the access token expires
// according to a Response (milliseconds since the epoch); zero if unknown.
func (c *client) expiry(res safejs.Value) time.Time {
	v, err := get(c.hooks, "expiresAt").Invoke(res)
	if err != nil || v.Type() != safejs.TypeNumber {
		return time.Time{}
	}
	ms, _ := v.Float()
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms))
}

// status reads a Response's status.
func status(res safejs.Value) (int, error) {
	f, err := get(res, "status").Float()
	return int(f), err
}

// millis reads a number of milliseconds; zero for anything else.
func millis(v safejs.Value) time.Duration {
	if v.Type() != safejs.TypeNumber {
		return 0
	}
	f, _ := v.Float()
	return time.Duration(f * float64(time.Millisecond))
}

// str returns v as a Go string, or "" when it is not a string.
func str(v safejs.Value) string {
	if v.Type() != safejs.TypeString {
		return ""
	}
	s, _ := v.String()
	return s
}
