package absorb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/syncbuf"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upstream is a fake token endpoint: it counts refreshes, can hold them
// until released, and rotates the refresh token unless told not to.
type upstream struct {
	calls     atomic.Int64
	hold      chan struct{} // when not nil, refreshes wait for it to close
	noRotate  bool
	accessTTL time.Duration
	fail      error
}

func (u *upstream) refresh(presented string) func(context.Context) (authclient.Tokens, error) {
	return func(ctx context.Context) (authclient.Tokens, error) {
		n := u.calls.Add(1)
		if u.hold != nil {
			<-u.hold
		}
		if u.fail != nil {
			return authclient.Tokens{}, u.fail
		}
		next := fmt.Sprint("refresh-", n)
		if u.noRotate {
			next = presented
		}
		ttl := u.accessTTL
		if ttl == 0 {
			ttl = time.Minute
		}
		return authclient.Tokens{AccessToken: fmt.Sprint("access-", n), RefreshToken: next, Expires: time.Now().Add(ttl)}, nil
	}
}

// outcome is one Rotate's result.
type outcome struct {
	t      authclient.Tokens
	shared bool
	err    error
}

func rotateAll(a []*Absorber, n int, refresh, access string, u *upstream) []outcome {
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			t, shared, err := a[i%len(a)].Rotate(context.Background(), Presented{RefreshToken: refresh, AccessToken: access}, u.refresh(refresh))
			out[i] = outcome{t, shared, err}
		})
	}
	synctest.Wait() // all blocked: one on the upstream, the others on it
	close(u.hold)
	wg.Wait()
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Concurrent duplicates share one refresh, within one process and across
// two that share a Store; the same refresh token with another access
// token is another refresh.
func TestAbsorberDuplicates(t *testing.T) {
	tests := []struct {
		name      string
		instances int
	}{
		{"one process", 1},
		{"two processes, one store", 2},
		{"three processes, one store", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := NewMemory(0, nil)
				var as []*Absorber
				for range tt.instances {
					as = append(as, New(Config{Store: store}))
				}
				u := &upstream{hold: make(chan struct{})}
				out := rotateAll(as, 24, "r0", "a0", u)
				assert.EqualValues(t, 1, u.calls.Load())
				shared := 0
				for i, o := range out {
					require.NoError(t, o.err)
					assert.Equal(t, out[0].t, o.t, "call %d", i)
					if o.shared {
						shared++
					}
				}
				assert.Equal(t, 23, shared, "all but one")

				u.hold = nil
				_, shared0, err := as[0].Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "other access"}, u.refresh("r0"))
				require.NoError(t, err)
				assert.False(t, shared0, "the access token is part of the key")
				assert.EqualValues(t, 2, u.calls.Load())
			})
		})
	}
}

// recordingStore keeps what it is given, so that tests can look at it.
type recordingStore struct {
	*Memory
	mu     sync.Mutex
	keys   []string
	values [][]byte
}

func (s *recordingStore) Acquire(ctx context.Context, key string, ttl time.Duration) ([]byte, Lease, error) {
	v, l, err := s.Memory.Acquire(ctx, key, ttl)
	if l != nil {
		l = recordingLease{l, s}
	}
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return v, l, err
}

type recordingLease struct {
	Lease
	s *recordingStore
}

func (l recordingLease) Complete(ctx context.Context, v []byte, ttl time.Duration) error {
	l.s.mu.Lock()
	l.s.values = append(l.s.values, v)
	l.s.mu.Unlock()
	return l.Lease.Complete(ctx, v, ttl)
}

