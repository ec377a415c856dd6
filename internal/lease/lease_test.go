package lease

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testclock"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rig is a Table over a real Policy whose refresh waits at a barrier
// (release) and counts itself, and which records what the loader is told.
type rig struct {
	table     *Table
	policy    *refresh.Policy
	clock     *testclock.Clock
	refreshes atomic.Int64
	entered   chan struct{} // one value per refresh that started
	release   chan struct{} // closed (or sent to) to let refreshes answer

	mu        sync.Mutex
	grants    [][2]int64 // (id, untilMs) per Grant
	withdraws [][2]int   // (id, after) per Withdraw
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{clock: testclock.New(time.Unix(1_700_000_000, 0)), entered: make(chan struct{}, 8), release: make(chan struct{})}
	r.policy = refresh.New(refresh.Config{
		Refresh: func(refresh.Context) (refresh.Result, error) {
			r.refreshes.Add(1)
			select {
			case r.entered <- struct{}{}:
			default:
			}
			<-r.release
			return refresh.Result{Status: 200, Expiry: r.clock.Now().Add(time.Minute), Lifetime: time.Minute}, nil
		},
		Ahead: 30 * time.Second,
		Now:   r.clock.Now,
	})
	r.table = New(Config{
		Policy: r.policy,
		Grant: func(id int, untilMs int64) {
			r.mu.Lock()
			r.grants = append(r.grants, [2]int64{int64(id), untilMs})
			r.mu.Unlock()
		},
		Withdraw: func(id, after int) {
			r.mu.Lock()
			r.withdraws = append(r.withdraws, [2]int{id, after})
			r.mu.Unlock()
		},
	})
	return r
}

// begin starts a call that finds no refresh ahead due, and returns its lease.
func (r *rig) begin(t *testing.T, now refresh.Shared) int {
	t.Helper()
	v := r.table.Begin(now, true, func(*Wait) any { t.Fatal("no refresh ahead is due"); return nil })
	id, ok := v.(int)
	require.True(t, ok, "a lease id, not a wait: %v", v)
	return id
}

func (r *rig) withdrawn() [][2]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][2]int(nil), r.withdraws...)
}

// The lease is granted while the policy is steady, and is the same lease
// for every call started in the same state; a refresh makes a new one.
func TestLeaseGranted(t *testing.T) {
	r := newRig(t)
	first := r.begin(t, refresh.Shared{})
	assert.Equal(t, 1, first, "the first lease is 1 (0 is the loader's before the module ran)")
	assert.Equal(t, first, r.begin(t, refresh.Shared{}), "same state, same lease")
	require.Len(t, r.grants, 2)
	assert.Equal(t, [2]int64{1, 0}, r.grants[0], "no expiry known: no limit")

	expiry := r.clock.Now().Add(time.Minute)
	known := refresh.Shared{Version: expiry.UnixMilli(), Expiry: expiry, Lifetime: time.Minute}
	id := r.begin(t, known)
	assert.NotEqual(t, first, id, "a new session cookie is a new state")
	assert.Equal(t, expiry.Add(-15*time.Second).UnixMilli(), r.grants[2][1], "held until the refresh ahead is due")
}

// The first refusal under a lease tells the loader, once, to withdraw the
// attempts sent after the refused one; every refused attempt waits for
// the one refresh and is sent again.
func TestWithdrawOncePerLease(t *testing.T) {
	r := newRig(t)
	id := r.begin(t, refresh.Shared{})
	const n = 8
	calls := make([]refresh.Call, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, again := r.table.Report(id, i+1, 401, refresh.Shared{})
			assert.True(t, again)
			calls[i] = c
			assert.NoError(t, r.policy.Await(bg, &calls[i]))
		})
	}
	<-r.entered
	close(r.release)
	wg.Wait()
	assert.EqualValues(t, 1, r.refreshes.Load(), "one refresh for all")
	w := r.withdrawn()
	require.Len(t, w, 1, "once per lease")
	assert.Equal(t, id, w[0][0])
	assert.GreaterOrEqual(t, w[0][1], 1, "after the refused attempt's number")

	// A withdrawn attempt (status Withdrawn) tells nobody and waits too.
	c, again := r.table.Report(id, 9, Withdrawn, refresh.Shared{})
	assert.True(t, again)
	assert.NoError(t, r.policy.Await(bg, &c))
	assert.Len(t, r.withdrawn(), 1)
}

