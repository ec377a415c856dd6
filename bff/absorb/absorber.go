package absorb

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Defaults of Config.
const (
	// DefaultWindow is how long a refresh's result is handed to duplicates
	// of it when Config.Window is zero.
	// It covers what coordination needs: a duplicate sent before the
	// browser had the new pair, arriving up to a slow round trip and a
	// queue of requests later. Every second more is a second in which a
	// copy of the old session cookies gets the new pair.
	DefaultWindow = 5 * time.Second
	// DefaultLockTTL bounds how long one refresh holds a key when
	// Config.LockTTL is zero.
	DefaultLockTTL = 10 * time.Second
	// DefaultMinLife is how much life a cached access token must have left
	// to be handed out when the upstream did not rotate, when
	// Config.MinLife is zero.
	DefaultMinLife = 5 * time.Second
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
	// Logger logs store failures (never a token). If nil, slog.Default().
	Logger *slog.Logger
	// OnFallback, if set, is called once per refresh that could not use
	// Store: reason is "error" (the store failed or is known to be down:
	// the refresh coordinated in process), "busy" (ErrBusy: so did this
	// one) or "full" (ErrStoreFull: its result was not kept). The native
	// server counts them in a metric.
	OnFallback func(reason string)
}

// Absorber makes refreshes that present the same tokens share one
// upstream refresh. Create one with New; it is safe for concurrent use.
//
// The rules, the same over every Store:
//   - The key is the SHA-256 of the presented refresh token, access token
//     and browser binding (Presented): the legitimate duplicates (tabs, a
//     server-rendered page racing the browser) present all three; a copy
//     of the session taken without the binding finds nothing.
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
//   - A Store that fails never fails a refresh, and a Store that is down
//     costs a refresh nothing: from its first failure (a refused
//     connection, an error, no answer within the store's share of the
//     budget) every refresh coordinates in process instead (a Memory) at
//     once, until a probe in the background (every tenth of a second)
//     finds it answering again. A hung store costs one refresh the
//     store's share, once per outage. An outage is logged once, and each
//     refresh that fell back is an OnFallback.
//   - One budget bounds a refresh: the time until the caller's deadline
//     (the auth timeout), never more than LockTTL. The store waits (a
//     failing or hung store, another holder's lease) take at most half of
//     it, so the upstream call gets at least a third; the write-back gets
//     a twentieth before the answer and goes on after it in the
//     background, the result kept in process meanwhile. A refresh that
//     could not start upstream in time (another holder's lease outlasted
//     the store's half and left no result) answers ErrBudget, a clean
//     retry, rather than calling the upstream with too little time.
type Absorber struct {
	store   Store
	local   local // the in-process store: the fallback, and the results kept for a write-back
	flights flights
	window  time.Duration
	lockTTL time.Duration
	minLife time.Duration
	log     *slog.Logger
	onFall  func(string)
	down    atomic.Bool // the store is known to be down: refreshes skip it (health.go)
	full    atomic.Bool // a full store was logged: once per process
}

// completeRetry is how often a result the store did not take is offered
// again (writeBack).
const completeRetry = 20 * time.Millisecond

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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnFallback == nil {
		cfg.OnFallback = func(string) {}
	}
	a := &Absorber{
		store: cfg.Store, window: cfg.Window, lockTTL: cfg.LockTTL, minLife: cfg.MinLife,
		log: cfg.Logger, onFall: cfg.OnFallback,
	}
	a.flights.stop = make(chan struct{})
	a.local = local{NewMemory(0, nil), a.store == nil}
	if a.store == nil {
		a.store = a.local.Memory
	}
	return a
}

// Rotate returns the result of refreshing what p presents: a duplicate's
// (one that presented the same), or fn's.
// shared reports that the result was not this call's own upstream refresh.
//
// The whole refresh fits in one budget: the time until ctx's deadline,
// never more than LockTTL. The store waits take at most half of it; fn
// then gets the rest, less a twentieth kept for the write-back and one
// for the answer, on a context whose cancellation by the caller does not
// end it (others, here or on other instances, may be waiting for it) but
// whose deadline is the budget's. A store that does not take the result
// at once (a restart) is given it again in the background, after the
// answer; meanwhile the result is kept in process. A refresh that could
// not start upstream within the store's half (another holder's lease)
// returns ErrBudget without calling fn. The caller itself stops waiting
// when ctx ends; the refresh goes on (Wait covers it). After Wait, Rotate
// returns ErrClosed.
func (a *Absorber) Rotate(ctx context.Context, p Presented, fn func(context.Context) (authclient.Tokens, error)) (t authclient.Tokens, shared bool, err error) {
	return a.rotate(ctx, p, fn, false)
}

