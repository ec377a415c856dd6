package refresh

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPanicRefresh and TestGoexitRefresh are singleflight's TestPanicDo and
// TestGoexitDo for refreshes: every waiter gets an error that says what
// happened, and the policy stays usable.
func TestPanicRefresh(t *testing.T) {
	testBrokenRefresh(t, func() { panic("boom") }, func(t *testing.T, err error) {
		var pe *PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "boom", pe.Value)
	})
}

func TestGoexitRefresh(t *testing.T) {
	testBrokenRefresh(t, runtime.Goexit, func(t *testing.T, err error) {
		assert.ErrorIs(t, err, ErrGoexit)
	})
}

func testBrokenRefresh(t *testing.T, broken func(), check func(*testing.T, error)) {
	const n = 10
	s := newSession()
	s.expire()
	// Every call is sent before any 401 is answered, so before the refresh
	// starts: all of them wait for the broken refresh, none for a later one.
	var sent sync.WaitGroup
	sent.Add(n)
	var calls atomic.Int64
	p := New(Config{Refresh: func(ctx Context) (Result, error) {
		if calls.Add(1) == 1 {
			broken()
		}
		return s.refresh(ctx)
	}})
	errs := make(chan error, n)
	for range n {
		go func() {
			first := true
			_, err := call(background, p, func() (int, error) {
				status, err := s.send()
				if first {
					first = false
					sent.Done()
					sent.Wait()
				}
				return status, err
			})
			errs <- err
		}()
	}
	for range n {
		err := <-errs
		require.ErrorIs(t, err, ErrUnavailable)
		check(t, err)
	}
	status, err := call(background, p, s.send)
	require.NoError(t, err, "the policy is usable after the broken refresh")
	assert.Equal(t, 200, status)
	assert.EqualValues(t, 2, calls.Load())
}

func TestWindow(t *testing.T) {
	tests := []struct {
		ahead, lifetime, want time.Duration
	}{
		{30 * time.Second, 2 * time.Second, 500 * time.Millisecond},
		{30 * time.Second, 10 * time.Second, 2500 * time.Millisecond},
		{30 * time.Second, time.Minute, 15 * time.Second},
		{30 * time.Second, time.Hour, 30 * time.Second},
		{30 * time.Second, 0, 30 * time.Second},                            // lifetime unknown: as configured
		{30 * time.Second, 800 * time.Millisecond, MinWindow},              // the floor
		{30 * time.Second, 300 * time.Millisecond, 150 * time.Millisecond}, // never past half the lifetime
		{100 * time.Millisecond, time.Minute, 100 * time.Millisecond},      // never more than asked
		{0, time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v of %v", tt.ahead, tt.lifetime), func(t *testing.T) {
			assert.Equal(t, tt.want, Window(tt.ahead, tt.lifetime))
		})
	}
}

// A page that calls steadily refreshes once per token lifetime, never
// before a token has lived three quarters of its life, and sees no 401:
// the TTL table of issue 12 with a fake clock, against strict rotation.
func TestSteadyCallsRefreshOncePerLifetime(t *testing.T) {
	for _, ttl := range []time.Duration{2 * time.Second, 10 * time.Second, time.Minute, time.Hour} {
		t.Run(ttl.String(), func(t *testing.T) {
			start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
			clock := testclock.New(start)
			var token, refreshes, unauthorized int
			expiry := start.Add(ttl)
			issued := start
			var minAge time.Duration = ttl
			p := New(Config{Ahead: 30 * time.Second, Now: clock.Now, Refresh: func(Context) (Result, error) {
				refreshes++
				minAge = min(minAge, clock.Now().Sub(issued))
				token++
				issued, expiry = clock.Now(), clock.Now().Add(ttl)
				return Result{Status: 200, Expiry: expiry, Lifetime: ttl}, nil
			}})
			p.Reset(expiry, ttl) // the login
			span := 3 * ttl
			for clock.Now().Before(start.Add(span)) {
				err := p.Do(background, func() (int, error) {
					if !clock.Now().Before(expiry) {
						unauthorized++
						return 401, nil
					}
					return 200, nil
				})
				require.NoError(t, err)
				clock.Advance(ttl / 200)
			}
			assert.Zero(t, unauthorized, "no call was answered 401")
			assert.Equal(t, 3, refreshes, "one refresh per token lifetime over three lifetimes")
			assert.GreaterOrEqual(t, minAge, ttl*3/4, "no token was refreshed before three quarters of its life")
		})
	}
}

