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
//     (ErrUnavailable) is not: it reaches the calls whose attempts were sent
//     before that refresh started, and a 401 to an attempt sent after it
//     tries again. (So an outage costs one refresh per wave of calls, not
//     one per call.)
//   - A caller whose context ends while it waits is released alone; the
//     refresh and the other waiters go on.
//   - A refresh that takes longer than Config.Timeout fails with
//     ErrUnavailable, even if the RefreshFunc ignores its context.
//   - Refresh ahead: when the access token's expiry is known and a call starts
//     within Config.Ahead of it, the call first waits for a refresh (shared
//     like any other), so it is not answered 401 in the first place.
//   - Across tabs (Config.Lock, Config.Shared): a refresh runs under a lock
//     that all the tabs of a browser share, and a refresh that gets the lock
//     after another tab refreshed since its first waiter's attempt was sent
//     does not refresh again: its waiters are replayed.
package refresh

import (
	"slices"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/wasm/internal/ctxlite"
)

// Context is a call's cancellation as the policy needs it: context.Context's
// Done and Err, and context.AfterFunc as a method. FromContext adapts a
// context.Context. The policy takes no context.Context because every
// implementation of it (its Deadline returns a time.Time) links time's
// formatting code, 60 KB of brotli, into the browser module; and AfterFunc
// lets a waiter leave without a select, whose runtime support is another 5.
type Context interface {
	Done() <-chan struct{}
	Err() error
	AfterFunc(f func()) (stop func() bool)
}

// SendFunc sends one attempt of a call and returns the HTTP status of its
// answer. The caller keeps the answer itself (and the call's context, which
// it got when it made the closure); the policy only needs the status. An
// error means no answer arrived; it is returned to the caller as it is.
type SendFunc func() (status int, err error)

// Result is what a RefreshFunc learned from the refresh endpoint.
type Result struct {
	// Status is the HTTP status of the answer.
	Status int
	// Expiry is when the new access token expires, or the zero Time when the
	// endpoint did not say.
	Expiry time.Time
	// Elsewhere reports that another tab had refreshed (Config.Shared), so
	// no refresh was sent.
	Elsewhere bool
}

// RefreshFunc calls the refresh endpoint once and gives up when ctx ends
// (see StdContext for APIs that need a context.Context). An error means no
// answer arrived (network failure, ctx done); any status is reported in
// Result.
type RefreshFunc func(ctx Context) (Result, error)

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
	// Done, if set, is called after every refresh with its outcome: the
	// Result and nil, or an *Error. It runs before the waiters are released,
	// once per refresh, so it is the place to report a definite failure
	// exactly once.
	Done func(res Result, err error)
	// Lock, if set, runs fn while holding a lock shared with the other tabs
	// (the Web Locks API), and returns its result, or an error if the lock
	// could not be had. If nil, refreshes are single-flight in this process
	// only.
	Lock func(fn func() (Result, error)) (Result, error)
	// Shared, if set, reads the session state that the tabs share: it
	// changes whenever any tab refreshes or logs in. If nil, or while its
	// Version is zero, no refresh by another tab is detected.
	Shared func() Shared
}

// Stats counts what a Policy did. Every field only grows.
type Stats struct {
	Calls        uint64 // calls to Do
	Unauthorized uint64 // attempts answered with a refresh status
	Refreshes    uint64 // refreshes started
	Replays      uint64 // attempts sent again after a refresh
	Failures     uint64 // calls that ended with a refresh error
	Elsewhere    uint64 // refreshes found already done by another tab
}

// DefaultTimeout is the refresh timeout used when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Policy applies the rules in the package comment. It is safe for concurrent
// use; its zero value is not usable, create one with New.
type Policy struct {
	cfg Config

	mu       sync.Mutex // protects the fields below
	epoch    uint64     // successful refreshes and resets so far
	started  uint64     // refreshes started so far; the last one's number
	flight   *flight    // the refresh in progress, or nil
	failure  error      // the sticky ErrRejected, or nil
	lastFail *flight    // the last refresh if it failed transiently, or nil
	expiry   time.Time  // when the access token expires; zero if unknown
	stats    Stats
}

// flight is one refresh in progress.
type flight struct {
	n       uint64        // its number: the value of Policy.started when it began
	version int64         // Shared().Version when its first waiter's attempt was sent
	done    chan struct{} // closed when the refresh has ended
	err     error         // its outcome; written before done is closed
}

