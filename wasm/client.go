//go:build js && wasm

package main

import (
	"errors"
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
	if cfg.Timeout < 0 || cfg.Ahead < 0 {
		return nil, errNegative
	}
	if codes := get(jsOptions, "statusCodes"); codes.Type() == safejs.TypeObject {
		n, _ := codes.Length()
		for i := range n {
			v, _ := codes.Index(i)
			if code, err := v.Int(); err == nil {
				cfg.StatusCodes = append(cfg.StatusCodes, code)
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
		return get(res, "status").Int()
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
	status, err := get(res, "status").Int()
	return refresh.Result{Status: status, Expiry: c.expiry(res)}, err
}

// reset is the exported reset(expiresAtMs): the loader calls it when an
// answer that is not a refresh states the access token's expiry (a login),
// which starts a new session in the policy.
func (c *client) reset(_ safejs.Value, args []safejs.Value) any {
	ms, _ := arg(args, 0).Float()
	var exp time.Time
	if ms > 0 {
		exp = time.UnixMilli(int64(ms))
	}
	c.policy.Reset(exp)
	return nil
}

// refreshDone reports each refresh to the loader's onRefresh hook, which
// counts them and calls onAuthFailure once per definite failure.
func (c *client) refreshDone(err error) {
	event := map[string]any{"ok": err == nil}
	if err != nil {
		event["error"] = c.toJS(err)
	}
	if hook := get(c.hooks, "onRefresh"); hook.Type() == safejs.TypeFunction {
		_, _ = hook.Invoke(event)
	}
}

// stats returns the policy's counters as an array: calls, unauthorized,
// refreshes, replays, failures, epoch. The loader names them.
func (c *client) stats(safejs.Value, []safejs.Value) any {
	s := c.policy.Stats()
	return []any{float64(s.Calls), float64(s.Unauthorized), float64(s.Refreshes),
		float64(s.Replays), float64(s.Failures), float64(c.policy.Epoch())}
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