// The store sees neither token: keys are hashes, values are sealed under
// the presented refresh token and open with nothing else.
func TestAbsorberStoresNothingUsable(t *testing.T) {
	store := &recordingStore{Memory: NewMemory(0, nil)}
	a := New(Config{Store: store})
	u := &upstream{}
	got, _, err := a.Rotate(context.Background(), Presented{RefreshToken: "presented-refresh", AccessToken: "presented-access"}, u.refresh("presented-refresh"))
	require.NoError(t, err)
	require.Len(t, store.values, 1)
	require.Len(t, store.keys, 1)
	for _, secret := range []string{"presented-refresh", "presented-access", got.AccessToken, got.RefreshToken} {
		assert.NotContains(t, store.keys[0], secret)
		assert.False(t, bytes.Contains(store.values[0], []byte(secret)), "a token in the clear")
	}
	_, _, err = open("another-refresh", store.keys[0], store.values[0])
	assert.ErrorIs(t, err, errOpen)
	_, _, err = open("presented-refresh", lookupKey("x", "y"), store.values[0])
	assert.ErrorIs(t, err, errOpen, "bound to its key")
	opened, _, err := open("presented-refresh", store.keys[0], store.values[0])
	require.NoError(t, err)
	assert.Equal(t, got.AccessToken, opened.AccessToken)
}

// A rotated pair is handed out for the whole window, even with its access
// token expired; a non-rotated one only while its access token has more
// than MinLife (or half its lifetime) left, after which the duplicates
// that found it share one new refresh.
func TestAbsorberFreshness(t *testing.T) {
	tests := []struct {
		name      string
		noRotate  bool
		accessTTL time.Duration
		after     time.Duration // when the duplicate comes
		wantCalls int64
	}{
		{"rotated, access expired, within the window", false, 2 * time.Second, DefaultWindow - time.Second, 1},
		{"not rotated, plenty of life left", true, time.Minute, DefaultWindow - time.Second, 1},
		{"not rotated, less than MinLife left", true, DefaultMinLife + 3*time.Second, 4 * time.Second, 2},
		{"not rotated, short-lived, within half its life", true, 2 * time.Second, 900 * time.Millisecond, 1},
		{"not rotated, short-lived, past half its life", true, 2 * time.Second, 1100 * time.Millisecond, 2},
		{"after the window", false, time.Minute, DefaultWindow, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := New(Config{})
				u := &upstream{noRotate: tt.noRotate, accessTTL: tt.accessTTL}
				first, _, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
				require.NoError(t, err)
				time.Sleep(tt.after)

				u.hold = make(chan struct{})
				out := rotateAll([]*Absorber{a}, 4, "r0", "a0", u)
				assert.Equal(t, tt.wantCalls, u.calls.Load())
				for _, o := range out {
					require.NoError(t, o.err)
					assert.Equal(t, out[0].t, o.t, "duplicates share")
					assert.True(t, o.t.Expires.After(time.Now()) || !tt.noRotate, "never a stale non-rotated pair")
				}
				if tt.wantCalls == 1 {
					assert.Equal(t, first, out[0].t)
				}
			})
		})
	}
}

// failingStore fails every call, as an unreachable Redis does.
type failingStore struct{ calls atomic.Int64 }

var errDown = errors.New("store down")

func (s *failingStore) Acquire(context.Context, string, time.Duration) ([]byte, Lease, error) {
	s.calls.Add(1)
	return nil, nil, errDown
}

func (s *failingStore) Forget(context.Context, string) error { return errDown }

// fullStore is always full.
type fullStore struct{}

func (fullStore) Acquire(context.Context, string, time.Duration) ([]byte, Lease, error) {
	return nil, nil, ErrStoreFull
}

func (fullStore) Forget(context.Context, string) error { return nil }

// A store that fails or is full fails no refresh: duplicates are still
// absorbed in process, a log line and OnFallback say so.
func TestAbsorberFallback(t *testing.T) {
	tests := []struct {
		name   string
		store  Store
		reason string
		log    string
	}{
		{"store down", &failingStore{}, "error", "store unavailable"},
		{"store full", fullStore{}, "full", "the store is full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs syncbuf.Buffer
				var mu sync.Mutex
				var reasons []string
				a := New(Config{Store: tt.store, Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnFallback: func(r string) {
					mu.Lock()
					reasons = append(reasons, r)
					mu.Unlock()
				}})
				u := &upstream{hold: make(chan struct{})}
				out := rotateAll([]*Absorber{a}, 8, "r0", "a0", u)
				assert.EqualValues(t, 1, u.calls.Load(), "absorbed in process")
				for _, o := range out {
					require.NoError(t, o.err)
					assert.Equal(t, "access-1", o.t.AccessToken)
				}
				assert.Equal(t, []string{tt.reason}, reasons, "one store call per flight")
				assert.Contains(t, logs.String(), tt.log)
				assert.NotContains(t, logs.String(), "r0")
				assert.NotContains(t, logs.String(), "access-1")
				a.Wait() // the probe of the store that is down
			})
		})
	}
}

