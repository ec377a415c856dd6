// Package absorb makes the refreshes that present the same session share
// one upstream refresh, within one process or across many: duplicates (two
// tabs that could not coordinate, a server-rendered page racing the
// browser, two instances behind a balancer) get the same new pair instead
// of reaching the upstream as a reuse, which rotation punishes by revoking
// the session.
//
// The coordination runs on a Store: in process (Memory), Redis (package
// absorb/redisstore) or a Durable Object on Workers (cmd/worker). The
// Absorber over it owns the rules that are the same for all of them: how a
// key is derived, the encryption of the stored pair, when a stored pair is
// too old to hand out, and the fallback when the store fails.
package absorb

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store is where refreshes of one key coordinate. Keys are opaque,
// fixed-length strings derived from the presented tokens; values are
// sealed (encrypted and authenticated) by the Absorber, so a Store never
// holds a usable token.
type Store interface {
	// Acquire returns either the value stored for key by a refresh that
	// completed within its TTL (value != nil, lease == nil), or a Lease:
	// the caller is now the one that refreshes (value == nil). While a
	// lease on key is held, other Acquire calls for key wait until it is
	// completed or released, its lockTTL passes, or their ctx ends (then
	// ctx's error). Waiters are woken when the result is there, not by
	// polling. When ctx ends while the store knows that another caller
	// holds the lease, the error wraps ErrLeaseHeld too (LeaseHeld): the
	// store works, the refresh is elsewhere. ErrBusy and ErrStoreFull
	// are about this key or this result; any other error means the store
	// failed or did not answer: the Absorber coordinates in process until
	// a probe (a Forget) finds it answering again.
	Acquire(ctx context.Context, key string, lockTTL time.Duration) (value []byte, lease Lease, err error)
	// Forget drops the value stored for key, if any, before its TTL ends
	// (the session it opened has ended); a lease held on key is left
	// alone. Forgetting a key without a value is no error.
	Forget(ctx context.Context, key string) error
}

// Lease is the right to refresh one key, given by Store.Acquire.
type Lease interface {
	// Complete stores value as key's result for ttl, releases the lease and
	// hands value to the waiters.
	Complete(ctx context.Context, value []byte, ttl time.Duration) error
	// Release gives the lease up without a result (the refresh failed): one
	// waiter, if any, acquires it next.
	Release(ctx context.Context) error
}

// ErrLeaseHeld is wrapped, with ctx's error, by the error of a
// Store.Acquire whose ctx ended while another caller held the lease.
var ErrLeaseHeld = errors.New("absorb: another refresh holds the lease")

// LeaseHeld returns the error of an Acquire whose ctx ended, with cause
// (ctx's error), while another caller held the lease: errors.Is finds
// both ErrLeaseHeld and cause in it.
func LeaseHeld(cause error) error { return fmt.Errorf("%w: %w", ErrLeaseHeld, cause) }

// ErrStoreFull is returned by a Store that keeps no more entries; the
// Absorber then refreshes without storing the result. Entries are never
// evicted before their TTL ends: no other session's traffic can push a
// session's result out inside its window.
var ErrStoreFull = errors.New("absorb: store full")

// ErrBusy is wrapped by the error of a Store that refuses one key's
// Acquire because too many callers already wait on it: the store works,
// and that refresh coordinates in process.
var ErrBusy = errors.New("absorb: too many refreshes wait for this key")