// A definite failure ends when the shared state shows a new session (a
// login by plain fetch, in any tab); Started is told once, Ended once.
func TestNewSessionEndsStickyFailure(t *testing.T) {
	s := newSession()
	var version atomic.Int64
	version.Store(1)
	var started, ended atomic.Int64
	p := New(Config{
		Shared:  func() Shared { return Shared{Version: version.Load()} },
		Started: func(Shared) { started.Add(1) },
		Ended:   func(*Error) { ended.Add(1) },
		Refresh: func(ctx Context) (Result, error) {
			if version.Load() == 0 {
				return Result{Status: 401}, nil
			}
			return s.refresh(ctx)
		},
	})
	s.expire()
	version.Store(0) // the refresh cookie is gone: the refresh is rejected, the cookies cleared
	_, err := call(background, p, s.send)
	require.ErrorIs(t, err, ErrRejected)
	_, err = call(background, p, s.send)
	require.ErrorIs(t, err, ErrRejected, "sticky while nothing changed")
	assert.False(t, p.Fail(401), "another tab's report of the same end is not a second end")

	version.Store(2) // a login by plain fetch
	s.jar.Store(s.valid.Load())
	status, err := call(background, p, s.send)
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.EqualValues(t, 1, started.Load())
	assert.EqualValues(t, 1, ended.Load())

	s.expire()
	status, err = call(background, p, s.send)
	require.NoError(t, err, "the next 401 refreshes")
	assert.Equal(t, 200, status)
}

func TestLogout(t *testing.T) {
	s := newSession()
	p := New(Config{Refresh: s.refresh})
	assert.True(t, p.Logout())
	assert.False(t, p.Logout(), "a logout is announced once")
	s.expire()
	_, err := call(background, p, s.send)
	require.ErrorIs(t, err, ErrLoggedOut)
	require.ErrorIs(t, err, ErrRejected)
	assert.Zero(t, s.refreshes.Load(), "no refresh after a logout")
	assert.True(t, p.Reset(time.Time{}, 0), "a login ends the logout")
	_, err = call(background, p, s.send)
	require.NoError(t, err)
}

// The steps of a call, as the browser module drives them.
func TestSteps(t *testing.T) {
	t.Run("a refresh between Begin and the answer: replayed, no second refresh", func(t *testing.T) {
		s := newSession()
		p := New(Config{Refresh: s.refresh})
		var slow Call
		require.False(t, p.Begin(&slow, Shared{}))
		s.expire()                            // the slow call's token is now stale...
		_, err := call(background, p, s.send) // ...another call refreshes
		require.NoError(t, err)
		require.True(t, p.Answer(&slow, 401))
		require.NoError(t, p.Await(background, &slow), "at once: the epoch moved")
		assert.False(t, p.Answer(&slow, 200))
		assert.EqualValues(t, 1, s.refreshes.Load())
	})
	t.Run("a 401 on the replay is returned", func(t *testing.T) {
		p := New(Config{Refresh: func(Context) (Result, error) { return Result{Status: 200}, nil }})
		var c Call
		p.Begin(&c, Shared{})
		require.True(t, p.Answer(&c, 401))
		require.NoError(t, p.Await(background, &c))
		assert.False(t, p.Answer(&c, 401), "replay once")
		assert.Equal(t, Stats{Calls: 1, Unauthorized: 2, Refreshes: 1, Replays: 1}, p.Stats())
	})
	t.Run("abort while waiting for the refresh", func(t *testing.T) {
		release := make(chan struct{})
		p := New(Config{Refresh: func(Context) (Result, error) {
			<-release
			return Result{Status: 200}, nil
		}})
		var c Call
		p.Begin(&c, Shared{})
		require.True(t, p.Answer(&c, 401))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, p.Await(FromContext(ctx), &c), context.Canceled)
		close(release)
	})
	t.Run("abort while waiting for a refresh ahead", func(t *testing.T) {
		start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
		release := make(chan struct{})
		p := New(Config{Ahead: time.Minute, Now: func() time.Time { return start }, Refresh: func(Context) (Result, error) {
			<-release
			return Result{Status: 200}, nil
		}})
		p.Reset(start, time.Hour)
		var c Call
		require.True(t, p.Begin(&c, Shared{}))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, p.Ahead(FromContext(ctx), &c), context.Canceled)
		close(release)
	})
}
