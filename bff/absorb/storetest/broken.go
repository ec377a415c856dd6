package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
)

// Fault is what a Broken store does at one step.
type Fault int

// Faults of a Broken store's step.
const (
	Works Fault = iota // the step is the wrapped store's
	Fails              // an error at once, as from an unreachable Redis
	Hangs              // no answer until the call's ctx ends, as from a hung object
	Held               // Acquire: waits as on another instance's lease that never ends (absorb.LeaseHeld)
)

// ErrDown is the error of a step that Fails.
var ErrDown = errors.New("storetest: store down")

// String implements fmt.Stringer: "works", "fails", "hangs" or "held elsewhere".
func (f Fault) String() string {
	switch f {
	case Fails:
		return "fails"
	case Hangs:
		return "hangs"
	case Held:
		return "held elsewhere"
	}
	return "works"
}

// do is f's effect on a call with ctx: nil when it works. A call that
// Hangs without a deadline hangs for good (in a synctest bubble, the
// test then fails as deadlocked).
func (f Fault) do(ctx context.Context) error {
	switch f {
	case Fails:
		return ErrDown
	case Hangs:
		<-ctx.Done()
		return ctx.Err()
	case Held:
		<-ctx.Done()
		return absorb.LeaseHeld(ctx.Err())
	}
	return nil
}

// Broken is a Store whose Acquire (and Forget) or whose leases' Complete
// fails or hangs, over Store (an absorb.Memory, say) for the steps that work.
type Broken struct {
	absorb.Store
	OnAcquire, OnComplete Fault // what Acquire and Complete do

	completes atomic.Int64
}

// Completes returns how many times its leases' Complete was called.
func (s *Broken) Completes() int64 { return s.completes.Load() }

// Acquire implements absorb.Store.
func (s *Broken) Acquire(ctx context.Context, key string, ttl time.Duration) ([]byte, absorb.Lease, error) {
	if err := s.OnAcquire.do(ctx); err != nil {
		return nil, nil, err
	}
	v, l, err := s.Store.Acquire(ctx, key, ttl)
	if l != nil {
		l = brokenLease{l, s.OnComplete, &s.completes}
	}
	return v, l, err
}

// Forget implements absorb.Store: it fails or hangs as Acquire does (an
// unreachable store answers no call).
func (s *Broken) Forget(ctx context.Context, key string) error {
	if err := s.OnAcquire.do(ctx); err != nil {
		return err
	}
	return s.Store.Forget(ctx, key)
}

type brokenLease struct {
	absorb.Lease
	complete Fault
	calls    *atomic.Int64
}

func (l brokenLease) Complete(ctx context.Context, v []byte, ttl time.Duration) error {
	l.calls.Add(1)
	if err := l.complete.do(ctx); err != nil {
		return err
	}
	return l.Lease.Complete(ctx, v, ttl)
}
