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
	// StorePatience is how long the store may fail (a restart) before
	// refreshes fall back to coordinating in process: within it, a refresh
	// waits for the store, so that duplicates on other instances still
	// share it. Once the store has failed for longer, refreshes fall back
	// as soon as it fails, until it answers again (a store that does not
	// answer is still waited for within the store's share: it may be slow
	// with a lease held elsewhere). If zero, DefaultStorePatience;
	// negative: fall back at once. Never more than LockTTL, and a
	// refresh waits no longer than half its budget (see Rotate). A result
	// the store failed to take is given to it again for as long.
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
//   - A Store that fails never fails a refresh: after StorePatience (a
//     restart is waited out), the Absorber coordinates in process instead
//     (a Memory), logs it and calls OnFallback.
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
	store    Store
	local    local // the in-process store: the fallback, and the results kept for a write-back
	flights  flights
	window   time.Duration
	lockTTL  time.Duration
	minLife  time.Duration
	log      *slog.Logger
	onFall   func(string)
	patience time.Duration
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

// probeTimeout bounds one Acquire while the store has been failing for
// longer than the patience: long enough for a store that works to answer
// "lease held" (a Durable Object answers minAnswerMargin early, a round
// trip away), so that a lease held elsewhere is never taken for an outage.
const probeTimeout = 500 * time.Millisecond

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
		log: cfg.Logger, onFall: cfg.OnFallback,
		patience: min(max(cfg.StorePatience, 0), cfg.LockTTL), // within the wait for a lease
	}
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
	key := p.Key()
	type result struct {
		tokens authclient.Tokens
		cached bool
	}
	var leader bool // set when this call's function is the flight's: read after ch
	ch := a.flights.group.DoChan(key, func() (any, error) {
		leader = true
		if !a.flights.start() {
			return result{}, ErrClosed
		}
		defer a.flights.done()
		t, cached, err := a.coordinate(context.WithoutCancel(ctx), newBudget(ctx, a.lockTTL), key, p.RefreshToken, fn)
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

// acquire calls Store.Acquire within the store's share of the budget and,
// when the store has failed for longer than the patience or did not
// answer within the share, the in-process fallback's. Neither value nor
// lease with no error means: refresh without keeping the result (a full
// store). When another holder's lease outlasts the share, it waits for
// that holder's result until the answer is due, and returns ErrBudget if
// there is none.
func (a *Absorber) acquire(run context.Context, b budget, key string) ([]byte, Lease, error) {
	if b.storeOver(time.Now()) || b.late(time.Now()) {
		// No time left for the store or for the upstream after it (the
		// caller's deadline, or a first round that used the share up):
		// the budget's, not the store's failure.
		return nil, nil, ErrBudget
	}
	ctx, cancel := context.WithDeadline(run, b.store)
	defer cancel()
	for {
		value, lease, err := a.probe(ctx, key)
		switch {
		case err == nil:
			a.answered()
			return value, lease, nil
		case errors.Is(err, ErrLeaseHeld): // the store works; the refresh is elsewhere
			a.answered()
			return a.awaitHolder(run, b, key)
		case errors.Is(err, errProbe) && ctx.Err() == nil:
			// A store that is slow to answer may be a lease held
			// elsewhere: falling back would send a duplicate upstream.
			// Try again, within the share.
			continue
		case errors.Is(err, ErrStoreFull):
			a.fell("full", err)
			return nil, nil, nil
		}
		// The store failed, or did not answer within the share. If it has
		// been failing for less than the patience (a restart), try again
		// shortly, within the share: a refresh that goes on in process
		// while the others wait for the store would reach the upstream as
		// a duplicate. Past either, fall back at once.
		now := time.Now()
		since := a.failingSince.Load()
		if since == nil {
			a.failingSince.CompareAndSwap(nil, &now)
			since = a.failingSince.Load()
		}
		if ctx.Err() == nil && since != nil && now.Sub(*since) < a.patience {
			select {
			case <-time.After(min(storeRetry, a.patience-now.Sub(*since))):
				continue
			case <-ctx.Done():
			}
		}
		return a.fallBack(run, b, key, err)
	}
}

// fallBack reports the store's failure (err) and acquires key in process
// instead.
func (a *Absorber) fallBack(run context.Context, b budget, key string, err error) ([]byte, Lease, error) {
	a.fell("error", err)
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

// probe is Store.Acquire within ctx or, while the store has been failing
// for longer than the patience, within probeTimeout: a store that fails
// at once then costs a refresh nothing. One that answers nothing within
// probeTimeout is errProbe (acquire tries again within the share: a slow
// store cannot be told from a lease held elsewhere). A lease held
// elsewhere still says so (ErrLeaseHeld), and is waited for by awaitHolder.
func (a *Absorber) probe(ctx context.Context, key string) ([]byte, Lease, error) {
	if since := a.failingSince.Load(); since != nil && time.Since(*since) >= a.patience {
		pctx, cancel := context.WithTimeoutCause(ctx, probeTimeout, errProbe)
		defer cancel()
		value, lease, err := a.store.Acquire(pctx, key, a.lockTTL)
		if err != nil && !errors.Is(err, ErrLeaseHeld) && ctx.Err() == nil && errors.Is(context.Cause(pctx), errProbe) {
			err = errProbe
		}
		return value, lease, err
	}
	return a.store.Acquire(ctx, key, a.lockTTL)
}

// errProbe is the error of a probe that ran out of its own time.
var errProbe = errors.New("absorb: the store did not answer the probe in time")

// answered records that the store answered: it works (again).
func (a *Absorber) answered() {
	a.failingSince.Store(nil)
	if a.down.CompareAndSwap(true, false) {
		a.log.Info("absorb: the store works again")
	}
}

// awaitHolder waits, until the answer is due, for the result of the
// refresh that holds key's lease in the store, or for the lease (the
// holder gave up or died). ErrBudget when neither came. A store that
// fails meanwhile (a dropped connection, a busy object) is an outage:
// the refresh falls back in process, if there is still time for the
// upstream call.
func (a *Absorber) awaitHolder(run context.Context, b budget, key string) ([]byte, Lease, error) {
	ctx, cancel := context.WithDeadline(run, b.answerBy())
	defer cancel()
	value, lease, err := a.store.Acquire(ctx, key, a.lockTTL)
	switch {
	case err == nil:
		return value, lease, nil
	case errors.Is(err, ErrStoreFull):
		a.fell("full", err)
		return nil, nil, nil
	case errors.Is(err, ErrLeaseHeld) || ctx.Err() != nil || b.late(time.Now()):
		return nil, nil, ErrBudget
	}
	now := time.Now()
	a.failingSince.CompareAndSwap(nil, &now)
	return a.fallBack(run, b, key, err)
}

// release gives lease up within the budget's write-back time.
func (a *Absorber) release(run context.Context, b budget, lease Lease) {
	ctx, cancel := context.WithTimeout(run, b.write)
	defer cancel()
	if err := lease.Release(ctx); err != nil {
		a.fell("error", err)
	}
}

// fell reports a refresh that could not use the store, and logs the
// first of an outage (or of a full store).
func (a *Absorber) fell(reason string, err error) {
	if a.down.CompareAndSwap(false, true) {
		a.log.Warn("absorb: store unavailable; coordinating in process until it works again", "reason", reason, "err", err)
	}
	a.onFall(reason)
}