// RotateShared is Rotate for a refresh that may be skipped (one ahead of
// an access token that can still be sent): when the store is known to be
// down or fails, or has no room, it returns ErrStoreDown without calling
// fn, rather than refresh in process, where a duplicate of it on another
// instance would reach the upstream too (a reuse, under rotation).
func (a *Absorber) RotateShared(ctx context.Context, p Presented, fn func(context.Context) (authclient.Tokens, error)) (t authclient.Tokens, shared bool, err error) {
	return a.rotate(ctx, p, fn, true)
}

// ErrStoreDown is the error of RotateShared when the refresh could only
// have run in process: nothing was sent upstream.
var ErrStoreDown = errors.New("absorb: the shared store is down; the refresh was skipped")

func (a *Absorber) rotate(ctx context.Context, p Presented, fn func(context.Context) (authclient.Tokens, error), onlyShared bool) (t authclient.Tokens, shared bool, err error) {
	key := p.Key()
	type result struct {
		tokens authclient.Tokens
		cached bool
	}
	flight := key
	if onlyShared { // its flight may end in ErrStoreDown: never a Rotate's
		flight = "shared:" + key
	}
	var leader bool // set when this call's function is the flight's: read after ch
	ch := a.flights.group.DoChan(flight, func() (any, error) {
		leader = true
		if !a.flights.start() {
			return result{}, ErrClosed
		}
		defer a.flights.done()
		b := newBudget(ctx, a.lockTTL)
		b.onlyShared = onlyShared
		t, cached, err := a.coordinate(context.WithoutCancel(ctx), b, key, p.RefreshToken, fn)
		return result{t, cached}, err
	})
	select {
	case res := <-ch:
		r, _ := res.Val.(result)
		return r.tokens, !leader || r.cached, res.Err
	case <-ctx.Done():
		return authclient.Tokens{}, false, ctx.Err()
	}
}

