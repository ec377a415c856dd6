package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/storetest"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// open returns a Store on mr, subscribed, closed with the test.
func open(t *testing.T, mr *miniredis.Miniredis) *Store {
	t.Helper()
	s, err := Open("redis://" + mr.Addr() + "/0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	select {
	case <-s.Subscribed():
	case <-time.After(storetest.Patience):
		t.Fatal("no subscription")
	}
	return s
}

func (s *Store) waiterCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.waiters {
		n += len(w)
	}
	return n
}

// Two instances on one Redis keep the Store contract.
func TestContract(t *testing.T) {
	mr := miniredis.RunT(t)
	a, b := open(t, mr), open(t, mr)
	storetest.Run(t, a, b, storetest.Hooks{Waiting: b.Waiting, Advance: mr.FastForward})
}

// The result lives exactly its TTL in Redis; the lock its lockTTL.
func TestTTLs(t *testing.T) {
	mr := miniredis.RunT(t)
	s := open(t, mr)
	ctx := context.Background()
	_, l, err := s.Acquire(ctx, "k", 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, mr.TTL(DefaultPrefix+"{k}:l"))
	require.NoError(t, l.Complete(ctx, []byte("v"), 7*time.Second))
	assert.False(t, mr.Exists(DefaultPrefix+"{k}:l"), "the lock is gone")
	assert.Equal(t, 7*time.Second, mr.TTL(DefaultPrefix+"{k}:v"))
	mr.FastForward(7 * time.Second)
	v, l, err := s.Acquire(ctx, "k", time.Second)
	require.NoError(t, err)
	assert.Nil(t, v)
	assert.NotNil(t, l, "expired: a new lease")
}

// Redis down: Acquire fails with an error of its own, quickly; the
// Absorber then refreshes in process, and the refresh works.
func TestRedisDown(t *testing.T) {
	mr := miniredis.RunT(t)
	s := open(t, mr)
	mr.Close()
	_, _, err := s.Acquire(context.Background(), "k", time.Second)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)

	var fell atomic.Int64
	a := absorb.New(absorb.Config{Store: s, OnFallback: func(string) { fell.Add(1) }})
	tok, _, err := a.Rotate(context.Background(), absorb.Presented{RefreshToken: "r0", AccessToken: "a0"}, func(context.Context) (authclient.Tokens, error) {
		return authclient.Tokens{AccessToken: "a1", RefreshToken: "r1", Expires: time.Now().Add(time.Minute)}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "a1", tok.AccessToken)
	assert.EqualValues(t, 1, fell.Load())
	assert.Error(t, s.Ping(context.Background()), "readiness sees it")
}

// Three instances on one Redis, 30 concurrent duplicates spread over them:
// one upstream refresh, one pair for all; Redis holds no token.
func TestAbsorberAcrossInstances(t *testing.T) {
	mr := miniredis.RunT(t)
	var as []*absorb.Absorber
	var stores []*Store
	for range 3 {
		stores = append(stores, open(t, mr))
		as = append(as, absorb.New(absorb.Config{Store: stores[len(stores)-1]}))
	}
	var calls atomic.Int64
	release := make(chan struct{})
	refresh := func(ctx context.Context) (authclient.Tokens, error) {
		n := calls.Add(1)
		<-release
		return authclient.Tokens{AccessToken: fmt.Sprint("secret-access-", n), RefreshToken: fmt.Sprint("secret-refresh-", n), Expires: time.UnixMilli(time.Now().Add(time.Minute).UnixMilli())}, nil
	}
	const n = 30
	out := make([]authclient.Tokens, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out[i], _, errs[i] = as[i%3].Rotate(context.Background(), absorb.Presented{RefreshToken: "secret-r0", AccessToken: "secret-a0"}, refresh)
		})
	}
	// One instance refreshes; each of the other two waits on Redis (one
	// waiter per instance: their duplicates wait in process).
	require.Eventually(t, func() bool {
		return calls.Load() == 1 && stores[0].waiterCount()+stores[1].waiterCount()+stores[2].waiterCount() == 2
	}, storetest.Patience, time.Millisecond)
	close(release)
	wg.Wait()
	assert.EqualValues(t, 1, calls.Load())
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, out[0], out[i])
	}
	for _, k := range mr.Keys() {
		assert.NotContains(t, k, "secret")
		v, _ := mr.Get(k)
		assert.False(t, strings.Contains(v, "secret"), "a token in the clear in Redis")
	}
}

// Close may be called twice (a deferred Close after an explicit one).
func TestCloseTwice(t *testing.T) {
	s := open(t, miniredis.RunT(t))
	first := s.Close()
	assert.NotPanics(t, func() { assert.Equal(t, first, s.Close()) })
}

// A completion that comes after its lease lapsed and another holder's
// refresh completed does not overwrite the newer result: the waiters and
// later duplicates get the newer pair.
func TestLateCompleteKeepsTheNewerResult(t *testing.T) {
	mr := miniredis.RunT(t)
	a, b := open(t, mr), open(t, mr)
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		newer     bool // the second holder completed
		wantValue string
	}{
		{"after a newer result", true, "newer"},
		{"while a newer lease is held", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("late-%s-%d", strings.ReplaceAll(tt.name, " ", "-"), time.Now().UnixNano())
			_, old, err := a.Acquire(ctx, key, 50*time.Millisecond)
			require.NoError(t, err)
			require.NotNil(t, old)
			mr.FastForward(50 * time.Millisecond) // the first lease lapses
			_, newer, err := b.Acquire(ctx, key, time.Hour)
			require.NoError(t, err)
			require.NotNil(t, newer)
			if tt.newer {
				require.NoError(t, newer.Complete(ctx, []byte("newer"), time.Minute))
			}
			require.NoError(t, old.Complete(ctx, []byte("older"), time.Minute), "a late completion is harmless")
			got, err := mr.Get("fwr:absorb:{" + key + "}:v")
			if tt.wantValue == "" {
				assert.ErrorIs(t, err, miniredis.ErrKeyNotFound, "the newer holder's refresh is not pre-empted")
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.wantValue, got)
			}
		})
	}
}