// The refused attempt's own number goes to Withdraw, so the loader spares
// the attempts sent before it (one of them may have made it).
func TestWithdrawSparesEarlierAttempts(t *testing.T) {
	r := newRig(t)
	id := r.begin(t, refresh.Shared{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, _ := r.table.Report(id, 5, 401, refresh.Shared{})
		_ = r.policy.Await(bg, &c)
	}()
	<-r.entered
	assert.Equal(t, [][2]int{{id, 5}}, r.withdrawn())
	close(r.release)
	<-done
}

// A lease older than the kept ones has lapsed: its attempt is sent again
// without a refresh, and nobody is told to withdraw anything.
func TestLapsedLease(t *testing.T) {
	r := newRig(t)
	close(r.release) // refreshes answer at once
	stale := r.begin(t, refresh.Shared{})
	id := stale
	for range Kept { // a refresh per lease: each one a new state
		c, again := r.table.Report(id, 1, 401, refresh.Shared{})
		require.True(t, again)
		require.NoError(t, r.policy.Await(bg, &c))
		id = r.begin(t, refresh.Shared{})
	}
	require.EqualValues(t, Kept, r.refreshes.Load())
	withdraws := len(r.withdrawn())
	c, again := r.table.Report(stale, 1, 401, refresh.Shared{})
	require.True(t, again)
	require.NoError(t, r.policy.Await(bg, &c))
	assert.EqualValues(t, Kept, r.refreshes.Load(), "no refresh for a token older than any since")
	assert.Len(t, r.withdrawn(), withdraws, "nothing to withdraw under a lapsed lease")
}

// Lease 0 (calls sent before the module ran) adopts the policy's state at
// its first report, with the cookie that call was sent with: a later
// report of lease 0 waits for the same refresh, and one that arrives after
// it is replayed without another.
func TestLeaseZeroAdoption(t *testing.T) {
	r := newRig(t)
	before := r.policy.Stats().Calls
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, again := r.table.Report(0, 1, 401, refresh.Shared{})
		assert.True(t, again)
		assert.NoError(t, r.policy.Await(bg, &c))
	}()
	<-r.entered
	close(r.release)
	<-done
	c, again := r.table.Report(0, 2, 401, refresh.Shared{})
	require.True(t, again)
	require.NoError(t, r.policy.Await(bg, &c))
	assert.EqualValues(t, 1, r.refreshes.Load(), "the late 401 of a call sent before the module ran is replayed, not refreshed again")
	assert.Equal(t, before, r.policy.Stats().Calls, "the loader counted lease 0's calls")
	assert.Equal(t, [][2]int{{0, 1}}, r.withdrawn(), "once for lease 0 too")
}

// A refresh status the policy does not count as one (the call's own
// answer) ends the call: no wait.
func TestReportOfAnAnswer(t *testing.T) {
	r := newRig(t)
	id := r.begin(t, refresh.Shared{})
	_, again := r.table.Report(id, 1, 200, refresh.Shared{})
	assert.False(t, again)
}

// Calls without a signal that find the same refresh ahead due share one
// wait; a call with a signal waits alone. Each ends with the same new
// lease, and one refresh is made.
func TestSharedWaitForARefreshAhead(t *testing.T) {
	r := newRig(t)
	expiry := r.clock.Now().Add(10 * time.Second) // within the window: due
	due := refresh.Shared{Version: expiry.UnixMilli(), Expiry: expiry, Lifetime: time.Minute}
	var waits atomic.Int64
	start := func(w *Wait) any {
		waits.Add(1)
		p := make(chan int, 1)
		go func() {
			id, err := r.table.Ahead(bg, w)
			assert.NoError(t, err)
			p <- id
		}()
		return p
	}
	var shared []any
	for range 5 {
		shared = append(shared, r.table.Begin(due, true, start))
	}
	alone := r.table.Begin(due, false, start)
	assert.EqualValues(t, 2, waits.Load(), "one shared wait, one of its own")
	for _, v := range shared[1:] {
		assert.Equal(t, shared[0], v, "the same wait")
	}
	assert.NotEqual(t, shared[0], alone)
	<-r.entered
	close(r.release)
	a, b := <-shared[0].(chan int), <-alone.(chan int)
	assert.Equal(t, a, b, "both sent under the lease of the new state")
	assert.Positive(t, a)
	assert.EqualValues(t, 1, r.refreshes.Load())

	// The wait is over: a call that finds a refresh due later makes a new one.
	r.clock.Advance(time.Minute)
	p := r.table.Begin(refresh.Shared{}, true, start)
	assert.EqualValues(t, 3, waits.Load(), "a finished wait is never shared")
	assert.Positive(t, <-p.(chan int))
}

// Expiry reads the session cookie's numbers.
func TestExpiry(t *testing.T) {
	tests := []struct {
		name                string
		expiresMs, lifetime float64
		want                refresh.Shared
	}{
		{"none", 0, 0, refresh.Shared{}},
		{"negative", -5, 10, refresh.Shared{}},
		{"known", 1_700_000_000_000, 60_000, refresh.Shared{Version: 1_700_000_000_000, Expiry: time.UnixMilli(1_700_000_000_000), Lifetime: time.Minute}},
		{"negative lifetime", 1_700_000_000_000, -1, refresh.Shared{Version: 1_700_000_000_000, Expiry: time.UnixMilli(1_700_000_000_000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Expiry(tt.expiresMs, tt.lifetime))
		})
	}
}

// bg is the Context of a call that is never aborted.
var bg = refresh.FromContext(context.Background())

// Calls that find a shared wait while its refresh ahead ends read the
// wait's call as Ahead finishes with it (-race: Ahead writes a copy).
func TestBeginWhileAheadEnds(t *testing.T) {
	r := newRig(t)
	expiry := r.clock.Now().Add(10 * time.Second)
	due := refresh.Shared{Version: expiry.UnixMilli(), Expiry: expiry, Lifetime: time.Minute}
	var waits sync.WaitGroup
	start := func(w *Wait) any {
		waits.Add(1)
		go func() {
			defer waits.Done()
			id, err := r.table.Ahead(bg, w)
			assert.NoError(t, err)
			assert.Positive(t, id)
		}()
		return w
	}
	r.table.Begin(due, true, start)
	<-r.entered // the refresh ahead runs
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				r.table.Begin(due, true, start)
			}
		})
	}
	close(r.release) // Ahead returns while the others Begin
	wg.Wait()
	waits.Wait()
}