// A failed refresh is not kept: the next duplicate asks again, and the
// caller gets the upstream's error.
func TestAbsorberKeepsNoFailure(t *testing.T) {
	a := New(Config{Logger: quiet()})
	u := &upstream{fail: errors.New("rejected")}
	for range 2 {
		_, _, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		assert.ErrorIs(t, err, u.fail)
	}
	assert.EqualValues(t, 2, u.calls.Load())
}

// A caller whose ctx ends stops waiting; the refresh goes on for the
// others and is kept.
func TestAbsorberCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(Config{})
		u := &upstream{hold: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, _, err := a.Rotate(ctx, Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
			done <- err
		}()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		close(u.hold)
		synctest.Wait()
		u.hold = nil
		t2, shared, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.True(t, shared)
		assert.Equal(t, "access-1", t2.AccessToken)
		assert.EqualValues(t, 1, u.calls.Load())
	})
}

// A refresh that finds the lease of an instance that died holding it
// waits the lock out if it lapses within the store's half of the budget,
// and the upstream call then gets at least a third of the budget. One
// that lapses later is not waited past the budget: the refresh answers
// ErrBudget in time, without calling the upstream (with too little time
// left, a call cut short after the upstream rotated would lose the new
// pair), and the next refresh, once the lock has lapsed, gets its time.
func TestAbsorberDeadHolder(t *testing.T) {
	const budget = 8 * time.Second
	tests := []struct {
		name    string
		deadTTL time.Duration // how long the dead holder's lock has left
		wantErr error
	}{
		{"the lock lapses within the store's share", budget / 2, nil},
		{"the lock outlasts the budget", budget, ErrBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := NewMemory(0, nil)
				_, dead, err := store.Acquire(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}.Key(), tt.deadTTL)
				require.NoError(t, err)
				require.NotNil(t, dead) // never completed nor released
				a := New(Config{Store: store, LockTTL: budget})
				var calls atomic.Int64
				var left time.Duration // until the upstream call's deadline, when it starts
				slow := func(ctx context.Context) (authclient.Tokens, error) {
					calls.Add(1)
					if d, ok := ctx.Deadline(); ok {
						left = time.Until(d)
					}
					select {
					case <-time.After(budget / 4): // a slow upstream, within its share
						return authclient.Tokens{AccessToken: "a1", RefreshToken: "r1"}, nil
					case <-ctx.Done():
						return authclient.Tokens{}, ctx.Err()
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), budget)
				defer cancel()
				start := time.Now()
				tok, _, err := a.Rotate(ctx, Presented{RefreshToken: "r0", AccessToken: "a0"}, slow)
				assert.Less(t, time.Since(start), budget, "answered within the budget")
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					assert.Zero(t, calls.Load(), "no upstream call with too little time left")
					time.Sleep(budget) // the browser's next refresh, after the lock lapsed
					ctx, cancel := context.WithTimeout(context.Background(), budget)
					defer cancel()
					tok, _, err = a.Rotate(ctx, Presented{RefreshToken: "r0", AccessToken: "a0"}, slow)
				}
				require.NoError(t, err)
				assert.Equal(t, "a1", tok.AccessToken)
				assert.EqualValues(t, 1, calls.Load())
				assert.GreaterOrEqual(t, left, budget/3, "the upstream call got its share")
			})
		})
	}
}

// flakyStore is a Memory that fails while down is set: at once (a refused
// connection) or, with hang, only when its caller gives up (a store that
// accepts connections and never answers).
type flakyStore struct {
	*Memory
	down, hang atomic.Bool
	calls      atomic.Int64 // Acquire and Forget calls
}

