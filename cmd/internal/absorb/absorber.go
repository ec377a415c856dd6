package absorb

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"golang.org/x/sync/singleflight"
)

// Defaults of Config.
const (
	// DefaultWindow is how long a refresh's result is handed to duplicates
	// of it when Config.Window is zero.
	DefaultWindow = 10 * time.Second
	// DefaultLockTTL bounds how long one refresh holds a key when
	// Config.LockTTL is zero.
	DefaultLockTTL = 10 * time.Second
	// DefaultMinLife is how much life a cached access token must have left
	// to be handed out when the upstream did not rotate, when
	// Config.MinLife is zero.
	DefaultMinLife = 5 * time.Second
	// DefaultStorePatience is Config.StorePatience when zero.
	DefaultStorePatience = 5 * time.Second
)

// Config configures an Absorber. Every field is optional.
type Config struct {
	// Store is where refreshes coordinate. If nil, a Memory of its own.
	Store Store
	// Window is how long a refresh's new pair is handed to duplicates. If
	// zero, DefaultWindow.
	Window time.Duration
	// LockTTL bounds how long one refresh holds its key: set it to the
	// upstream call's timeout, never longer, so that a refresh that died
	// with its instance lets a waiter go on. If zero, DefaultLockTTL.
	LockTTL time.Duration
	// MinLife: when the upstream did not rotate, a cached pair is handed
	// out only while its access token has more than MinLife (or half its
	// lifetime, if shorter) left. If zero, DefaultMinLife.
	MinLife time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// StorePatience is how long the store may fail (a restart) before
	// refreshes fall back to coordinating in process: within it, a refresh
	// waits for the store, so that duplicates on other instances still
	// share it. Once the store has failed for longer, refreshes fall back
	// at once, until it answers again. If zero, DefaultStorePatience;
	// negative: fall back at once. Never more than LockTTL.
	StorePatience time.Duration
	// Logger logs store failures (never a token). If nil, slog.Default().
	Logger *slog.Logger
	// OnFallback, if set, is called once per refresh that could not use
	// Store: reason is "error" (the store failed, the refresh coordinated
	// in process) or "full" (ErrStoreFull: its result was not kept). The
	// native server counts them in a metric.
	OnFallback func(reason string)
}

// Absorber makes refreshes that present the same tokens share one
// upstream refresh. Create one with New; it is safe for concurrent use.
//
// The rules, the same over every Store:
//   - The key is the SHA-256 of the presented refresh token and access
//     cookie: the legitimate duplicates (tabs, a server-rendered page
//     racing the browser) present both.
//   - Within a process, concurrent duplicates share one Store round trip
//     (singleflight); across processes, the Store's lease serialises them
//     and its waiters get the holder's result.
//   - The result is stored for Window, sealed with AES-256-GCM under a
//     key derived (HKDF-SHA256) from the presented refresh token: the
//     Store alone yields no usable token.
//   - A stored pair whose refresh token differs from the presented one
//     (the upstream rotated) is handed out for the whole window: the
//     presenter can only go on with it. One whose refresh token is the
//     presented one (the upstream does not rotate) is handed out only
//     while its access token has more than MinLife left (or half its
//     lifetime, if that is shorter); after that the refresh goes upstream,
//     still shared by the duplicates that found the same old pair.
//   - A Store that fails never fails a refresh: after StorePatience (a
//     restart is waited out), the Absorber coordinates in process instead
//     (a Memory), logs it and calls OnFallback.
type Absorber struct {
	store    Store
	fallback *Memory
	window   time.Duration
	lockTTL  time.Duration
	minLife  time.Duration
	now      func() time.Time
	log      *slog.Logger
	onFall   func(string)
	patience time.Duration
	group    singleflight.Group
	// failingSince is when the store started failing; nil while it works.
	failingSince atomic.Pointer[time.Time]
	// down is set once a failure has been logged, until the store answers:
	// one log line per outage, not one per refresh.
	down atomic.Bool
}

// How often a failing store is tried again within the patience: a lease
// holder's result sooner than a waiter's acquisition, so that the result
// is there first.
const (
	storeRetry    = 100 * time.Millisecond
	completeRetry = 20 * time.Millisecond
)

