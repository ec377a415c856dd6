package refresh

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// session is a hand-written fake of a browser cookie jar and a server with
// rotating access tokens: an attempt succeeds when the jar holds the token
// the server currently accepts.
type session struct {
	jar       atomic.Int64 // the token the client sends
	valid     atomic.Int64 // the token the server accepts
	sends     atomic.Int64
	refreshes atomic.Int64
}

func newSession() *session { return &session{} }

// expire makes the server stop accepting the token in the jar.
func (s *session) expire() { s.valid.Add(1) }

func (s *session) send() (int, error) {
	s.sends.Add(1)
	if s.jar.Load() == s.valid.Load() {
		return 200, nil
	}
	return 401, nil
}

// refresh rotates the token and stores the new one in the jar.
func (s *session) refresh(Context) (Result, error) {
	s.refreshes.Add(1)
	s.jar.Store(s.valid.Add(1))
	return Result{Status: 200}, nil
}

// background is a Context that never ends.
var background = FromContext(context.Background())

// call runs one Do with send and returns the status of the last attempt.
func call(ctx Context, p *Policy, send SendFunc) (int, error) {
	var last int
	err := p.Do(ctx, func() (int, error) {
		status, err := send()
		last = status
		return status, err
	})
	return last, err
}

func TestDoValidTokenSendsOnce(t *testing.T) {
	s := newSession()
	p := New(Config{Refresh: s.refresh})
	status, err := call(background, p, s.send)
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.EqualValues(t, 1, s.sends.Load())
	assert.EqualValues(t, 0, s.refreshes.Load())
}

// TestDoDupSuppress is singleflight's TestDoDupSuppress for refreshes: 100
// concurrent calls all answered 401 cause exactly one refresh, and all
// succeed on their replay.
func TestDoDupSuppress(t *testing.T) {
	const n = 100
	s := newSession()
	s.expire()
	var first sync.WaitGroup // done when every call got its first 401
	first.Add(n)
	p := New(Config{Refresh: func(ctx Context) (Result, error) {
		first.Wait()
		return s.refresh(ctx)
	}})

	var wg sync.WaitGroup
	statuses := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			sent := false
			statuses[i], errs[i] = call(background, p, func() (int, error) {
				status, err := s.send()
				if !sent {
					sent = true
					first.Done()
				}
				return status, err
			})
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, 200, statuses[i], "call %d", i)
	}
	assert.EqualValues(t, 1, s.refreshes.Load())
	assert.EqualValues(t, 2*n, s.sends.Load())
	assert.EqualValues(t, 1, p.Epoch())
	assert.Equal(t, Stats{Calls: n, Unauthorized: n, Refreshes: 1, Replays: n}, p.Stats())
}

// A 401 that arrives after another call's refresh finished belongs to an
// attempt sent with the old token: it is replayed, not refreshed again.
func TestDoLate401IsReplayedWithoutRefresh(t *testing.T) {
	s := newSession()
	s.expire()
	p := New(Config{Refresh: s.refresh})

	sentA := make(chan struct{})
	releaseA := make(chan struct{})
	doneA := make(chan int)
	go func() {
		attempts := 0
		status, err := call(background, p, func() (int, error) {
			attempts++
			status, err := s.send() // the first attempt carries the old token
			if attempts == 1 {
				close(sentA)
				<-releaseA // its answer is slow
			}
			return status, err
		})
		assert.NoError(t, err)
		doneA <- status
	}()
	<-sentA

	status, err := call(background, p, s.send) // B: 401, refresh, 200
	require.NoError(t, err)
	require.Equal(t, 200, status)
	require.EqualValues(t, 1, s.refreshes.Load())

	close(releaseA)
	assert.Equal(t, 200, <-doneA)
	assert.EqualValues(t, 1, s.refreshes.Load(), "the late 401 must not refresh again")
}

// The answer to the replay is returned as it is: never a second refresh or
// a third attempt.
func TestDoReplaysOnce(t *testing.T) {
	s := newSession()
	p := New(Config{Refresh: s.refresh})
	status, err := call(background, p, func() (int, error) {
		s.sends.Add(1)
		return 401, nil // this resource never accepts the token
	})
	require.NoError(t, err)
	assert.Equal(t, 401, status)
	assert.EqualValues(t, 2, s.sends.Load())
	assert.EqualValues(t, 1, s.refreshes.Load())
}

