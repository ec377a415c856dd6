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
//     within the window of it (Window: Config.Ahead, but never more than a
//     quarter of the token's lifetime when that is known), the call first
//     waits for a refresh (shared like any other), so it is not answered 401
//     in the first place. A token that was just issued is never refreshed
//     ahead.
//   - A failed refresh is not tried again for the calls that waited for it:
//     after a refresh ahead that failed, a call whose token has expired
//     fails at once, and one whose token may still be good is sent with it
//     and fails at once if answered with a refresh status. So a call waits
//     for one refresh at most, and settles within Config.Timeout plus the
//     round trips of its attempts.
//   - Steady state: while no refresh is due or in progress, every call
//     starts exactly as the last one did. Steady says so, and until when;
//     Config.Changed says when it stops being true. A caller for whom each
//     Begin costs (the browser module: a crossing into Go) sends its calls
//     without one meanwhile, as copies of that call.
//   - A new session ends a sticky failure: when the shared state (Shared)
//     shows a session other than the one that failed, the failure is
//     forgotten and Config.Started is told, whoever logged in and however.
//   - A RefreshFunc that panics or calls runtime.Goexit fails that refresh
//     for every waiter with ErrUnavailable (its Cause says which); the
//     policy stays usable.
//   - Across tabs (Config.Lock, Config.Shared): a refresh runs under a lock
//     that all the tabs of a browser share, and a refresh that gets the lock
//     after another tab refreshed since its first waiter's attempt was sent
//     does not refresh again: its waiters are replayed. One that gets it
//     after another tab's refresh of the same token failed transiently
//     since it began (Shared.Failed) fails with that failure, without a
//     request.
package refresh

import (
	"slices"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/ctxlite"
)

// Context is a call's cancellation as the policy needs it: context.Context's
// Done and Err, and context.AfterFunc as a method. FromContext adapts a
// context.Context. The policy takes no context.Context because every
// implementation of it (its Deadline returns a time.Time) links time's
// formatting code, 60 KB of brotli, into the browser module; and AfterFunc
// lets a waiter leave without a select, whose runtime support is another
// 13 KB of brotli (README, "Benchmarks").
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
	// Lifetime is how long the new access token lives from its issue, or 0
	// when the endpoint did not say.
	Lifetime time.Duration
	// Elsewhere reports that another tab had refreshed (Config.Shared), so
	// no refresh was sent.
	Elsewhere bool
	// Cause, if not nil, is what the RefreshFunc knows of a failing
	// Status (the upstream's rejection, with its error code): the policy's
	// Error keeps it as its Cause.
	Cause error
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
	// Ahead is how long before a known expiry a call refreshes first, at
	// most: Window shortens it for short-lived tokens. If zero, calls
	// refresh only after a refresh status.
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
	// Started, if set, is called when a sticky failure ends because the
	// shared state shows a new session (a login in any tab, by any route).
	Started func(Shared)
	// Ended, if set, is called once per ended session: when a refresh is
	// rejected or Fail reports another tab's rejection, but not again until
	// a new session starts. It runs before the waiters are released.
	Ended func(err *Error)
	// Changed, if set, is called after every change that ends a steady
	// state (see Steady): a refresh starting or ending, a reset, a logout,
	// a failure, a new session. It is called without the policy's lock
	// held, and must not block.
	Changed func()
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

	mu       sync.Mutex    // protects the fields below
	epoch    uint64        // successful refreshes and resets so far
	started  uint64        // refreshes started so far; the last one's number
	flight   *flight       // the refresh in progress, or nil
	failure  error         // the sticky ErrRejected, or nil
	lastFail *flight       // the last refresh if it failed transiently, or nil
	failVer  int64         // Shared().Version when failure was set
	expiry   time.Time     // when the access token expires; zero if unknown
	lifetime time.Duration // the access token's lifetime; zero if unknown
	stats    Stats
}