func (s *flakyStore) fail(ctx context.Context) error {
	if s.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return errDown
}

func (s *flakyStore) Acquire(ctx context.Context, key string, ttl time.Duration) ([]byte, Lease, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return nil, nil, s.fail(ctx)
	}
	return s.Memory.Acquire(ctx, key, ttl)
}

func (s *flakyStore) Forget(ctx context.Context, key string) error {
	s.calls.Add(1)
	if s.down.Load() {
		return s.fail(ctx)
	}
	return s.Memory.Forget(ctx, key)
}

// A store that fails costs the refresh that finds it failing what the
// failure took (nothing when it refuses, the store's share of the budget
// when it hangs), and the next refreshes nothing: they fall back at once,
// without calling it, while a probe in the background asks it again every
// probeEvery. Once a probe finds it back, refreshes use it again. One log
// line per outage.
func TestAbsorberDownStore(t *testing.T) {
	tests := []struct {
		name  string
		hang  bool
		first time.Duration // what the first refresh of the outage waits
	}{
		{"refused", false, 0},
		{"hung", true, DefaultLockTTL / 2}, // the store's share
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &flakyStore{Memory: NewMemory(0, nil)}
				store.down.Store(true)
				store.hang.Store(tt.hang)
				var fell atomic.Int64
				var logs syncbuf.Buffer
				a := New(Config{Store: store, Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnFallback: func(string) { fell.Add(1) }})
				u := &upstream{}
				took := func(i int) time.Duration {
					start := time.Now()
					r := fmt.Sprint("r", i)
					_, _, err := a.Rotate(context.Background(), Presented{RefreshToken: r, AccessToken: "a"}, u.refresh(r))
					require.NoError(t, err)
					return time.Since(start)
				}
				assert.Equal(t, tt.first, took(0), "the refresh that found the store failing")
				calls := store.calls.Load()
				for i := 1; i <= 5; i++ {
					assert.Zero(t, took(i), "refresh %d: the store is known to be down", i)
				}
				assert.Equal(t, calls, store.calls.Load(), "refreshes do not call it")

				const outage = 6 * time.Second
				time.Sleep(outage)
				synctest.Wait()
				probes := store.calls.Load() - calls
				assert.GreaterOrEqual(t, probes, int64(outage/(probeEvery+probeTimeout)), "probed in the background")
				assert.LessOrEqual(t, probes, int64(outage/probeEvery), "once per probeEvery at most")
				assert.Zero(t, took(6), "while it is probed")
				assert.EqualValues(t, 7, fell.Load(), "every refresh fell back")

				store.down.Store(false) // the store is back
				time.Sleep(probeEvery + probeTimeout)
				synctest.Wait()
				assert.Contains(t, logs.String(), "answers again")
				calls = store.calls.Load()
				time.Sleep(10 * probeEvery)
				assert.Equal(t, calls, store.calls.Load(), "no probe once it answers")
				took(7)
				assert.Equal(t, 1, store.Len(), "the next refresh's result is in the store")
				assert.EqualValues(t, 7, fell.Load())
				assert.Equal(t, 1, strings.Count(logs.String(), "store unavailable"), "one line per outage")
				a.Wait()
			})
		})
	}
}

// A store that refuses one key (too many waiters on it) is not down,
// whether it says so at the first ask or while the refresh waits for
// another holder's lease: that refresh coordinates in process, the next
// one uses the store.
func TestAbsorberBusyKeyIsNoOutage(t *testing.T) {
	for _, heldFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "at the first ask", true: "while waiting for a holder"}[heldFirst], func(t *testing.T) {
			store := &busyStore{Memory: NewMemory(0, nil), heldFirst: heldFirst}
			var reasons []string
			a := New(Config{Store: store, Logger: quiet(), OnFallback: func(r string) { reasons = append(reasons, r) }})
			defer a.Wait()
			u := &upstream{}
			for _, r := range []string{"busy-r0", "r1"} {
				_, _, err := a.Rotate(context.Background(), Presented{RefreshToken: r, AccessToken: "a"}, u.refresh(r))
				require.NoError(t, err)
			}
			assert.Equal(t, []string{"busy"}, reasons)
			assert.False(t, a.Down(), "not an outage")
			assert.Equal(t, 1, store.Len(), "the second refresh's result is in the store")
		})
	}
}