func TestDoSendErrorIsReturnedWithoutRefresh(t *testing.T) {
	s := newSession()
	p := New(Config{Refresh: s.refresh})
	boom := errors.New("connection refused")
	_, err := call(background, p, func() (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)
	assert.EqualValues(t, 0, s.refreshes.Load())
}

func TestDoStatusCodes(t *testing.T) {
	tests := []struct {
		name        string
		codes       []int
		status      int
		wantRefresh bool
	}{
		{"default 401", nil, 401, true},
		{"default ignores 403", nil, 403, false},
		{"default ignores 500", nil, 500, false},
		{"custom 419", []int{401, 419}, 419, true},
		{"custom without 401", []int{419}, 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSession()
			p := New(Config{Refresh: s.refresh, StatusCodes: tt.codes})
			status, err := call(background, p, func() (int, error) { return tt.status, nil })
			require.NoError(t, err)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.wantRefresh, s.refreshes.Load() == 1)
		})
	}
}

func TestClassify(t *testing.T) {
	netErr := errors.New("network down")
	tests := []struct {
		status int
		err    error
		want   error // nil, ErrRejected or ErrUnavailable
	}{
		{200, nil, nil},
		{204, nil, nil},
		{401, nil, ErrRejected},
		{403, nil, ErrUnavailable}, // the CSRF check: a configuration error, the session is kept
		{400, nil, ErrUnavailable},
		{404, nil, ErrUnavailable},
		{429, nil, ErrUnavailable},
		{500, nil, ErrUnavailable},
		{502, nil, ErrUnavailable},
		{503, nil, ErrUnavailable},
		{504, nil, ErrUnavailable},
		{0, netErr, ErrUnavailable},
	}
	for _, tt := range tests {
		err := classify(Result{Status: tt.status}, tt.err)
		if tt.want == nil {
			assert.NoError(t, err, "status %d", tt.status)
			continue
		}
		assert.ErrorIs(t, err, tt.want, "status %d", tt.status)
		var re *Error
		require.ErrorAs(t, err, &re)
		assert.Equal(t, tt.status, re.Status)
		if tt.err != nil {
			assert.ErrorIs(t, err, tt.err)
		}
	}
}

// A definite rejection reaches every waiting call, and later 401s fail with
// it without another refresh until Reset.
func TestDoRejectedIsStickyUntilReset(t *testing.T) {
	const n = 20
	s := newSession()
	s.expire()
	var first sync.WaitGroup
	first.Add(n)
	var refreshes atomic.Int64
	rejected := true
	var done []error
	p := New(Config{Done: func(_ Result, err error) { done = append(done, err) }, Refresh: func(ctx Context) (Result, error) {
		refreshes.Add(1)
		first.Wait()
		if rejected {
			return Result{Status: 401}, nil
		}
		return s.refresh(ctx)
	}})

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			once := sync.OnceFunc(first.Done)
			_, errs[i] = call(background, p, func() (int, error) {
				defer once()
				return s.send()
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, ErrRejected)
		var re *Error
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 401, re.Status)
	}
	require.EqualValues(t, 1, refreshes.Load())
	require.Len(t, done, 1, "Done reports the failure once")
	assert.ErrorIs(t, done[0], ErrRejected)
	assert.EqualValues(t, n, p.Stats().Failures)

	_, err := call(background, p, s.send)
	require.ErrorIs(t, err, ErrRejected)
	assert.EqualValues(t, 1, refreshes.Load(), "a sticky failure does not refresh again")

	rejected = false // a new login
	s.jar.Store(s.valid.Load())
	p.Reset(time.Time{}, 0)
	s.expire()
	status, err := call(background, p, s.send)
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.EqualValues(t, 2, refreshes.Load())
}

// Transient failures reach the waiting calls as ErrUnavailable and do not
// end the session: the next 401 refreshes again.
func TestDoUnavailableIsNotSticky(t *testing.T) {
	netErr := errors.New("connection refused")
	tests := []struct {
		name      string
		refresh   RefreshFunc
		wantCause error
	}{
		{"503", func(Context) (Result, error) { return Result{Status: 503}, nil }, nil},
		{"500", func(Context) (Result, error) { return Result{Status: 500}, nil }, nil},
		{"network error", func(Context) (Result, error) { return Result{}, netErr }, netErr},
		{"timeout honoured", func(ctx Context) (Result, error) {
			<-ctx.Done()
			return Result{}, ctx.Err()
		}, context.DeadlineExceeded},
		{"timeout ignored by the refresh", func(ctx Context) (Result, error) {
			select {} // a refresh that never answers must not hang the policy
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSession()
			s.expire()
			var failing atomic.Bool // read by a refresh that may outlive its call
			failing.Store(true)
			p := New(Config{Timeout: 20 * time.Millisecond, Refresh: func(ctx Context) (Result, error) {
				if failing.Load() {
					return tt.refresh(ctx)
				}
				return s.refresh(ctx)
			}})
			_, err := call(background, p, s.send)
			require.ErrorIs(t, err, ErrUnavailable)
			assert.NotErrorIs(t, err, ErrRejected)
			if tt.wantCause != nil {
				assert.ErrorIs(t, err, tt.wantCause)
			}

			failing.Store(false)
			status, err := call(background, p, s.send)
			require.NoError(t, err)
			assert.Equal(t, 200, status)
			assert.EqualValues(t, 1, s.refreshes.Load())
		})
	}
}

