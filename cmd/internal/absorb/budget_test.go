package absorb

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault is what a BrokenStore does at one step.
type Fault int

// Faults of a BrokenStore step.
const (
	Works Fault = iota
	Fails       // returns an error at once, as an unreachable Redis
	Hangs       // answers nothing until its ctx ends (a hung object)
)

func (f Fault) String() string { return [...]string{"works", "fails", "hangs"}[f] }

// do is the fault's effect on a call with ctx: nil when it works.
func (f Fault) do(ctx context.Context) error {
	switch f {
	case Fails:
		return errDown
	case Hangs:
		<-ctx.Done() // a call without a deadline hangs for good: the bubble deadlocks
		return ctx.Err()
	}
	return nil
}

// brokenStore is a Memory whose Acquire or Complete fails or hangs.
type brokenStore struct {
	*Memory
	acquire, complete Fault
}

func (s *brokenStore) Acquire(ctx context.Context, key string, ttl time.Duration) ([]byte, Lease, error) {
	if err := s.acquire.do(ctx); err != nil {
		return nil, nil, err
	}
	v, l, err := s.Memory.Acquire(ctx, key, ttl)
	if l != nil {
		l = brokenLease{l, s}
	}
	return v, l, err
}

type brokenLease struct {
	Lease
	s *brokenStore
}

func (l brokenLease) Complete(ctx context.Context, v []byte, ttl time.Duration) error {
	if err := l.s.complete.do(ctx); err != nil {
		return err
	}
	return l.Lease.Complete(ctx, v, ttl)
}

// A store that fails or hangs, at any step, never takes a refresh past
// its budget (the caller's deadline, the auth timeout): the upstream is
// still called, with at least a third of the budget left, and its result
// is the answer. A duplicate on another instance of the same store, sent
// while the refresh is upstream, gets the same pair or a clean retry
// (ErrBudget), never a second upstream call, and answers within its own
// budget too.
func TestAbsorberBudget(t *testing.T) {
	const budget = 8 * time.Second // the server's default auth timeout
	tests := []struct {
		acquire, complete Fault
	}{
		{Works, Works},
		{Fails, Works},
		{Hangs, Works},
		{Works, Fails},
		{Works, Hangs},
		{Fails, Fails},
		{Hangs, Hangs},
	}
	for _, tt := range tests {
		t.Run("acquire "+tt.acquire.String()+", complete "+tt.complete.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &brokenStore{Memory: NewMemory(0, nil), acquire: tt.acquire, complete: tt.complete}
				a := New(Config{Store: store, LockTTL: budget, Logger: quiet()})
				b := New(Config{Store: store, LockTTL: budget, Logger: quiet()}) // another instance
				var calls atomic.Int64
				var left time.Duration // until the upstream call's deadline, when it starts
				upstreamAt := make(chan struct{})
				fn := func(ctx context.Context) (session.Tokens, error) {
					if calls.Add(1) == 1 {
						if d, ok := ctx.Deadline(); ok {
							left = time.Until(d)
						}
						close(upstreamAt)
					}
					time.Sleep(budget / 4) // a slow upstream, within its share
					return session.Tokens{AccessToken: "a1", RefreshToken: "r1", Expires: time.Now().Add(time.Minute)}, nil
				}
				rotate := func(a *Absorber) (session.Tokens, time.Duration, error) {
					ctx, cancel := context.WithTimeout(context.Background(), budget)
					defer cancel()
					start := time.Now()
					tok, _, err := a.Rotate(ctx, "r0", "a0", fn)
					return tok, time.Since(start), err
				}

				var wg sync.WaitGroup
				var dup session.Tokens
				var dupTook time.Duration
				var dupErr error
				wg.Go(func() {
					<-upstreamAt // the duplicate comes while the refresh is upstream
					dup, dupTook, dupErr = rotate(b)
				})
				tok, took, err := rotate(a)
				wg.Wait()

				require.NoError(t, err)
				assert.Equal(t, "a1", tok.AccessToken, "the upstream's result is the answer")
				assert.Less(t, took, budget, "answered within the budget")
				assert.GreaterOrEqual(t, left, budget/3, "the upstream call got its share")
				if tt.acquire == Works && tt.complete == Works {
					assert.Zero(t, took-budget/4, "a working store costs no time")
				}
				assert.Less(t, dupTook, budget, "the duplicate answered within its budget")
				if tt.acquire == Works {
					if dupErr != nil {
						assert.ErrorIs(t, dupErr, ErrBudget, "a clean retry")
					} else {
						assert.Equal(t, tok, dup, "the duplicate shares the pair")
					}
					assert.EqualValues(t, 1, calls.Load(), "one upstream refresh while the store answers")
				} else {
					// The documented limit of an outage: each instance
					// absorbs its own duplicates, and refreshes on its own.
					assert.NoError(t, dupErr)
					assert.EqualValues(t, 2, calls.Load())
				}
				a.settle()
				b.settle()
			})
		})
	}
}
