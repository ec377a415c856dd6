// Package refresh is the portable refresh policy of fetch-with-refresh: it
// decides when a call must wait for a token refresh, makes sure concurrent
// calls share one refresh, and replays each call at most once.
//
// It knows nothing of JavaScript or net/http. A call is a SendFunc that sends
// one attempt and reports its HTTP status; a refresh is a RefreshFunc. The
// browser module (package main in the parent folder) adapts both to the
// browser's fetch, and native code can adapt them to net/http.
//
// The rules:
//
//   - Single flight: all calls whose attempts are answered with a refresh
//     status (401 by default) while no refresh has finished since they were
//     sent share one refresh, and each receives its outcome.
//   - Epochs: every successful refresh (and every Reset) starts a new epoch. An
//     attempt remembers the epoch it was sent in; if its 401 arrives after the
//     epoch has moved on, it was sent with the old token and is replayed
//     without a new refresh.
//   - Replay once: a call is sent at most twice. The answer to the replay is
//     returned as it is, 401 included.
//   - A definite rejection (ErrRejected) is sticky: later calls answered with
//     a refresh status fail with the same error, without a new refresh, until
//     Reset is called or a refresh succeeds. A transient failure
//     (ErrUnavailable) is not: the next 401 tries again.
//   - A caller whose context ends while it waits is released alone; the
//     refresh and the other waiters go on.
//   - A refresh that takes longer than Config.Timeout fails with
//     ErrUnavailable, even if the RefreshFunc ignores its context.
//   - Refresh ahead: when the access token's expiry is known and a call starts
//     within Config.Ahead of it, the call first waits for a refresh (shared
//     like any other), so it is not answered 401 in the first place.
package refresh

import (
	"context"
	"slices"
	"sync"
	"time"
)

// SendFunc sends one attempt of a call and returns the HTTP status of its
// answer. The caller keeps the answer itself; the policy only needs the
// status. An error means no answer arrived; it is returned to the caller as
// it is.
type SendFunc func(ctx context.Context) (status int, err error)

// Result is what a RefreshFunc learned from the refresh endpoint.
type Result struct {
	// Status is the HTTP status of the answer.
	Status int
	// Expiry is when the new access token expires, or the zero Time when the
	// endpoint did not say.
	Expiry time.Time
}

// RefreshFunc calls the refresh endpoint once. An error means no answer
// arrived (network failure, ctx done); any status is reported in Result.
type RefreshFunc func(ctx context.Context) (Result, error)

// Config configures a Policy. Only Refresh is required.
type Config struct {
	// Refresh performs one refresh.
	Refresh RefreshFunc
	// StatusCodes are the statuses that mean "the access token was not
	// accepted". If empty, only 401.
	StatusCodes []int
	// Timeout bounds one refresh. If zero, 10 seconds.
	Timeout time.Duration
	// Ahead is how long before a known expiry a call refreshes first. If
	// zero, calls refresh only after a refresh status.
	Ahead time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// DefaultTimeout is the refresh timeout used when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Policy applies the rules in the package comment. It is safe for concurrent
// use; its zero value is not usable, create one with New.
type Policy struct {
	cfg Config

	mu      sync.Mutex // protects the fields below
	epoch   uint64     // successful refreshes and resets so far
	flight  *flight    // the refresh in progress, or nil
	failure error      // the sticky ErrRejected, or nil
	expiry  time.Time  // when the access token expires; zero if unknown
}

// flight is one refresh in progress.
type flight struct {
	done chan struct{} // closed when the refresh has ended
	err  error         // its outcome; written before done is closed
}

// New returns a Policy for cfg, filling in the documented defaults.
func New(cfg Config) *Policy {
	if len(cfg.StatusCodes) == 0 {
		cfg.StatusCodes = []int{401}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Policy{cfg: cfg}
}

// Do runs one call: it sends an attempt and, if the answer has a refresh
// status, waits for a refresh (starting one only if needed) and sends the
// call once more. It returns nil when the last attempt got an answer, whose
// status the caller already has from its SendFunc; the error of send; ctx's
// error if ctx ended while waiting; or an *Error if the refresh failed.
func (p *Policy) Do(ctx context.Context, send SendFunc) error {
	epoch, err := p.refreshAhead(ctx)
	if err != nil {
		return err
	}
	status, err := send(ctx)
	if err != nil || !slices.Contains(p.cfg.StatusCodes, status) {
		return err
	}
	if err := p.await(ctx, epoch); err != nil {
		return err
	}
	_, err = send(ctx)
	return err
}

// Reset starts a new session: it forgets a sticky failure, records the new
// access token's expiry (zero if unknown) and starts a new epoch, so that
// attempts sent before it are replayed rather than refreshed. Call it after
// a successful login.
func (p *Policy) Reset(expiry time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.epoch++
	p.failure = nil
	p.expiry = expiry
}

// Epoch returns the number of successful refreshes and resets so far.
func (p *Policy) Epoch() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// refreshAhead returns the epoch the call's first attempt is sent in, after
// waiting for a refresh if the access token is about to expire. A transient
// failure of that refresh is not returned: the token may still be good, and
// a 401 will try again.
func (p *Policy) refreshAhead(ctx context.Context) (uint64, error) {
	p.mu.Lock()
	epoch := p.epoch
	due := p.cfg.Ahead > 0 && p.failure == nil && !p.expiry.IsZero() &&
		!p.cfg.Now().Before(p.expiry.Add(-p.cfg.Ahead))
	p.mu.Unlock()
	if !due {
		return epoch, nil
	}
	if err := p.await(ctx, epoch); err != nil && !isUnavailable(err) {
		return 0, err
	}
	return p.Epoch(), nil
}

// await waits until the token that was current in epoch has been replaced:
// at once if a refresh has finished since, by joining the refresh in
// progress, or by starting one.
func (p *Policy) await(ctx context.Context, epoch uint64) error {
	p.mu.Lock()
	if p.epoch != epoch {
		p.mu.Unlock()
		return nil
	}
	if p.failure != nil {
		p.mu.Unlock()
		return p.failure
	}
	f := p.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		p.flight = f
		go p.run(f)
	}
	p.mu.Unlock()

	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run performs the refresh of f, records its outcome and releases f's
// waiters. The refresh runs on its own context, so a waiter that leaves does
// not cancel it for the others.
func (p *Policy) run(f *flight) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()

	type outcome struct {
		res Result
		err error
	}
	ch := make(chan outcome, 1) // buffered: a late answer must not block
	go func() {
		res, err := p.cfg.Refresh(ctx)
		ch <- outcome{res, err}
	}()
	var out outcome
	select {
	case out = <-ch:
	case <-ctx.Done():
		out.err = ctx.Err()
	}
	err := classify(out.res.Status, out.err)

	p.mu.Lock()
	p.flight = nil
	switch {
	case err == nil:
		p.epoch++
		p.failure = nil
		p.expiry = out.res.Expiry
	case !isUnavailable(err):
		p.failure = err
		p.expiry = time.Time{}
	}
	f.err = err
	p.mu.Unlock()
	close(f.done)
}
