package absorb

import (
	"context"
	"errors"
	"time"
)

// ErrBudget is the error of a refresh that could not start upstream
// within the store's share of its budget without risking a reuse:
// another refresh of the same tokens held the lease past it and left no
// result in time. Nothing was sent upstream; the caller may try again
// (the refresh endpoint answers 503).
var ErrBudget = errors.New("absorb: another refresh of this session has not finished; try again")

// Shares of a refresh's budget (see budget).
const (
	// storeShare: the store waits (a failing or slow store, another
	// holder's lease) may take at most 1/storeShare of the budget.
	storeShare = 2
	// writeShare: 1/writeShare of the budget is kept at the end for
	// the write-back, and as much again for the answer.
	writeShare = 20
)

// budget is how one refresh (a flight of Rotate) spends its time: the
// time until its caller's deadline, never more than LockTTL (the auth
// timeout). The store waits end at store, half the budget, and the
// upstream call starts by then (give or take the write-back time: late),
// so it gets at least a third of the budget; it must end by upstream,
// a tenth before the deadline. The write-back gets write before the
// answer, which is then sent at least write before deadline. A refresh
// that could not start upstream in time starts none (ErrBudget): cut
// short after the upstream rotated, it would lose the new pair.
type budget struct {
	start    time.Time     // the refresh began: any lease it takes lasts past start+LockTTL
	store    time.Time     // the store waits end
	upstream time.Time     // the upstream call ends
	write    time.Duration // bounds the write-back before answering
	deadline time.Time     // the caller's deadline
	// onlyShared: the refresh runs only through the store (RotateShared):
	// no in-process fallback.
	onlyShared bool
}

// newBudget returns the budget of a refresh whose caller waits until
// ctx's deadline, never more than lockTTL from now.
func newBudget(ctx context.Context, lockTTL time.Duration) budget {
	now := time.Now()
	b := lockTTL
	if d, ok := ctx.Deadline(); ok && d.Sub(now) < b {
		b = max(d.Sub(now), 0)
	}
	w := b / writeShare
	return budget{
		start:    now,
		store:    now.Add(b / storeShare),
		upstream: now.Add(b - 2*w),
		write:    w,
		deadline: now.Add(b),
	}
}

// minUpstream is the least time an upstream call is started with: a
// budget too short for it (a caller whose deadline has nearly passed)
// answers ErrBudget instead.
const minUpstream = 100 * time.Millisecond

// late reports whether an upstream call starting at now would get less
// than its share: it may start up to a write-back time after the store
// waits end (a store that did not answer is given up on at store), so it
// gets at least 0.35 of the budget, and never less than minUpstream.
func (b budget) late(now time.Time) bool {
	return !now.Before(b.store.Add(b.write)) || b.upstream.Sub(now) < minUpstream
}

// storeOver reports whether the store's share has ended by now: a store
// call then would fail for want of time, not because the store does.
func (b budget) storeOver(now time.Time) bool { return !now.Before(b.store) }

// answerBy is when a flight must hand its result over: a write-back
// before the caller's deadline.
func (b budget) answerBy() time.Time { return b.deadline.Add(-b.write) }

// ErrClosed is the error of a refresh that comes after Absorber.Wait (the
// server shuts down): nothing was sent to the store or upstream; the
// caller may try again (on another instance).
var ErrClosed = errors.New("absorb: the server is shutting down; try again")
