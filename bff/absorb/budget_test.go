package absorb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/storetest"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A store that fails or hangs, at any step, never takes a refresh past
// its budget (the caller's deadline, the auth timeout): the upstream is
// still called, with at least a third of the budget left, and its result
// is the answer. A duplicate on another instance of the same store, sent
// while the refresh is upstream, answers within its own budget too: while
// the store answers Acquire, with the same pair or a clean retry
// (ErrBudget), never a second upstream call.
func TestAbsorberBudget(t *testing.T) {
	const budget = 8 * time.Second // the server's default auth timeout
	tests := []struct {
		acquire, complete storetest.Fault
	}{
		{storetest.Works, storetest.Works},
		{storetest.Fails, storetest.Works},
		{storetest.Hangs, storetest.Works},
		{storetest.Works, storetest.Fails},
		{storetest.Works, storetest.Hangs},
		{storetest.Fails, storetest.Fails},
		{storetest.Hangs, storetest.Hangs},
	}
	for _, tt := range tests {
		t.Run("acquire "+tt.acquire.String()+", complete "+tt.complete.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &storetest.Broken{Store: absorb.NewMemory(0, nil), OnAcquire: tt.acquire, OnComplete: tt.complete}
				quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
				a := absorb.New(absorb.Config{Store: store, LockTTL: budget, Logger: quiet})
				b := absorb.New(absorb.Config{Store: store, LockTTL: budget, Logger: quiet}) // another instance
				var calls atomic.Int64
				var left time.Duration // until the upstream call's deadline, when it starts
				upstreamAt := make(chan struct{})
				fn := func(ctx context.Context) (authclient.Tokens, error) {
					if calls.Add(1) == 1 {
						if d, ok := ctx.Deadline(); ok {
							left = time.Until(d)
						}
						close(upstreamAt)
					}
					time.Sleep(budget / 4) // a slow upstream, within its share
					return authclient.Tokens{AccessToken: "a1", RefreshToken: "r1", Expires: time.Now().Add(time.Minute)}, nil
				}
				rotate := func(a *absorb.Absorber) (authclient.Tokens, time.Duration, error) {
					ctx, cancel := context.WithTimeout(context.Background(), budget)
					defer cancel()
					start := time.Now()
					tok, _, err := a.Rotate(ctx, absorb.Presented{RefreshToken: "r0", AccessToken: "a0"}, fn)
					return tok, time.Since(start), err
				}

				var wg sync.WaitGroup
				var dup authclient.Tokens
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
				if tt.acquire == storetest.Works && tt.complete == storetest.Works {
					assert.Zero(t, took-budget/4, "a working store costs no time")
				}
				assert.Less(t, dupTook, budget, "the duplicate answered within its budget")
				switch {
				case tt.acquire == storetest.Works && tt.complete == storetest.Works:
					require.NoError(t, dupErr, "a working store: the duplicate waits for the pair")
					assert.Equal(t, tok, dup, "the duplicate shares the pair")
					assert.EqualValues(t, 1, calls.Load(), "one upstream refresh")
				case tt.acquire == storetest.Works:
					if dupErr != nil {
						assert.ErrorIs(t, dupErr, absorb.ErrBudget, "a clean retry")
					} else {
						assert.Equal(t, tok, dup, "the duplicate shares the pair")
					}
					assert.EqualValues(t, 1, calls.Load(), "one upstream refresh while the store answers")
				default:
					// The documented limit of an outage: each instance
					// absorbs its own duplicates, and refreshes on its own.
					assert.NoError(t, dupErr)
					assert.EqualValues(t, 2, calls.Load())
				}
				a.Wait()
				b.Wait()
			})
		})
	}
}

// Wait covers a refresh whose caller left: it returns once its upstream
// call and its write-back have ended, so that a server that then closes
// the store closes it under no one. A refresh that comes after Wait
// touches neither the store nor the upstream: a clean retry (ErrClosed).
func TestAbsorberWaitCoversAbandonedRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const budget = 8 * time.Second
		store := &storetest.Broken{Store: absorb.NewMemory(0, nil), OnComplete: storetest.Fails}
		a := absorb.New(absorb.Config{Store: store, LockTTL: budget, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		upstream, answer := make(chan struct{}), make(chan struct{})
		var calls atomic.Int64
		fn := func(context.Context) (authclient.Tokens, error) {
			calls.Add(1)
			close(upstream)
			<-answer
			return authclient.Tokens{AccessToken: "a1", RefreshToken: "r1"}, nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		rotated := make(chan error, 1)
		go func() {
			_, _, err := a.Rotate(ctx, absorb.Presented{RefreshToken: "r0", AccessToken: "a0"}, fn)
			rotated <- err
		}()
		<-upstream
		cancel() // the caller leaves while the refresh is upstream
		require.ErrorIs(t, <-rotated, context.Canceled)

		waited := make(chan struct{})
		go func() {
			a.Wait()
			close(waited)
		}()
		synctest.Wait()
		select {
		case <-waited:
			require.Fail(t, "Wait returned while the refresh was upstream")
		default:
		}
		close(answer)
		<-waited
		tried := store.Completes()
		assert.Greater(t, tried, int64(1), "the write-back ran before Wait returned")
		time.Sleep(budget)
		assert.Equal(t, tried, store.Completes(), "no write-back after Wait")

		_, _, err := a.Rotate(context.Background(), absorb.Presented{RefreshToken: "r5", AccessToken: "a5"}, fn)
		assert.ErrorIs(t, err, absorb.ErrClosed)
		assert.EqualValues(t, 1, calls.Load())
	})
}