// mark is the state of the policy when an attempt was sent.
type mark struct {
	epoch   uint64 // Policy.epoch
	started uint64 // Policy.started
	version int64  // Shared().Version
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
func (p *Policy) Do(ctx Context, send SendFunc) error {
	p.count(&p.stats.Calls)
	sent, err := p.refreshAhead(ctx)
	if err != nil {
		return p.fail(err)
	}
	status, err := send()
	if err != nil || !slices.Contains(p.cfg.StatusCodes, status) {
		return err
	}
	p.count(&p.stats.Unauthorized)
	if err := p.await(ctx, sent); err != nil {
		return p.fail(err)
	}
	p.count(&p.stats.Replays)
	status, err = send()
	if err == nil && slices.Contains(p.cfg.StatusCodes, status) {
		p.count(&p.stats.Unauthorized)
	}
	return err
}

// Stats returns a copy of the counters.
func (p *Policy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// count adds one to the counter c of p.stats.
func (p *Policy) count(c *uint64) {
	p.mu.Lock()
	*c++
	p.mu.Unlock()
}

// fail counts err as a failed call when it is a refresh error, and returns it.
func (p *Policy) fail(err error) error {
	if _, ok := err.(*Error); ok { // refresh errors reach Do unwrapped
		p.count(&p.stats.Failures)
	}
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

// refreshAhead returns the mark of the call's first attempt, after waiting
// for a refresh if the access token is about to expire. Only ctx's end is
// returned: a failed refresh ahead does not fail the call, which is sent
// all the same (the token may still be good, the call may need none, as a
// login does), and a 401 then meets the failure.
func (p *Policy) refreshAhead(ctx Context) (mark, error) {
	m, due := p.mark()
	if !due {
		return m, nil
	}
	if err := p.await(ctx, m); err != nil && ctx.Err() != nil {
		return m, err
	}
	m, _ = p.mark()
	return m, nil
}

// mark returns the current mark, and whether a refresh ahead of expiry is
// due. The shared expiry, when known, is newer than this tab's.
func (p *Policy) mark() (m mark, due bool) {
	var shared Shared
	if p.cfg.Shared != nil {
		shared = p.cfg.Shared()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	expiry := p.expiry
	if !shared.Expiry.IsZero() {
		expiry = shared.Expiry
	}
	due = p.cfg.Ahead > 0 && p.failure == nil && !expiry.IsZero() &&
		!p.cfg.Now().Before(expiry.Add(-p.cfg.Ahead))
	return mark{p.epoch, p.started, shared.Version}, due
}

// await waits until the token of an attempt sent at mark sent has been
// replaced: at once if a refresh has succeeded since, by joining the refresh
// in progress, or by starting one. It returns the failure of a refresh that
// started after the attempt was sent, rather than trying again.
func (p *Policy) await(ctx Context, sent mark) error {
	p.mu.Lock()
	if p.epoch != sent.epoch {
		p.mu.Unlock()
		return nil
	}
	if p.failure != nil {
		p.mu.Unlock()
		return p.failure
	}
	f := p.flight
	if f == nil && p.lastFail != nil && p.lastFail.n > sent.started {
		p.mu.Unlock()
		return p.lastFail.err
	}
	if f == nil {
		p.started++
		f = &flight{n: p.started, version: sent.version, done: make(chan struct{})}
		p.flight = f
		p.stats.Refreshes++
		go p.run(f)
	}
	p.mu.Unlock()

	// Whichever comes first of the refresh's end and ctx's end is the
	// answer; the other one's send finds the buffer full and is dropped.
	answer := make(chan error, 1)
	go func() {
		<-f.done // a flight always ends, at the latest at its timeout
		trySend(answer, f.err)
	}()
	stop := ctx.AfterFunc(func() { trySend(answer, ctx.Err()) })
	err := <-answer
	stop()
	return err
}

// trySend sends err on ch unless ch is full.
func trySend(ch chan<- error, err error) {
	select {
	case ch <- err:
	default:
	}
}

// run performs the refresh of f, records its outcome and releases f's
// waiters. The refresh runs on its own context, so a waiter that leaves does
// not cancel it for the others.
func (p *Policy) run(f *flight) {
	ctx, stop := ctxlite.WithTimeout(p.cfg.Timeout)
	defer stop()

	type outcome struct {
		res Result
		err error
	}
	// The first of the answer and the end of ctx wins, so that a RefreshFunc
	// that ignores ctx cannot hang us.
	ch := make(chan outcome, 2) // buffered: the loser must not block
	go func() {
		<-ctx.Done() // at the timeout, or when stop ends ctx after the answer
		ch <- outcome{err: ctx.Err()}
	}()
	go func() {
		var res Result
		var err error
		if p.cfg.Lock == nil {
			res, err = p.refreshUnlessShared(ctx, f)
		} else {
			res, err = p.cfg.Lock(func() (Result, error) { return p.refreshUnlessShared(ctx, f) })
		}
		ch <- outcome{res, err}
	}()
	out := <-ch
	err := classify(out.res.Status, out.err)

	p.mu.Lock()
	p.flight = nil
	p.lastFail = nil
	f.err = err
	switch {
	case err == nil:
		p.epoch++
		p.failure = nil
		p.expiry = out.res.Expiry
	case isUnavailable(err):
		p.lastFail = f
	default:
		p.failure = err
		p.expiry = time.Time{}
	}
	p.mu.Unlock()
	if p.cfg.Done != nil {
		p.cfg.Done(out.res, err)
	}
	close(f.done)
}
