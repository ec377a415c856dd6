package refresh

import (
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Steady holds while nothing changes, says until when, and Changed is
// called whenever it stops holding.
func TestSteady(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	expiry := start.Add(time.Minute)
	known := Shared{Version: 1, Expiry: expiry, Lifetime: time.Minute}
	tests := []struct {
		name      string
		now       Shared
		change    func(p *Policy, clock *testclock.Clock) // after the call starts; nil: nothing
		changed   int                                     // calls of Config.Changed it makes
		steady    bool
		wantUntil time.Time
	}{
		{name: "no expiry known", steady: true},
		{name: "expiry known", now: known, steady: true,
			wantUntil: expiry.Add(-15 * time.Second)}, // a quarter of the lifetime
		{name: "until reached", now: known, change: func(_ *Policy, clock *testclock.Clock) { clock.Advance(45 * time.Second) },
			wantUntil: expiry.Add(-15 * time.Second)}, // no change to announce: the caller compares the time
		{name: "reset", change: func(p *Policy, _ *testclock.Clock) { p.Reset(expiry, time.Minute) }, changed: 1},
		{name: "logout", change: func(p *Policy, _ *testclock.Clock) { p.Logout() }, changed: 1},
		{name: "another tab's rejection", change: func(p *Policy, _ *testclock.Clock) { p.Fail(401) }, changed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := 0
			clock := testclock.New(start)
			p := New(Config{
				Refresh: func(Context) (Result, error) { return Result{Status: 200}, nil },
				Ahead:   30 * time.Second,
				Now:     clock.Now,
				Changed: func() { changed++ },
			})
			var c Call
			require.False(t, p.Begin(&c, tt.now))
			if tt.change != nil {
				tt.change(p, clock)
			}
			until, ok := p.Steady(&c)
			assert.Equal(t, tt.steady, ok)
			assert.Equal(t, tt.wantUntil, until)
			assert.Equal(t, tt.changed, changed)
		})
	}
}

// A refresh ends the steady state when it starts and when it ends; a copy
// of a steady call that is answered 401 waits for the refresh in progress
// like any other call, and Adopt starts a call without counting it.
func TestSteadyAcrossARefresh(t *testing.T) {
	hold := make(chan struct{})
	changed := make(chan struct{}, 10) // (room for more than the two expected: a third is an error, not a hang)
	p := New(Config{
		Refresh: func(Context) (Result, error) { <-hold; return Result{Status: 200}, nil },
		Changed: func() { changed <- struct{}{} },
	})
	var steady Call
	p.Begin(&steady, Shared{})
	_, ok := p.Steady(&steady)
	require.True(t, ok)

	first, second := steady, steady // two attempts sent under the lease
	first.Resume()
	second.Resume()
	require.True(t, p.Answer(&first, 401))
	done := make(chan error)
	go func() { done <- p.Await(background, &first) }()
	<-changed // the refresh started
	_, ok = p.Steady(&steady)
	assert.False(t, ok, "no steady state while a refresh is in progress")

	require.True(t, p.Answer(&second, 401))
	go func() { done <- p.Await(background, &second) }()
	close(hold)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	<-changed // the refresh ended

	var adopted Call
	p.Adopt(&adopted, Shared{})
	_, ok = p.Steady(&adopted)
	assert.True(t, ok)
	assert.False(t, adopted.Same(&steady), "a refresh separates them")
	assert.Empty(t, changed, "Changed once when the refresh started, once when it ended")
	stats := p.Stats()
	assert.EqualValues(t, 1, stats.Calls, "Adopt and the copies are not counted")
	assert.EqualValues(t, 1, stats.Refreshes)
	assert.EqualValues(t, 2, stats.Replays)
}

// A call that waited for a refresh ahead is steady afterwards, until the
// new token's window.
func TestSteadyAfterARefreshAhead(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	next := start.Add(2 * time.Minute)
	p := New(Config{
		Refresh: func(Context) (Result, error) {
			return Result{Status: 200, Expiry: next, Lifetime: 2 * time.Minute}, nil
		},
		Ahead: 30 * time.Second,
		Now:   testclock.New(start).Now,
	})
	var c Call
	require.True(t, p.Begin(&c, Shared{Version: 1, Expiry: start.Add(10 * time.Second), Lifetime: time.Minute}), "due")
	require.NoError(t, p.Ahead(background, &c))
	until, ok := p.Steady(&c)
	assert.True(t, ok)
	assert.Equal(t, next.Add(-30*time.Second), until, "the new token's window")
}