// A budget that is over (the caller's deadline has passed) or too short
// for an upstream call is no store outage: the refresh answers ErrBudget
// without calling the upstream, and neither logs the store as unavailable
// nor counts a fallback.
func TestAbsorberBudgetOverIsNoOutage(t *testing.T) {
	tests := []struct {
		name    string
		left    time.Duration // until the caller's deadline
		acquire storetest.Fault
	}{
		{"deadline passed, store works", -time.Second, storetest.Works},
		{"deadline passed, store hangs", -time.Second, storetest.Hangs},
		{"deadline now, store works", 0, storetest.Works},
		{"too short for the upstream, store works", 50 * time.Millisecond, storetest.Works},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &storetest.Broken{Store: absorb.NewMemory(0, nil), OnAcquire: tt.acquire}
				var logged strings.Builder
				var fell atomic.Int64
				a := absorb.New(absorb.Config{Store: store, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
					OnFallback: func(string) { fell.Add(1) }})
				var calls atomic.Int64
				fn := func(context.Context) (authclient.Tokens, error) {
					calls.Add(1)
					return authclient.Tokens{AccessToken: "a1", RefreshToken: "r1"}, nil
				}
				ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(tt.left))
				defer cancel()
				_, _, err := a.Rotate(ctx, absorb.Presented{RefreshToken: "r0", AccessToken: "a0"}, fn)
				time.Sleep(time.Minute) // the flight, if the caller left before it ended
				synctest.Wait()
				assert.True(t, errors.Is(err, absorb.ErrBudget) || errors.Is(err, context.DeadlineExceeded), "got %v", err)
				assert.Zero(t, calls.Load(), "no upstream call without time for it")
				assert.Zero(t, fell.Load(), "no fallback counted")
				assert.NotContains(t, logged.String(), "unavailable")
			})
		})
	}
}

// heldThenDown is a store whose first Acquire finds the lease held
// elsewhere, and which then fails (a dropped connection, a busy object).
type heldThenDown struct {
	absorb.Store
	acquires atomic.Int64
}

func (s *heldThenDown) Acquire(ctx context.Context, key string, ttl time.Duration) ([]byte, absorb.Lease, error) {
	if s.acquires.Add(1) == 1 {
		return nil, nil, absorb.LeaseHeld(context.DeadlineExceeded)
	}
	return nil, nil, storetest.ErrDown
}

// A store that fails while a refresh waits for another instance's lease
// is a store outage, not a spent budget: the refresh falls back in
// process (counted, as any fallback) rather than answer ErrBudget.
func TestAbsorberStoreFailsWhileAwaitingHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const budget = 8 * time.Second
		var fell atomic.Int64
		a := absorb.New(absorb.Config{Store: &heldThenDown{Store: absorb.NewMemory(0, nil)}, LockTTL: budget,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnFallback: func(string) { fell.Add(1) }})
		var calls atomic.Int64
		fn := func(context.Context) (authclient.Tokens, error) {
			calls.Add(1)
			return authclient.Tokens{AccessToken: "a1", RefreshToken: "r1"}, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		tok, _, err := a.Rotate(ctx, absorb.Presented{RefreshToken: "r0", AccessToken: "a0"}, fn)
		require.NoError(t, err, "no request fails when the store does")
		assert.Equal(t, "a1", tok.AccessToken)
		assert.EqualValues(t, 1, calls.Load())
		assert.EqualValues(t, 1, fell.Load())
		a.Wait()
	})
}

// The write-back after the answer ends with the lease (LockTTL after the
// refresh began, at the latest): past it, the key may be another
// holder's.
func TestAbsorberWriteBackEndsWithTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lockTTL = 8 * time.Second
		store := &storetest.Broken{Store: absorb.NewMemory(0, nil), OnComplete: storetest.Fails}
		a := absorb.New(absorb.Config{Store: store, LockTTL: lockTTL,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		start := time.Now()
		fn := func(context.Context) (authclient.Tokens, error) {
			time.Sleep(lockTTL / 4) // a slow upstream
			return authclient.Tokens{AccessToken: "a1", RefreshToken: "r1"}, nil
		}
		_, _, err := a.Rotate(context.Background(), absorb.Presented{RefreshToken: "r0", AccessToken: "a0"}, fn)
		require.NoError(t, err)
		time.Sleep(time.Until(start.Add(lockTTL)))
		synctest.Wait()
		tried := store.Completes()
		assert.Greater(t, tried, int64(1), "the write-back ran")
		time.Sleep(lockTTL)
		assert.Equal(t, tried, store.Completes(), "no write-back once the lease may have lapsed")
		a.Wait()
	})
}