// coordinate is one process's flight for key: a stored result, or the
// lease and fn's result, stored for the window. run is the flight's
// context, b its budget. A stored pair too old to hand out (non-rotating
// upstream) leads to a second round under a key derived from it, so that
// the duplicates that found it still share one refresh; a second stale
// pair is not looked past.
func (a *Absorber) coordinate(run context.Context, b budget, key, refresh string, fn func(context.Context) (authclient.Tokens, error)) (authclient.Tokens, bool, error) {
	for round := 0; round < 2; round++ {
		// A result kept in process (its write-back to the store is still
		// under way or was refused, or the store was down) is handed out
		// without waiting on the store: a retry of a refresh whose answer
		// was lost gets the pair. The store is offered it too.
		value, ttl := a.local.kept(key)
		if value != nil {
			a.handOver(run, b, key, value, ttl)
		} else {
			var lease Lease
			var err error
			value, lease, err = a.acquire(run, b, key)
			if err != nil {
				return authclient.Tokens{}, false, err
			}
			if lease != nil {
				if value = a.fromFallback(run, b, key, lease); value == nil {
					if b.late(time.Now()) {
						a.release(run, b, lease)
						return authclient.Tokens{}, false, ErrBudget
					}
					return a.refresh(run, b, key, refresh, lease, fn)
				}
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
		if t.RefreshToken != refresh || time.Until(t.Expires) > min(a.minLife, t.Expires.Sub(issued)/2) {
			return t, true, nil
		}
		key = lookupKey(key, strconv.FormatInt(t.Expires.UnixMilli(), 10)) // stale: a new round
	}
	if b.late(time.Now()) {
		return authclient.Tokens{}, false, ErrBudget
	}
	t, err := a.call(run, b, fn)
	return t, false, err
}

// call runs fn within the budget's upstream time.
func (a *Absorber) call(run context.Context, b budget, fn func(context.Context) (authclient.Tokens, error)) (authclient.Tokens, error) {
	ctx, cancel := context.WithDeadline(run, b.upstream)
	defer cancel()
	return fn(ctx)
}

// acquire calls Store.Acquire within the store's share of the budget
// or, when the store is known to be down or fails now, the in-process
// fallback's. Neither value nor lease with no error means: refresh without
// keeping the result (a full store). When another holder's lease outlasts
// the share, it waits for that holder's result until the answer is due,
// and returns ErrBudget if there is none.
func (a *Absorber) acquire(run context.Context, b budget, key string) ([]byte, Lease, error) {
	if b.storeOver(time.Now()) || b.late(time.Now()) {
		// No time left for the store or for the upstream after it (the
		// caller's deadline, or a first round that used the share up):
		// the budget's, not the store's failure.
		return nil, nil, ErrBudget
	}
	if a.down.Load() {
		return a.fallBack(run, b, key, "error")
	}
	ctx, cancel := context.WithDeadline(run, b.store)
	defer cancel()
	value, lease, err := a.store.Acquire(ctx, key, a.lockTTL)
	switch {
	case err == nil:
		return value, lease, nil
	case errors.Is(err, ErrLeaseHeld): // the store works; the refresh is elsewhere
		return a.awaitHolder(run, b, key)
	}
	// Or the store did not answer within the share (a store that works
	// answers "lease held" by then).
	return a.storeFailed(run, b, key, err)
}

// storeFailed is what acquire and awaitHolder do with any other error of
// the store's Acquire: no room for key (refresh without keeping the
// result), one busy key (in process, the store still up), else an outage
// (the store is marked down; in process). A refresh that may only be
// shared (RotateShared) is ErrStoreDown instead of either fallback.
func (a *Absorber) storeFailed(run context.Context, b budget, key string, err error) ([]byte, Lease, error) {
	switch {
	case errors.Is(err, ErrStoreFull) && b.onlyShared:
		return nil, nil, ErrStoreDown
	case errors.Is(err, ErrStoreFull):
		a.fellFull(err)
		return nil, nil, nil
	case errors.Is(err, ErrBusy): // the store works; this key has too many waiters
		return a.fallBack(run, b, key, "busy")
	}
	a.failed(err)
	return a.fallBack(run, b, key, "error")
}

// fallBack counts a refresh that could not use the store (reason, for
// OnFallback) and acquires key in process instead; a refresh that may
// only be shared (RotateShared) is ErrStoreDown.
func (a *Absorber) fallBack(run context.Context, b budget, key, reason string) ([]byte, Lease, error) {
	if b.onlyShared {
		return nil, nil, ErrStoreDown
	}
	a.onFall(reason)
	if a.local.only {
		return nil, nil, nil
	}
	// In process, only another round of this process's own flights can
	// hold the key: wait for it no longer than the write-back.
	fctx, fcancel := context.WithTimeout(run, b.write)
	value, lease, err := a.local.Acquire(fctx, key, a.lockTTL)
	fcancel()
	switch {
	case errors.Is(err, ErrStoreFull):
		return nil, nil, nil
	case err != nil:
		return nil, nil, ErrBudget
	}
	return value, lease, nil
}

// awaitHolder waits, until the answer is due, for the result of the
// refresh that holds key's lease in the store, or for the lease (the
// holder gave up or died). ErrBudget when neither came. A store that
// fails meanwhile is storeFailed's (a dropped connection is an outage, a
// busy key is not): the refresh goes on in process, if there is still
// time for the upstream call.
func (a *Absorber) awaitHolder(run context.Context, b budget, key string) ([]byte, Lease, error) {
	ctx, cancel := context.WithDeadline(run, b.answerBy())
	defer cancel()
	value, lease, err := a.store.Acquire(ctx, key, a.lockTTL)
	switch {
	case err == nil:
		return value, lease, nil
	case !errors.Is(err, ErrStoreFull) && (errors.Is(err, ErrLeaseHeld) || ctx.Err() != nil || b.late(time.Now())):
		return nil, nil, ErrBudget
	}
	return a.storeFailed(run, b, key, err)
}

// release gives lease up within the budget's write-back time.
func (a *Absorber) release(run context.Context, b budget, lease Lease) {
	ctx, cancel := context.WithTimeout(run, b.write)
	defer cancel()
	if err := lease.Release(ctx); err != nil {
		a.fellOn(err) // the lease lapses by its TTL
	}
}

// fellFull reports a result that a full store could not keep (logged
// once per process: a flood would fill the log).
func (a *Absorber) fellFull(err error) {
	if a.full.CompareAndSwap(false, true) {
		a.log.Warn("absorb: the store is full; refreshes go on without keeping their results", "err", err)
	}
	a.onFall("full")
}