// flight is one refresh in progress.
type flight struct {
	n       uint64        // its number: the value of Policy.started when it began
	version int64         // Shared().Version when its first waiter's attempt was sent
	begun   time.Time     // when it began
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
//
// Do is Begin, Ahead, Answer and Await in a row; callers that cannot block
// while the attempt is out (the browser module) use those steps.
func (p *Policy) Do(ctx Context, send SendFunc) error {
	var c Call
	if p.Begin(&c, p.shared()) {
		if err := p.Ahead(ctx, &c); err != nil {
			return err
		}
	}
	for {
		status, err := send()
		if err != nil || !p.Answer(&c, status) {
			return err
		}
		if err := p.Await(ctx, &c); err != nil {
			return err
		}
	}
}

// Call is one call going through the policy step by step. Its zero value
// is ready for Begin. A copy is another call sent in the same state (see
// Steady), with its own count of answers once Resume resets it.
type Call struct {
	sent     mark      // the policy's state when the current attempt was sent
	until    time.Time // when a refresh ahead becomes due; zero: never
	attempts int       // attempts answered so far
}

// Same reports whether c's and d's latest attempts were sent in the same
// state of the policy: a refresh status means the same for both.
func (c *Call) Same(d *Call) bool { return c.sent == d.sent }

// Begin starts a call, given the shared state as it is now (Shared{} when
// there is none). It reports whether a refresh ahead is due: then the
// caller calls Ahead before it sends the first attempt; else it sends at
// once. Begin never blocks.
func (p *Policy) Begin(c *Call, now Shared) (due bool) {
	p.count(&p.stats.Calls)
	return p.Adopt(c, now)
}

// Adopt is Begin for a call that its caller counts itself (see Steady): it
// starts c as if its attempt were sent now, and reports whether a refresh
// ahead is due.
func (p *Policy) Adopt(c *Call, now Shared) (due bool) {
	p.mu.Lock()
	started := p.newSessionLocked(now)
	c.sent = mark{p.epoch, p.started, now.Version}
	c.until = p.untilLocked(p.tokenLocked(now))
	due = !c.until.IsZero() && !p.cfg.Now().Before(c.until)
	p.mu.Unlock()
	if started {
		p.changed()
		if p.cfg.Started != nil {
			p.cfg.Started(now)
		}
	}
	return due
}

// Steady reports whether the policy is in a steady state for c, a call that
// Begin (and Ahead, if it was due) has just started: no refresh in
// progress, no failure standing, and nothing changed since. Until
// Config.Changed is called, the time until (zero: no limit) passes or the
// shared state shows another version, every call would start exactly as c
// did: a caller may send them without Begin, and for each one answered with
// a refresh status, copy c (with Answer's count reset by Resume) and go on
// from Answer.
func (p *Policy) Steady(c *Call) (until time.Time, ok bool) {
	p.mu.Lock()
	ok = p.flight == nil && p.failure == nil && c.sent.epoch == p.epoch && c.sent.started == p.started
	p.mu.Unlock()
	return c.until, ok && (c.until.IsZero() || p.cfg.Now().Before(c.until))
}

// Resume prepares c, a copy of a steady call (see Steady), for its own
// first Answer.
func (c *Call) Resume() { c.attempts = 0 }

// tokenLocked returns the current access token's expiry and lifetime: the
// shared state's (now) when it knows them, else this tab's. p.mu is held.
func (p *Policy) tokenLocked(now Shared) (time.Time, time.Duration) {
	if !now.Expiry.IsZero() {
		return now.Expiry, now.Lifetime
	}
	return p.expiry, p.lifetime
}

// untilLocked returns when a token that expires at expiry and lives
// lifetime is due for a refresh ahead; zero when never (no expiry known,
// no refresh ahead configured, or a failure standing). p.mu is held.
func (p *Policy) untilLocked(expiry time.Time, lifetime time.Duration) time.Time {
	if p.cfg.Ahead <= 0 || p.failure != nil || expiry.IsZero() {
		return time.Time{}
	}
	return expiry.Add(-Window(p.cfg.Ahead, lifetime))
}

// Ahead waits for the refresh ahead that Begin found due. It returns ctx's
// error if ctx ended first. A failed refresh ahead fails the call (its
// *Error) only when the token it would be sent with has expired; else the
// call is sent all the same (the token may still be good, the call may
// need none), and a refresh status then meets that failure at once rather
// than a second refresh.
func (p *Policy) Ahead(ctx Context, c *Call) error {
	if err := p.await(ctx, c.sent); err != nil {
		if ctx.Err() != nil {
			return err
		}
		now := p.shared()
		p.mu.Lock()
		expiry, _ := p.tokenLocked(now)
		if f := p.lastFail; f != nil && f.err == err && c.sent.started >= f.n {
			c.sent.started = f.n - 1 // a call that joined it is one sent before it: Await returns its failure
		}
		p.mu.Unlock()
		if !expiry.IsZero() && !p.cfg.Now().Before(expiry) {
			return p.fail(err)
		}
		return nil
	}
	now := p.shared()
	p.mu.Lock()
	c.sent = mark{p.epoch, p.started, now.Version}
	c.until = p.untilLocked(p.tokenLocked(now))
	p.mu.Unlock()
	return nil
}

// Answer records the status of the call's latest attempt. It reports
// whether the call must wait for a refresh (Await) and be sent again: only
// after its first attempt, and only for a refresh status. Answer never
// blocks.
func (p *Policy) Answer(c *Call, status int) (again bool) {
	c.attempts++
	if !slices.Contains(p.cfg.StatusCodes, status) {
		return false
	}
	p.count(&p.stats.Unauthorized)
	return c.attempts == 1
}

// Await waits until the token of the call's attempt has been replaced (at
// once when a refresh has succeeded since it was sent), then counts the
// replay the caller is about to send. It returns ctx's error if ctx ended
// first, or the *Error of a failed refresh; then the call is over.
func (p *Policy) Await(ctx Context, c *Call) error {
	if err := p.await(ctx, c.sent); err != nil {
		return p.fail(err)
	}
	p.count(&p.stats.Replays)
	return nil
}

// Window is how long before its expiry an access token is refreshed ahead:
// ahead, but at most a quarter of the token's lifetime when that is known
// (so a token is used for three quarters of its life and a just-issued one
// is never refreshed), and at least MinWindow when the token lives long
// enough for that (twice MinWindow); never more than half its lifetime.
func Window(ahead, lifetime time.Duration) time.Duration {
	if ahead <= 0 || lifetime <= 0 {
		return max(ahead, 0)
	}
	w := min(ahead, lifetime/4)
	if w < MinWindow {
		w = min(MinWindow, ahead, lifetime/2)
	}
	return w
}

// MinWindow is the shortest refresh-ahead window Window picks for a token
// that lives long enough: it covers a refresh's round trip.
const MinWindow = 250 * time.Millisecond

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
// access token's expiry and lifetime (zero if unknown) and starts a new
// epoch, so that attempts sent before it are replayed rather than
// refreshed. Call it after a successful login, or when the server renewed
// the token on its own. It reports whether a failure (or a logout) ended.
func (p *Policy) Reset(expiry time.Time, lifetime time.Duration) (wasOver bool) {
	p.mu.Lock()
	p.epoch++
	wasOver = p.failure != nil
	p.failure = nil
	p.expiry, p.lifetime = expiry, lifetime
	p.mu.Unlock()
	p.changed()
	return wasOver
}

// Logout ends the session here: later calls answered with a refresh status
// fail with ErrLoggedOut, without a refresh, until a new session starts
// (Reset, or a new one seen in the shared state). It reports whether the
// session was still going, so that a logout is announced once.
func (p *Policy) Logout() (wasOn bool) {
	p.mu.Lock()
	wasOn = p.failure == nil
	if wasOn || !isLoggedOut(p.failure) {
		p.failure = &Error{Status: 401, Kind: ErrRejected, Cause: ErrLoggedOut}
	}
	p.failVer = 0 // the logout cleared the cookies; any session seen is new
	p.expiry, p.lifetime = time.Time{}, 0
	p.mu.Unlock()
	p.changed()
	return wasOn
}

// changed calls Config.Changed, if set.
func (p *Policy) changed() {
	if p.cfg.Changed != nil {
		p.cfg.Changed()
	}
}

// Epoch returns the number of successful refreshes and resets so far.
func (p *Policy) Epoch() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// shared reads Config.Shared, or returns Shared{} when there is none.
func (p *Policy) shared() Shared {
	if p.cfg.Shared == nil {
		return Shared{}
	}
	return p.cfg.Shared()
}

// newSessionLocked ends a sticky failure when now shows a session other
// than the one that failed, records now's expiry, and reports whether it
// did. p.mu is held.
func (p *Policy) newSessionLocked(now Shared) bool {
	if p.failure == nil || now.Version == 0 || now.Version == p.failVer {
		return false
	}
	p.failure = nil
	p.epoch++
	p.expiry, p.lifetime = now.Expiry, now.Lifetime
	return true
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
	fresh := f == nil
	if fresh {
		p.started++
		f = &flight{n: p.started, version: sent.version, begun: p.cfg.Now(), done: make(chan struct{})}
		p.flight = f
		p.stats.Refreshes++
		go p.run(f)
	}
	p.mu.Unlock()
	if fresh {
		p.changed()
	}

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
		var out outcome
		defer func() { ch <- out }() // also after a panic or runtime.Goexit
		defer func() {
			if v := recover(); v != nil {
				out = outcome{err: &PanicError{Value: v}}
			}
		}()
		out.err = ErrGoexit // unless the call returns
		if p.cfg.Lock == nil {
			out.res, out.err = p.refreshUnlessShared(ctx, f)
		} else {
			out.res, out.err = p.cfg.Lock(func() (Result, error) { return p.refreshUnlessShared(ctx, f) })
		}
	}()
	out := <-ch
	err := classify(out.res, out.err)

	var ended *Error
	p.mu.Lock()
	p.flight = nil
	p.lastFail = nil
	f.err = err
	switch {
	case err == nil:
		p.epoch++
		p.failure = nil
		p.expiry, p.lifetime = out.res.Expiry, out.res.Lifetime
	case isUnavailable(err):
		p.lastFail = f
	default:
		if p.failure == nil {
			ended = err.(*Error)
		}
		p.failure = err
		p.expiry, p.lifetime = time.Time{}, 0
	}
	p.mu.Unlock()
	p.changed()
	if ended != nil {
		p.sessionEnded(ended)
	}
	if p.cfg.Done != nil {
		p.cfg.Done(out.res, err)
	}
	close(f.done)
}