// New returns an Absorber for cfg, filling in the documented defaults.
func New(cfg Config) *Absorber {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = DefaultLockTTL
	}
	if cfg.MinLife <= 0 {
		cfg.MinLife = DefaultMinLife
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StorePatience == 0 {
		cfg.StorePatience = DefaultStorePatience
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnFallback == nil {
		cfg.OnFallback = func(string) {}
	}
	a := &Absorber{
		store: cfg.Store, window: cfg.Window, lockTTL: cfg.LockTTL, minLife: cfg.MinLife,
		now: cfg.Now, log: cfg.Logger, onFall: cfg.OnFallback,
		patience: min(max(cfg.StorePatience, 0), cfg.LockTTL), // within the wait for a lease
		fallback: NewMemory(0, cfg.Now),
	}
	if a.store == nil {
		a.store = a.fallback
	}
	return a
}

// Rotate returns the result of refreshing refreshToken, presented with
// accessToken (empty when the request had none): a duplicate's, or fn's.
// shared reports that the result was not this call's own upstream refresh.
// fn runs on a context that the caller's cancellation does not end, since
// other callers, here or on other instances, may be waiting for it; the
// caller itself stops waiting when ctx ends.
func (a *Absorber) Rotate(ctx context.Context, refreshToken, accessToken string, fn func(context.Context) (session.Tokens, error)) (t session.Tokens, shared bool, err error) {
	key := lookupKey(refreshToken, accessToken)
	type result struct {
		tokens session.Tokens
		cached bool
	}
	var leader bool // set when this call's function is the flight's: read after ch
	ch := a.group.DoChan(key, func() (any, error) {
		leader = true
		// Waiting is bounded: long enough to wait out another holder's
		// lock and one more. The refresh itself is not: a refresh cut short
		// after the upstream rotated would lose the new pair, so fn gets
		// its full time (its own timeout bounds it).
		run := context.WithoutCancel(ctx)
		wait, cancel := context.WithTimeout(run, 2*a.lockTTL)
		defer cancel()
		t, cached, err := a.coordinate(wait, run, key, refreshToken, fn)
		return result{t, cached}, err
	})
	select {
	case res := <-ch:
		r, _ := res.Val.(result)
		return r.tokens, !leader || r.cached, res.Err
	case <-ctx.Done():
		return session.Tokens{}, false, ctx.Err()
	}
}

// coordinate is one process's flight for key: a stored result, or the
// lease and fn's result, stored for the window. wait bounds the waiting
// for a lease; run is fn's (and the lease's) context. A stored pair too
// old to hand out (non-rotating upstream) leads to a second round under a
// key derived from it, so that the duplicates that found it still share
// one refresh; a second stale pair is not looked past.
func (a *Absorber) coordinate(wait, run context.Context, key, refresh string, fn func(context.Context) (session.Tokens, error)) (session.Tokens, bool, error) {
	for round := 0; round < 2; round++ {
		value, lease, err := a.acquire(wait, key)
		if err != nil {
			return session.Tokens{}, false, err
		}
		if lease != nil {
			if value = a.fromFallback(run, key, lease); value == nil {
				return a.refresh(run, key, refresh, lease, fn)
			}
		}
		if value == nil { // the store is full: refresh without keeping the result
			break
		}
		t, issued, err := open(refresh, key, value)
		if err != nil {
			a.log.Warn("absorb: a stored result does not open; refreshing without it")
			break
		}
		if t.RefreshToken != refresh || t.Expires.Sub(a.now()) > min(a.minLife, t.Expires.Sub(issued)/2) {
			return t, true, nil
		}
		key = lookupKey(key, strconv.FormatInt(t.Expires.UnixMilli(), 10)) // stale: a new round
	}
	t, err := fn(run)
	return t, false, err
}

// acquire calls Store.Acquire and, when the store has failed for longer
// than the patience, the in-process fallback's. Neither value nor lease
// with no error means: refresh without keeping the result (a full store).
// The only error is ctx's.
func (a *Absorber) acquire(ctx context.Context, key string) ([]byte, Lease, error) {
	for {
		value, lease, err := a.store.Acquire(ctx, key, a.lockTTL)
		switch {
		case err == nil:
			a.failingSince.Store(nil)
			if a.down.CompareAndSwap(true, false) {
				a.log.Info("absorb: the store works again")
			}
			return value, lease, nil
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case errors.Is(err, ErrStoreFull):
			a.fell("full", err)
			return nil, nil, nil
		}
		// The store failed. If it has been failing for less than the
		// patience (a restart), try again shortly: a refresh that goes on
		// in process while the others wait for the store would reach the
		// upstream as a duplicate. Past the patience, fall back at once.
		now := time.Now()
		since := a.failingSince.Load()
		if since == nil {
			a.failingSince.CompareAndSwap(nil, &now)
			since = a.failingSince.Load()
		}
		if since != nil && now.Sub(*since) < a.patience {
			select {
			case <-time.After(min(storeRetry, a.patience-now.Sub(*since))):
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		a.fell("error", err)
		if a.store == Store(a.fallback) {
			return nil, nil, nil
		}
		value, lease, err = a.fallback.Acquire(ctx, key, a.lockTTL)
		switch {
		case errors.Is(err, ErrStoreFull):
			return nil, nil, nil
		case err != nil:
			return nil, nil, err
		}
		return value, lease, nil
	}
}

// fromFallback returns the result that a refresh of key kept in process
// while the store was down, if it is still within its window, and
// completes the store's lease with it, so that duplicates on other
// instances get it too. Without it, the first duplicate after the store
// came back would get a lease and send the rotated-out refresh token
// upstream: a reuse, which revokes the session. nil when there is none.
func (a *Absorber) fromFallback(ctx context.Context, key string, lease Lease) []byte {
	if a.store == Store(a.fallback) {
		return nil
	}
	value, ttl := a.fallback.peek(key)
	if value == nil {
		return nil
	}
	if err := lease.Complete(ctx, value, ttl); err != nil {
		a.fell("error", err)
	}
	return value
}

// refresh runs fn under lease and stores its result, sealed, for the
// window; a failure releases the lease. A store that cannot keep the
// result is logged: the caller still gets it.
func (a *Absorber) refresh(ctx context.Context, key, refresh string, lease Lease, fn func(context.Context) (session.Tokens, error)) (session.Tokens, bool, error) {
	issued := a.now()
	t, err := fn(ctx)
	if err != nil {
		if rerr := lease.Release(ctx); rerr != nil {
			a.fell("error", rerr)
		}
		return t, false, err
	}
	value, err := seal(refresh, key, t, issued)
	if err != nil {
		return t, false, nil // not kept: duplicates refresh again
	}
	// The store failing now (a restart) would leave the waiters on other
	// instances to refresh with the rotated-out token: try again within
	// the patience, sooner than they do (completeRetry < storeRetry).
	// Not once the store is known to be down.
	deadline := time.Now().Add(a.patience)
	for {
		err = lease.Complete(ctx, value, a.window)
		if err == nil || errors.Is(err, ErrStoreFull) || a.down.Load() || !time.Now().Add(completeRetry).Before(deadline) {
			break
		}
		time.Sleep(completeRetry)
	}
	if err != nil {
		reason := "error"
		if errors.Is(err, ErrStoreFull) { // no room for it: trying again is no use
			reason = "full"
		}
		a.fell(reason, err)
		// Keep it in process at least: a retry of this refresh (its caller
		// gave up waiting, its answer was lost) then gets the pair instead
		// of sending the rotated-out token upstream, and fromFallback hands
		// it to the store once the store is back.
		if a.store != Store(a.fallback) {
			a.fallback.keep(key, value, a.window)
		}
	}
	return t, false, nil
}

// fell reports a refresh that could not use the store, and logs the
// first of an outage (or of a full store).
func (a *Absorber) fell(reason string, err error) {
	if a.down.CompareAndSwap(false, true) {
		a.log.Warn("absorb: store unavailable; coordinating in process until it works again", "reason", reason, "err", err)
	}
	a.onFall(reason)
}