// A 401 that arrives after a refresh failed transiently, for an attempt
// sent before that refresh started, gets that failure: an outage costs one
// refresh per wave of calls. An attempt sent after it tries again.
func TestDoLate401AfterTransientFailure(t *testing.T) {
	s := newSession()
	s.expire()
	var failing atomic.Bool
	failing.Store(true)
	p := New(Config{Refresh: func(ctx Context) (Result, error) {
		if failing.Load() {
			s.refreshes.Add(1)
			return Result{Status: 503}, nil
		}
		return s.refresh(ctx)
	}})

	sentA := make(chan struct{})
	releaseA := make(chan struct{})
	doneA := make(chan error)
	go func() {
		first := true
		_, err := call(background, p, func() (int, error) {
			status, err := s.send()
			if first {
				first = false
				close(sentA)
				<-releaseA
			}
			return status, err
		})
		doneA <- err
	}()
	<-sentA
	_, err := call(background, p, s.send) // B: 401, refresh, 503
	require.ErrorIs(t, err, ErrUnavailable)
	close(releaseA)
	require.ErrorIs(t, <-doneA, ErrUnavailable, "A's attempt predates the failed refresh")
	assert.EqualValues(t, 1, s.refreshes.Load(), "no second refresh for the same wave")

	failing.Store(false)
	status, err := call(background, p, s.send) // sent after the failure
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.EqualValues(t, 2, s.refreshes.Load())
}

// A caller whose context ends while it waits is released alone; the refresh
// and the other waiters go on.
func TestDoCancelledWaiterLeavesAlone(t *testing.T) {
	s := newSession()
	s.expire()
	release := make(chan struct{})
	started := make(chan struct{})
	p := New(Config{Refresh: func(ctx Context) (Result, error) {
		close(started)
		<-release
		return s.refresh(ctx)
	}})

	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error)
	go func() {
		_, err := call(FromContext(ctx), p, s.send)
		cancelled <- err
	}()
	<-started
	others := make(chan int, 2)
	for range 2 {
		go func() {
			status, err := call(background, p, s.send)
			assert.NoError(t, err)
			others <- status
		}()
	}

	cancel()
	require.ErrorIs(t, <-cancelled, context.Canceled)
	close(release)
	assert.Equal(t, 200, <-others)
	assert.Equal(t, 200, <-others)
	assert.EqualValues(t, 1, s.refreshes.Load())
}

func TestDoRefreshAhead(t *testing.T) {
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		ahead       time.Duration
		expiry      time.Time // zero: unknown
		advance     time.Duration
		wantRefresh bool
		want401     bool // the token was expired at the server
	}{
		{"far from expiry", 30 * time.Second, start.Add(time.Minute), 0, false, false},
		{"within the window", 30 * time.Second, start.Add(time.Minute), 40 * time.Second, true, false},
		{"past expiry", 30 * time.Second, start.Add(time.Minute), 2 * time.Minute, true, true},
		{"expiry unknown: on 401", 30 * time.Second, time.Time{}, 2 * time.Minute, true, true},
		{"ahead disabled: on 401", 0, start.Add(time.Minute), 2 * time.Minute, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testclock.New(start)
			s := newSession()
			var seen401 atomic.Int64
			p := New(Config{Refresh: s.refresh, Ahead: tt.ahead, Now: clock.Now})
			p.Reset(tt.expiry, 0)
			clock.Advance(tt.advance)
			if tt.want401 {
				s.expire()
			}
			status, err := call(background, p, func() (int, error) {
				status, err := s.send()
				if status == 401 {
					seen401.Add(1)
				}
				return status, err
			})
			require.NoError(t, err)
			assert.Equal(t, 200, status)
			assert.Equal(t, tt.wantRefresh, s.refreshes.Load() == 1)
			wantSeen := int64(0)
			if tt.want401 && (tt.expiry.IsZero() || tt.ahead == 0) {
				wantSeen = 1
			}
			assert.Equal(t, wantSeen, seen401.Load(), "401s seen")
		})
	}
}

