package refresh

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browser is a hand-written fake of what the tabs of one browser share: the
// cookie jar (the session's token and its version, as the readable cookie
// carries it) and a Web Lock.
type browser struct {
	lock    sync.Mutex
	session *session
	version atomic.Int64
}

func newBrowser() *browser {
	b := &browser{session: newSession()}
	b.version.Store(1)
	return b
}

func (b *browser) shared() Shared { return Shared{Version: b.version.Load()} }

func (b *browser) withLock(fn func() (Result, error)) (Result, error) {
	b.lock.Lock()
	defer b.lock.Unlock()
	return fn()
}

// tab is one tab's policy over the shared browser.
func (b *browser) tab() *Policy {
	return New(Config{
		Lock:   b.withLock,
		Shared: b.shared,
		Refresh: func(ctx Context) (Result, error) {
			res, err := b.session.refresh(ctx)
			b.version.Add(1) // the server set new cookies
			return res, err
		},
	})
}

// Two tabs whose calls all got 401 with the old token: the first to get the
// lock refreshes; the other sees the new version and replays without a
// refresh (which, with rotation, would have been a reuse).
func TestTabsShareOneRefresh(t *testing.T) {
	for _, tabs := range []int{2, 5} {
		b := newBrowser()
		b.session.expire()
		const perTab = 20
		var sent sync.WaitGroup // every attempt is out before any refresh
		sent.Add(tabs * perTab)
		b.lock.Lock() // hold the lock until every tab has its 401s
		policies := make([]*Policy, tabs)
		for i := range policies {
			policies[i] = b.tab()
		}
		var wg sync.WaitGroup
		var failed atomic.Int64
		for _, p := range policies {
			for range perTab {
				wg.Go(func() {
					once := sync.OnceFunc(sent.Done)
					status, err := call(background, p, func() (int, error) {
						defer once()
						return b.session.send()
					})
					if err != nil || status != 200 {
						failed.Add(1)
					}
				})
			}
		}
		sent.Wait()
		b.lock.Unlock()
		wg.Wait()
		assert.Zero(t, failed.Load(), "%d tabs", tabs)
		assert.EqualValues(t, 1, b.session.refreshes.Load(), "%d tabs: one refresh in the browser", tabs)
		var elsewhere uint64
		for _, p := range policies {
			elsewhere += p.Stats().Elsewhere
		}
		assert.EqualValues(t, tabs-1, elsewhere, "%d tabs: the others found it done", tabs)
	}
}

// A tab whose attempt was sent after another tab's refresh (so it carries
// the new version) and still got 401 refreshes for real.
func TestTabRefreshesWhenNothingChanged(t *testing.T) {
	b := newBrowser()
	b.session.expire()
	p := b.tab()
	status, err := call(background, p, b.session.send)
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.EqualValues(t, 1, b.session.refreshes.Load())
	assert.Zero(t, p.Stats().Elsewhere)
}

// The shared expiry (another tab's refresh, or a page loaded with a
// session) drives refresh-ahead.
func TestSharedExpiryDrivesRefreshAhead(t *testing.T) {
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := testclock.New(start)
	s := newSession()
	var expiry atomic.Int64
	expiry.Store(start.Add(time.Minute).UnixMilli())
	p := New(Config{
		Ahead: 30 * time.Second, Now: clock.Now,
		Shared: func() Shared { return Shared{Version: 1, Expiry: time.UnixMilli(expiry.Load())} },
		Refresh: func(ctx Context) (Result, error) {
			expiry.Store(clock.Now().Add(time.Minute).UnixMilli())
			return s.refresh(ctx)
		},
	})
	clock.Advance(10 * time.Second)
	_, err := call(background, p, s.send)
	require.NoError(t, err)
	assert.Zero(t, s.refreshes.Load(), "not due yet")
	clock.Advance(25 * time.Second)
	_, err = call(background, p, s.send)
	require.NoError(t, err)
	assert.EqualValues(t, 1, s.refreshes.Load(), "due: refreshed ahead")
}

// A definite failure seen by another tab is sticky here too, until a login.
func TestFailFromAnotherTab(t *testing.T) {
	s := newSession()
	p := New(Config{Refresh: s.refresh})
	s.expire()
	p.Fail(401)
	_, err := call(background, p, s.send)
	var re *Error
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, ErrRejected)
	assert.Equal(t, 401, re.Status)
	assert.Zero(t, s.refreshes.Load())

	p.Reset(time.Time{}, 0)
	status, err := call(background, p, s.send)
	require.NoError(t, err)
	assert.Equal(t, 200, status)
}

// Another tab's report of an ended session arrives after a third tab
// logged in: the session the cookie shows now is not the one that ended.
func TestFailFromAnotherTabAfterANewLogin(t *testing.T) {
	s := newSession()
	var ended atomic.Int32
	p := New(Config{
		Refresh: s.refresh,
		Shared:  func() Shared { return Shared{Version: 7} }, // the new login's cookie
		Ended:   func(*Error) { ended.Add(1) },
	})
	assert.False(t, p.Fail(401))
	assert.Zero(t, ended.Load())

	s.expire()
	status, err := call(background, p, s.send)
	require.NoError(t, err, "the new session refreshes")
	assert.Equal(t, 200, status)
	assert.EqualValues(t, 1, s.refreshes.Load())
}

// A lock that cannot be had is a transient failure.
func TestLockFailureIsUnavailable(t *testing.T) {
	s := newSession()
	s.expire()
	lockErr := errors.New("lock request aborted")
	p := New(Config{Refresh: s.refresh, Lock: func(func() (Result, error)) (Result, error) { return Result{}, lockErr }})
	_, err := call(background, p, s.send)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, lockErr)
}

// A tab whose refresh gets the lock after another tab's refresh of the same
// token failed transiently fails with that failure, without a request of
// its own; a failure from before its refresh began does not count.
func TestTabsShareATransientFailure(t *testing.T) {
	tests := []struct {
		name          string
		failedAt      time.Duration // relative to the refresh's start
		status        int
		wantRefreshes int64
		wantStatus    int
	}{
		{"while it waited for the lock", time.Millisecond, 504, 0, 504},
		{"with no answer", time.Millisecond, 0, 0, 0},
		{"before it began", -time.Second, 504, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			clock := testclock.New(start)
			shared := Shared{Version: 1}
			var refreshes atomic.Int64
			p := New(Config{Now: clock.Now, Shared: func() Shared { return shared },
				Lock: func(fn func() (Result, error)) (Result, error) {
					shared.Failed, shared.FailedStatus = start.Add(tt.failedAt), tt.status // the other tab held the lock
					return fn()
				},
				Refresh: func(Context) (Result, error) {
					refreshes.Add(1)
					shared.Version++
					return Result{Status: 200}, nil
				}})
			status := 401
			err := p.Do(background, func() (int, error) {
				defer func() { status = 200 }()
				return status, nil
			})
			assert.Equal(t, tt.wantRefreshes, refreshes.Load())
			if tt.wantRefreshes == 1 {
				require.NoError(t, err)
				return
			}
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.ErrorIs(t, err, ErrUnavailable)
			assert.ErrorIs(t, err, ErrFailedElsewhere)
			assert.Equal(t, tt.wantStatus, e.Status)
		})
	}
}