// busyStore refuses the key of Presented{"busy-r0", "a"} as busy: at its
// first Acquire, or, with heldFirst, after answering that one "lease
// held" (the refresh then waits for that holder).
type busyStore struct {
	*Memory
	heldFirst bool
	asked     atomic.Int64
}

func (s *busyStore) Acquire(ctx context.Context, key string, ttl time.Duration) ([]byte, Lease, error) {
	if key != (Presented{RefreshToken: "busy-r0", AccessToken: "a"}).Key() {
		return s.Memory.Acquire(ctx, key, ttl)
	}
	if s.heldFirst && s.asked.Add(1) == 1 {
		return nil, nil, LeaseHeld(context.DeadlineExceeded)
	}
	return nil, nil, fmt.Errorf("object: %w", ErrBusy)
}

// A refresh that fell back to the in-process store during an outage is
// still shared after the store comes back: its duplicate gets the pair
// instead of sending the rotated-out token upstream (a reuse), and the
// store gets it too, for the other instances.
func TestAbsorberFallbackResultOutlivesTheOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &flakyStore{Memory: NewMemory(0, nil)}
		store.down.Store(true)
		a := New(Config{Store: store, Logger: quiet()})
		other := New(Config{Store: store, Logger: quiet()}) // another instance on the same store
		u := &upstream{}
		first, _, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		require.EqualValues(t, 1, u.calls.Load())

		store.down.Store(false) // the store is back, within the window
		time.Sleep(probeEvery)
		synctest.Wait() // the probe finds it back
		again, shared, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.True(t, shared)
		assert.Equal(t, first, again, "the pair kept in process")
		elsewhere, shared, err := other.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.True(t, shared)
		assert.Equal(t, first, elsewhere, "handed to the store for the other instances")
		assert.EqualValues(t, 1, u.calls.Load(), "one upstream refresh, no reuse")
	})
}

// An attacker's flood of refreshes of their own sessions cannot push a
// victim's result out within its window: the victim's duplicate still gets
// the shared pair (the flood's own results stop being kept at the cap).
func TestAbsorberFloodDoesNotFlush(t *testing.T) {
	const max = 100
	var fell atomic.Int64
	a := New(Config{Store: NewMemory(max, nil), Logger: quiet(), OnFallback: func(string) { fell.Add(1) }})
	victim := &upstream{}
	first, _, err := a.Rotate(context.Background(), Presented{RefreshToken: "victim-r0", AccessToken: "victim-a0"}, victim.refresh("victim-r0"))
	require.NoError(t, err)
	attacker := &upstream{}
	for i := range 100 * max {
		r := fmt.Sprint("attacker-r", i)
		_, _, err := a.Rotate(context.Background(), Presented{RefreshToken: r, AccessToken: "a"}, attacker.refresh(r))
		require.NoError(t, err)
	}
	assert.EqualValues(t, 100*max-(max-1), fell.Load(), "past the cap, results are not kept")
	dup, shared, err := a.Rotate(context.Background(), Presented{RefreshToken: "victim-r0", AccessToken: "victim-a0"}, victim.refresh("victim-r0"))
	require.NoError(t, err)
	assert.True(t, shared)
	assert.Equal(t, first.RefreshToken, dup.RefreshToken)
	assert.EqualValues(t, 1, victim.calls.Load())
}

// failingCompletes is a Memory whose leases fail to complete n times, as
// during a store restart.
type failingCompletes struct {
	*Memory
	n atomic.Int64
}

func (s *failingCompletes) Acquire(ctx context.Context, key string, ttl time.Duration) ([]byte, Lease, error) {
	v, l, err := s.Memory.Acquire(ctx, key, ttl)
	if l != nil {
		l = failingLease{l, s}
	}
	return v, l, err
}