// A burst of calls inside the refresh-ahead window shares one refresh and
// sees no 401; the new expiry ends the window.
func TestDoRefreshAheadBurst(t *testing.T) {
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := testclock.New(start)
	s := newSession()
	p := New(Config{Ahead: 30 * time.Second, Now: clock.Now, Refresh: func(ctx Context) (Result, error) {
		res, err := s.refresh(ctx)
		res.Expiry = clock.Now().Add(time.Minute)
		return res, err
	}})
	p.Reset(start.Add(time.Minute), 0)
	clock.Advance(45 * time.Second)

	var wg sync.WaitGroup
	var seen401 atomic.Int64
	for range 50 {
		wg.Go(func() {
			status, err := call(background, p, s.send)
			assert.NoError(t, err)
			if status != 200 {
				seen401.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 0, seen401.Load())
	assert.EqualValues(t, 1, s.refreshes.Load())
	assert.EqualValues(t, 50, s.sends.Load())
}

// A failed refresh-ahead does not fail the call: the token may still be
// good, or the call may need none (a login). A 401 then meets the failure.
func TestDoRefreshAheadFailureStillSends(t *testing.T) {
	for _, refreshStatus := range []int{503, 401} {
		start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		clock := testclock.New(start)
		s := newSession()
		p := New(Config{Ahead: 30 * time.Second, Now: clock.Now, Refresh: func(Context) (Result, error) {
			return Result{Status: refreshStatus}, nil
		}})
		p.Reset(start.Add(time.Minute), 0)
		clock.Advance(45 * time.Second)
		status, err := call(background, p, s.send)
		require.NoError(t, err, "refresh %d", refreshStatus)
		assert.Equal(t, 200, status)
	}
}

func BenchmarkDoValidToken(b *testing.B) {
	p := New(Config{Refresh: func(Context) (Result, error) { return Result{Status: 200}, nil }})
	send := func() (int, error) { return 200, nil }
	ctx := background
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Do(ctx, send); err != nil {
			b.Fatal(err)
		}
	}
}

// A call waits for one refresh at most: after a refresh ahead that failed
// transiently, a call whose token has expired fails at once without being
// sent, and one whose token may still be good is sent and, if refused,
// fails at once rather than refreshing again.
func TestDoRefreshAheadFailureIsNotRetried(t *testing.T) {
	tests := []struct {
		name      string
		after     time.Duration // since the token was issued; it lives a minute
		answer    int           // the attempt's status
		wantErr   bool
		wantSends int64
	}{
		{"still good, accepted", 45 * time.Second, 200, false, 1},
		{"still good, refused", 45 * time.Second, 401, true, 1},
		{"expired", 61 * time.Second, 401, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			clock := testclock.New(start)
			var refreshes, sends atomic.Int64
			p := New(Config{Ahead: 30 * time.Second, Now: clock.Now, Refresh: func(Context) (Result, error) {
				refreshes.Add(1)
				return Result{Status: 504}, nil
			}})
			p.Reset(start.Add(time.Minute), time.Minute)
			clock.Advance(tt.after)
			err := p.Do(background, func() (int, error) {
				sends.Add(1)
				return tt.answer, nil
			})
			if tt.wantErr {
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.ErrorIs(t, err, ErrUnavailable)
				assert.Equal(t, 504, e.Status, "the refresh ahead's failure")
			} else {
				require.NoError(t, err)
			}
			assert.EqualValues(t, 1, refreshes.Load(), "one refresh")
			assert.Equal(t, tt.wantSends, sends.Load())
		})
	}
}

// A call that joined a refresh ahead already under way is not refreshed
// again either when that refresh fails: it was sent before any other.
func TestDoJoinedRefreshAheadFailureIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		clock := testclock.New(start)
		var refreshes atomic.Int64
		fail := make(chan struct{})
		p := New(Config{Ahead: 30 * time.Second, Now: clock.Now, Refresh: func(Context) (Result, error) {
			if refreshes.Add(1) == 1 {
				<-fail
			}
			return Result{Status: 504}, nil
		}})
		p.Reset(start.Add(time.Minute), time.Minute)
		clock.Advance(45 * time.Second) // due, still good
		refused := func() (int, error) { return 401, nil }
		errs := make(chan error, 2)
		go func() { errs <- p.Do(background, refused) }()
		synctest.Wait() // the first call's refresh ahead is under way
		go func() { errs <- p.Do(background, refused) }()
		synctest.Wait() // the second call waits on it
		close(fail)
		for range 2 {
			assert.ErrorIs(t, <-errs, ErrUnavailable)
		}
		assert.EqualValues(t, 1, refreshes.Load(), "one refresh for both")
	})
}
