package absorb

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acquired is the outcome of one Acquire, for waiters run in goroutines.
type acquired struct {
	value []byte
	lease Lease
	err   error
}

func acquireAsync(m Store, ctx context.Context, key string, lockTTL time.Duration) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		v, l, err := m.Acquire(ctx, key, lockTTL)
		ch <- acquired{v, l, err}
	}()
	return ch
}

// The lease holder's result reaches the waiters as soon as it completes,
// and later callers within the TTL; a released lease passes to a waiter;
// a lock whose TTL passes lets a waiter go on; a waiter's ctx ends its wait.
func TestMemoryLeases(t *testing.T) {
	tests := []struct {
		name string
		// end ends the first lease (or not) while a second caller waits.
		end  func(t *testing.T, l Lease)
		want func(t *testing.T, got acquired)
	}{
		{"complete wakes the waiter with the value", func(t *testing.T, l Lease) {
			require.NoError(t, l.Complete(context.Background(), []byte("v"), time.Minute))
		}, func(t *testing.T, got acquired) {
			assert.Equal(t, []byte("v"), got.value)
			assert.Nil(t, got.lease)
		}},
		{"release hands the lease to the waiter", func(t *testing.T, l Lease) {
			require.NoError(t, l.Release(context.Background()))
		}, func(t *testing.T, got acquired) {
			assert.Nil(t, got.value)
			assert.NotNil(t, got.lease)
		}},
		{"a lock whose TTL passes lets the waiter take over", func(*testing.T, Lease) {
			time.Sleep(10 * time.Second) // fake time: the lock's TTL
		}, func(t *testing.T, got acquired) {
			assert.NotNil(t, got.lease)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(0, nil)
				ctx := context.Background()
				_, first, err := m.Acquire(ctx, "k", 10*time.Second)
				require.NoError(t, err)
				require.NotNil(t, first)
				waiter := acquireAsync(m, ctx, "k", 10*time.Second)
				synctest.Wait()
				select {
				case <-waiter:
					t.Fatal("the waiter did not wait for the lease")
				default:
				}
				tt.end(t, first)
				got := <-waiter
				require.NoError(t, got.err)
				tt.want(t, got)
			})
		})
	}
}

func TestMemoryWaiterContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(0, nil)
		_, _, err := m.Acquire(context.Background(), "k", time.Minute)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		waiter := acquireAsync(m, ctx, "k", time.Minute)
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, (<-waiter).err, context.Canceled)
	})
}

// A value lives exactly its TTL.
func TestMemoryValueTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(0, nil)
		ctx := context.Background()
		_, l, _ := m.Acquire(ctx, "k", time.Second)
		require.NoError(t, l.Complete(ctx, []byte("v"), 10*time.Second))
		time.Sleep(10*time.Second - time.Millisecond)
		v, _, err := m.Acquire(ctx, "k", time.Second)
		require.NoError(t, err)
		assert.Equal(t, []byte("v"), v)
		time.Sleep(time.Millisecond)
		v, l, err = m.Acquire(ctx, "k", time.Second)
		require.NoError(t, err)
		assert.Nil(t, v)
		assert.NotNil(t, l, "expired: a new lease")
	})
}

// A flood of other sessions' refreshes never pushes a live entry out: past
// the cap, new keys are refused (ErrStoreFull) until entries expire; then
// they are dropped and memory stays at the cap.
func TestMemoryFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 1000
		m := NewMemory(max, nil)
		ctx := context.Background()
		_, victim, err := m.Acquire(ctx, "victim", time.Second)
		require.NoError(t, err)
		require.NoError(t, victim.Complete(ctx, []byte("victim's pair"), 10*time.Second))

		full := 0
		for i := range 10 * max { // the attacker's sessions
			_, l, err := m.Acquire(ctx, fmt.Sprint("attacker", i), time.Second)
			if err != nil {
				require.ErrorIs(t, err, ErrStoreFull)
				full++
				continue
			}
			require.NoError(t, l.Complete(ctx, []byte("x"), 10*time.Second))
		}
		assert.Equal(t, 9*max+1, full)
		assert.Equal(t, max, m.Len())
		v, _, err := m.Acquire(ctx, "victim", time.Second)
		require.NoError(t, err)
		assert.Equal(t, []byte("victim's pair"), v, "the victim's entry is still there")

		time.Sleep(10 * time.Second) // every entry expires
		_, l, err := m.Acquire(ctx, "next", time.Second)
		require.NoError(t, err)
		require.NotNil(t, l)
		assert.Equal(t, 1, m.Len(), "expired entries were dropped")
	})
}

// Leases given and released over and over (refreshes that fail) keep the
// deadline heap bounded.
func TestMemoryDeadlinesBounded(t *testing.T) {
	m := NewMemory(0, nil)
	ctx := context.Background()
	for i := range 20000 {
		_, l, err := m.Acquire(ctx, fmt.Sprint(i), time.Minute)
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
	}
	assert.Zero(t, m.Len())
	assert.LessOrEqual(t, len(m.deadlines), 1025)
}
