// Package storetest checks that an absorb.Store keeps the Store contract:
// the same table runs against every implementation, so that the Absorber's
// guarantees hold over each of them.
//
// A Store of your own runs it from a test, with two Stores that share
// their data (two clients of one server, as two instances would be; one
// in-process store twice):
//
//	func TestContract(t *testing.T) {
//		a, b := mystore.New(addr), mystore.New(addr)
//		storetest.Run(t, a, b, storetest.Hooks{})
//	}
//
// Hooks.Waiting lets the cases make sure that a waiter waits before they
// end the lease, and Hooks.Advance moves the clock of a server whose TTLs
// do not follow the wall clock (redisstore's tests pass miniredis's
// FastForward). Broken wraps a Store to fail or hang its steps, for tests
// of what is built on it.
package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Patience bounds how long a waiter may wait for a completion it must be
// woken by; lock TTLs in the cases that wake by completion are far longer,
// so a waiter that is not woken fails the test instead of passing late.
const Patience = 20 * time.Second

var keys atomic.Int64

// key returns a key no other case uses.
func key() string { return fmt.Sprintf("storetest-%d-%d", time.Now().UnixNano(), keys.Add(1)) }

// Hooks lets Run look into and drive a store. Both are optional.
type Hooks struct {
	// Waiting reports whether b has a caller waiting on key: the cases then
	// make sure the waiter waits before they end the lease, so that it is
	// woken, not merely late.
	Waiting func(key string) bool
	// Advance moves the store's clock by d, for a store whose TTLs do not
	// follow the wall clock (miniredis). If nil, TTLs pass in real time.
	Advance func(d time.Duration)
}

// Acquired is the outcome of one Store.Acquire, sent by AcquireAsync.
type Acquired struct {
	Value []byte
	Lease absorb.Lease
	Err   error
}

// AcquireAsync calls s.Acquire on a goroutine of its own and sends its
// outcome on the returned channel, so that a test can wait for it while
// it drives the lease.
func AcquireAsync(s absorb.Store, ctx context.Context, key string, ttl time.Duration) <-chan Acquired {
	ch := make(chan Acquired, 1)
	go func() {
		v, l, err := s.Acquire(ctx, key, ttl)
		ch <- Acquired{v, l, err}
	}()
	return ch
}

// Run checks the contract on two Stores that share their data (two
// instances on one Redis; one Memory twice): a lease and its waiter on
// the other, completion and release waking it, values kept for their TTL,
// a lock that lapses.
func Run(t *testing.T, a, b absorb.Store, h Hooks) {
	blocked := func(t *testing.T, k string) {
		if h.Waiting != nil {
			require.Eventually(t, func() bool { return h.Waiting(k) }, Patience, time.Millisecond)
		}
	}
	ctx := context.Background()
	t.Run("complete wakes a waiter on the other store", func(t *testing.T) {
		k := key()
		v, l, err := a.Acquire(ctx, k, time.Hour)
		require.NoError(t, err)
		require.Nil(t, v)
		require.NotNil(t, l)
		wctx, cancel := context.WithTimeout(ctx, Patience)
		defer cancel()
		waiter := AcquireAsync(b, wctx, k, time.Hour)
		blocked(t, k)
		require.NoError(t, l.Complete(ctx, []byte("sealed"), time.Minute))
		got := <-waiter
		require.NoError(t, got.Err, "woken by the completion, not by the lock's TTL")
		assert.Equal(t, []byte("sealed"), got.Value)
		assert.Nil(t, got.Lease)

		v, l, err = a.Acquire(ctx, k, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, []byte("sealed"), v, "kept for later callers")
		assert.Nil(t, l)
	})
	t.Run("forget drops the value on every store, not a lease", func(t *testing.T) {
		k := key()
		_, l, err := a.Acquire(ctx, k, time.Hour)
		require.NoError(t, err)
		require.NotNil(t, l)
		require.NoError(t, l.Complete(ctx, []byte("sealed"), time.Minute))
		require.NoError(t, b.Forget(ctx, k))
		v, l, err := a.Acquire(ctx, k, time.Hour)
		require.NoError(t, err)
		assert.Nil(t, v, "forgotten")
		require.NotNil(t, l, "the key is free again")

		require.NoError(t, b.Forget(ctx, k), "a held lease survives a forget")
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		got := <-AcquireAsync(b, wctx, k, time.Hour)
		assert.Nil(t, got.Lease, "still held")
		assert.Nil(t, got.Value)
		require.NoError(t, l.Release(ctx))
		require.NoError(t, a.Forget(ctx, key()), "forgetting a key without a value is no error")
	})
	t.Run("release hands the lease to a waiter", func(t *testing.T) {
		k := key()
		_, l, err := a.Acquire(ctx, k, time.Hour)
		require.NoError(t, err)
		require.NotNil(t, l)
		wctx, cancel := context.WithTimeout(ctx, Patience)
		defer cancel()
		waiter := AcquireAsync(b, wctx, k, time.Hour)
		blocked(t, k)
		require.NoError(t, l.Release(ctx))
		got := <-waiter
		require.NoError(t, got.Err)
		assert.Nil(t, got.Value)
		require.NotNil(t, got.Lease)
		require.NoError(t, got.Lease.Release(ctx))
	})
	t.Run("a lapsed lock lets a waiter take over", func(t *testing.T) {
		k := key()
		_, l, err := a.Acquire(ctx, k, 50*time.Millisecond)
		require.NoError(t, err)
		require.NotNil(t, l)
		waiter := AcquireAsync(b, ctx, k, time.Hour) // the holder never ends its lease
		if h.Advance != nil {
			blocked(t, k)
			h.Advance(50 * time.Millisecond)
		}
		got := <-waiter
		require.NoError(t, got.Err)
		require.NotNil(t, got.Lease)
		require.NoError(t, l.Complete(ctx, []byte("late"), time.Minute), "a late completion is harmless")
	})
	t.Run("a waiter's context ends its wait", func(t *testing.T) {
		k := key()
		_, l, err := a.Acquire(ctx, k, time.Hour)
		require.NoError(t, err)
		defer l.Release(ctx)
		wctx, cancel := context.WithCancel(ctx)
		waiter := AcquireAsync(b, wctx, k, time.Hour)
		blocked(t, k)
		cancel()
		assert.ErrorIs(t, (<-waiter).Err, context.Canceled)
	})
	t.Run("a waiter whose deadline passes learns that the lease is held", func(t *testing.T) {
		k := key()
		_, l, err := a.Acquire(ctx, k, time.Hour)
		require.NoError(t, err)
		defer l.Release(ctx)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		got := <-AcquireAsync(b, wctx, k, time.Hour)
		assert.ErrorIs(t, got.Err, context.DeadlineExceeded)
		assert.ErrorIs(t, got.Err, absorb.ErrLeaseHeld, "the store works: the refresh is elsewhere")
	})
}
