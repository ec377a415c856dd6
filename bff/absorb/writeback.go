package absorb

import (
	"context"
	"errors"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// The write-back: how a refresh's result reaches the store (within the
// budget's write-back time before the answer, in the background after
// it), and how a result kept in process reaches it later.

// handOver offers the store value, a result kept in process, within the
// write-back time: if the store has neither a result nor a lease for key
// (it was down when value was kept), its lease is completed with value,
// so that duplicates on other instances get it rather than a lease that
// sends the rotated-out token upstream.
func (a *Absorber) handOver(run context.Context, b budget, key string, value []byte, ttl time.Duration) {
	if a.down.Load() { // the next duplicate offers it once the store is back
		return
	}
	ctx, cancel := context.WithTimeout(run, b.write)
	defer cancel()
	if _, lease, err := a.store.Acquire(ctx, key, a.lockTTL); err == nil && lease != nil {
		if err := lease.Complete(ctx, value, ttl); err != nil {
			a.fellOn(err)
		}
	}
}

// fromFallback returns the result that a refresh of key kept in process
// while the store was down, if it is still within its window, and
// completes the store's lease with it (within the write-back time), so
// that duplicates on other instances get it too. Without it, the first
// duplicate after the store came back would get a lease and send the
// rotated-out refresh token upstream: a reuse, which revokes the cookies.
// nil when there is none.
func (a *Absorber) fromFallback(run context.Context, b budget, key string, lease Lease) []byte {
	value, ttl := a.local.kept(key)
	if value == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(run, b.write)
	defer cancel()
	if err := lease.Complete(ctx, value, ttl); err != nil {
		a.fellOn(err)
	}
	return value
}

// refresh runs fn under lease and stores its result, sealed, for the
// window; a failure releases the lease. The store gets the budget's
// write-back time to take the result; if it does not (a restart), the
// result is kept in process and given to the store again in the
// background (writeBack), and the caller gets it at once.
func (a *Absorber) refresh(run context.Context, b budget, key, refresh string, lease Lease, fn func(context.Context) (authclient.Tokens, error)) (authclient.Tokens, bool, error) {
	issued := time.Now()
	t, err := a.call(run, b, fn)
	if err != nil {
		a.release(run, b, lease)
		return t, false, err
	}
	value, err := seal(refresh, key, t, issued)
	if err != nil {
		return t, false, nil // not kept: duplicates refresh again
	}
	ctx, cancel := context.WithTimeout(run, b.write)
	err = lease.Complete(ctx, value, a.window)
	cancel()
	if err == nil {
		return t, false, nil
	}
	// Keep it in process first: a retry of this refresh (its answer was
	// lost) then gets the pair instead of sending the rotated-out token
	// upstream, and fromFallback hands it to the store once it is back.
	a.local.keep(key, value, a.window)
	if errors.Is(err, ErrStoreFull) { // no room: trying again is no use
		a.fellOn(err)
		return t, false, nil
	}
	a.flights.work.Go(func() { a.writeBack(run, b, key, lease, value, err) }) // within the flight's count: never after Wait
	return t, false, nil
}

// writeBack tries again, after the answer, to complete lease with value
// (err: why the first try failed):
// the store failing now (a restart) would leave the waiters on other
// instances to take the lease after its TTL and refresh with the
// rotated-out token. It tries every completeRetry until the lease may
// have lapsed (LockTTL after the refresh began: the key may then be
// another holder's), or the result kept in process is gone (Forget).
func (a *Absorber) writeBack(run context.Context, b budget, key string, lease Lease, value []byte, err error) {
	ctx, cancel := context.WithDeadline(run, b.start.Add(a.lockTTL))
	defer cancel()
	for {
		select {
		case <-time.After(completeRetry):
		case <-ctx.Done():
			a.fellOn(err)
			return
		}
		if v, _ := a.local.kept(key); v == nil { // forgotten (a logout), or past its window
			return
		}
		err = lease.Complete(ctx, value, a.window)
		if err == nil {
			return
		}
		if errors.Is(err, ErrStoreFull) {
			a.fellOn(err)
			return
		}
	}
}

// Wait waits for the refreshes under way, those whose caller left
// included, for the write-backs after their answers (each gives up
// within LockTTL) and for a probe of the store; refreshes that come
// later return ErrClosed. A server that shuts down calls it before it
// closes the Store, so that the duplicates waiting on other instances
// still get the results and nothing runs against the closed Store.
func (a *Absorber) Wait() {
	a.flights.wait()
}

// fellOn reports a result the store did not take because of err.
func (a *Absorber) fellOn(err error) {
	if errors.Is(err, ErrStoreFull) {
		a.fellFull(err)
		return
	}
	a.onFall("error")
}

// Forget drops the result stored for key (Presented.Key of a refresh), in
// the store and in process: a host calls it when the session that the
// result opened ends (a logout), so that a copy of the cookies from before
// that refresh no longer gets the pair from the store. A lease held on key
// is left alone. The store gets probeTimeout to answer.
func (a *Absorber) Forget(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if !a.local.only {
		a.local.Forget(ctx, key)
	}
	return a.store.Forget(ctx, key)
}