type failingLease struct {
	Lease
	s *failingCompletes
}

func (l failingLease) Complete(ctx context.Context, v []byte, ttl time.Duration) error {
	if l.s.n.Add(-1) >= 0 {
		return errDown
	}
	return l.Lease.Complete(ctx, v, ttl)
}

// A result that the store fails to take at first is stored once it comes
// back within the patience, after the answer: the duplicates that wait
// for it on another instance get it.
func TestAbsorberCompleteRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failingCompletes{Memory: NewMemory(0, nil)}
		store.n.Store(3)
		a := New(Config{Store: store, Logger: quiet()})
		u := &upstream{}
		start := time.Now()
		first, _, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.Zero(t, time.Since(start), "answered before the store took the result")
		assert.Positive(t, store.n.Load(), "the store has not taken it yet")
		b := New(Config{Store: store, Logger: quiet()}) // another instance
		dup, shared, err := b.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.True(t, shared)
		assert.Equal(t, first.AccessToken, dup.AccessToken)
		assert.EqualValues(t, 1, u.calls.Load())
		a.Wait()
	})
}

// A result that the store does not take is kept in process before the
// answer, which does not wait for the store: a retry of the same refresh
// (its first answer was lost) gets the pair instead of sending the
// rotated-out token upstream, both while the store is still being asked
// again in the background and after that has given up (then counted as a
// fallback, once).
func TestAbsorberKeepsWhatTheStoreRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failingCompletes{Memory: NewMemory(0, nil)}
		store.n.Store(1 << 20)
		var mu sync.Mutex
		var reasons []string
		a := New(Config{Store: store, Window: 2 * DefaultLockTTL, Logger: quiet(), OnFallback: func(r string) {
			mu.Lock()
			reasons = append(reasons, r)
			mu.Unlock()
		}})
		u := &upstream{}
		start := time.Now()
		first, _, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.Zero(t, time.Since(start), "answered without waiting for the store")

		retry, shared, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.True(t, shared)
		assert.Equal(t, first, retry)
		mu.Lock()
		assert.Empty(t, reasons, "the write-back is still trying")
		mu.Unlock()

		time.Sleep(DefaultLockTTL + time.Second)
		synctest.Wait() // the write-back has given up
		mu.Lock()
		assert.Equal(t, []string{"error"}, reasons, "counted once it gave up")
		mu.Unlock()
		again, shared, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.True(t, shared)
		assert.Equal(t, first, again)
		assert.EqualValues(t, 1, u.calls.Load(), "no reuse")
		a.Wait()
	})
}

// fullLease refuses every result as too large (a Durable Object's 413).
type fullLease struct {
	Lease
	calls *atomic.Int64
}

func (l fullLease) Complete(context.Context, []byte, time.Duration) error {
	l.calls.Add(1)
	return ErrStoreFull
}

type refusingStore struct {
	*Memory
	completes atomic.Int64
}

func (s *refusingStore) Acquire(ctx context.Context, key string, ttl time.Duration) ([]byte, Lease, error) {
	v, l, err := s.Memory.Acquire(ctx, key, ttl)
	if l != nil {
		l = fullLease{l, &s.completes}
	}
	return v, l, err
}

// A store that has no room for a result is not asked again (the answer
// is not held up for the patience), and the fallback is counted as "full".
func TestAbsorberCompleteFullIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &refusingStore{Memory: NewMemory(0, nil)}
		var reasons []string
		a := New(Config{Store: store, Logger: quiet(), OnFallback: func(r string) { reasons = append(reasons, r) }})
		u := &upstream{}
		start := time.Now()
		_, _, err := a.Rotate(context.Background(), Presented{RefreshToken: "r0", AccessToken: "a0"}, u.refresh("r0"))
		require.NoError(t, err)
		assert.Zero(t, time.Since(start), "answered at once")
		assert.EqualValues(t, 1, store.completes.Load())
		assert.Equal(t, []string{"full"}, reasons)
	})
}

// Refreshes absorb one another only when they present the same pair and
// the same binding: a copy of the session's cookies without the browser's
// binding goes upstream (which sees the reuse), and so does a duplicate
// after the result was forgotten (a logout).
func TestAbsorberKeyAndForget(t *testing.T) {
	victim := Presented{RefreshToken: "r0", AccessToken: "a0", Binding: "b0"}
	tests := []struct {
		name    string
		forget  bool
		dup     Presented
		shared  bool
		upcalls int64
	}{
		{"the same browser", false, victim, true, 1},
		{"another binding", false, Presented{RefreshToken: "r0", AccessToken: "a0", Binding: "stolen?"}, false, 2},
		{"no binding", false, Presented{RefreshToken: "r0", AccessToken: "a0"}, false, 2},
		{"no access cookie", false, Presented{RefreshToken: "r0", Binding: "b0"}, false, 2},
		{"after a forget", true, victim, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := NewMemory(0, nil)
			a := New(Config{Store: store, Logger: quiet()})
			other := New(Config{Store: store, Logger: quiet()}) // another instance
			u := &upstream{}
			first, _, err := a.Rotate(context.Background(), victim, u.refresh("r0"))
			require.NoError(t, err)
			if tt.forget {
				require.NoError(t, other.Forget(context.Background(), victim.Key()))
			}
			dup, shared, err := other.Rotate(context.Background(), tt.dup, u.refresh("r0"))
			require.NoError(t, err)
			assert.Equal(t, tt.shared, shared)
			assert.Equal(t, tt.shared, first.RefreshToken == dup.RefreshToken)
			assert.Equal(t, tt.upcalls, u.calls.Load())
		})
	}
}

// Forget reaches the results kept in process too (the store was down when
// the refresh completed), and a write-back of a forgotten result stops.
func TestAbsorberForgetKeptInProcess(t *testing.T) {
	store := &flakyStore{Memory: NewMemory(0, nil)}
	store.down.Store(true)
	a := New(Config{Store: store, Logger: quiet()})
	defer a.Wait()
	u := &upstream{}
	p := Presented{RefreshToken: "r0", AccessToken: "a0", Binding: "b0"}
	_, _, err := a.Rotate(context.Background(), p, u.refresh("r0"))
	require.NoError(t, err)
	store.down.Store(false)
	require.NoError(t, a.Forget(context.Background(), p.Key()))
	_, shared, err := a.Rotate(context.Background(), p, u.refresh("r0"))
	require.NoError(t, err)
	assert.False(t, shared, "not kept in process any more")
	assert.EqualValues(t, 2, u.calls.Load())
}

// A refresh that may only be shared (RotateShared, the server's refresh
// ahead) is skipped, without an upstream call, when the store is down,
// fails or is full: in process, a duplicate on another instance would
// reach the upstream too. With a working store it is a Rotate.
func TestAbsorberRotateShared(t *testing.T) {
	down := &flakyStore{Memory: NewMemory(0, nil)}
	down.down.Store(true)
	tests := []struct {
		name  string
		store Store
		want  error
	}{
		{"store works", NewMemory(0, nil), nil},
		{"store down", down, ErrStoreDown},
		{"store full", fullStore{}, ErrStoreDown},
		{"key busy", &busyStore{Memory: NewMemory(0, nil)}, ErrStoreDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fell atomic.Int64
			a := New(Config{Store: tt.store, Logger: quiet(), OnFallback: func(string) { fell.Add(1) }})
			defer a.Wait()
			u := &upstream{}
			for range 2 { // the second one when the store is known to be down
				_, _, err := a.RotateShared(context.Background(), Presented{RefreshToken: "busy-r0", AccessToken: "a"}, u.refresh("busy-r0"))
				if tt.want != nil {
					require.ErrorIs(t, err, tt.want)
					assert.Zero(t, u.calls.Load(), "nothing sent upstream")
				} else {
					require.NoError(t, err)
					assert.EqualValues(t, 1, u.calls.Load(), "one refresh, shared")
				}
			}
			assert.Zero(t, fell.Load(), "a skipped refresh is no fallback")
		})
	}
}
