// Package lease holds the rules between the browser module's loader and
// the refresh policy: which lease the loader sends a call under, when that
// lease lapses, what an attempt reported under it means, and which
// attempts the loader withdraws. It has no syscall/js: the wasm main only
// carries values between JavaScript and a Table, and this package is
// tested natively with -race.
//
// The rules:
//   - A lease is the policy's state for the attempts sent in it: the
//     latest Kept leases are kept, by id (the first is 1). Begin grants the
//     latest lease again while the policy is in the state it was made in,
//     else a new one; while the policy is steady it also tells the loader
//     it holds that lease (Config.Grant), under which the loader sends
//     calls without asking.
//   - A lease older than the kept ones has lapsed: an attempt reported
//     under it is sent again without a refresh (its token is older than any
//     refresh since).
//   - Lease 0 is that of the calls the loader sent before the module ran:
//     its first report adopts the policy's state then, with the session
//     cookie that call was sent with; later reports share it.
//   - The first refresh status reported under a lease tells the loader,
//     once per lease, to withdraw that lease's pending attempts sent after
//     the refused one (Config.Withdraw): they carry the same token. Those
//     sent before it are spared, since one of them may have made it.
//   - Calls without an AbortSignal that find the same refresh ahead due
//     share one wait (Begin's wait, once); a call with a signal waits alone,
//     so that its abort rejects it only.
package lease

import (
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
)

// Kept is how many of the latest leases a Table keeps.
const Kept = 64

// Config configures a Table. Every field is required.
type Config struct {
	// Policy is the refresh policy the leases are states of.
	Policy *refresh.Policy
	// Grant tells the loader that it holds lease id until untilMs (Unix
	// ms; 0: no limit).
	Grant func(id int, untilMs int64)
	// Withdraw tells the loader to withdraw lease id's pending attempts
	// numbered after after.
	Withdraw func(id, after int)
}

// Table is the loader's leases and the shared wait for a refresh ahead.
// It is safe for concurrent use.
type Table struct {
	cfg Config

	mu      sync.Mutex  // protects the fields below
	leases  [Kept]entry // the latest leases, by id modulo Kept
	last    int         // the last lease id given out
	adopted bool        // lease 0's call was started (by its first report)
	ahead   *Wait       // the refresh ahead that calls without a signal share, or nil
}

// entry is one lease: a call started in its state, which the attempts
// reported under it copy.
type entry struct {
	id        int
	c         refresh.Call
	withdrawn bool      // the loader was told to withdraw its pending attempts
	_         [0]func() // not comparable: no equality code in the module
}

// Wait is a wait for a refresh ahead, shared by the calls without a
// signal that found it due in the same state.
type Wait struct {
	c       refresh.Call // as Begin started the first of them
	promise any          // what Begin answers each of them
	done    bool         // Ahead has returned: too late to share
}

// New returns a Table for cfg.
func New(cfg Config) *Table { return &Table{cfg: cfg} }

// Begin starts a call that the loader is about to send, given the session
// cookie as it reads now. It returns the id (an int, > 0) of the lease to
// send it under when no refresh ahead is due. Else it returns the value
// that wait made for the call's wait: the same value for every call
// without a signal (shared true) that finds the same refresh ahead due.
// wait must arrange for Ahead to run with the wait it is given, and
// return at once (a Promise of Ahead's id, say).
func (t *Table) Begin(now refresh.Shared, shared bool, wait func(*Wait) any) any {
	var c refresh.Call
	if !t.cfg.Policy.Begin(&c, now) {
		return t.Of(&c)
	}
	if shared {
		t.mu.Lock()
		w := t.ahead
		t.mu.Unlock()
		if w != nil && w.c.Same(&c) {
			return w.promise
		}
	}
	w := &Wait{c: c}
	w.promise = wait(w)
	if shared {
		t.mu.Lock()
		if !w.done {
			t.ahead = w
		}
		t.mu.Unlock()
	}
	return w.promise
}

// Ahead waits for w's refresh ahead (only ctx's end stops it early) and
// returns the lease to send w's calls under.
func (t *Table) Ahead(ctx refresh.Context, w *Wait) (int, error) {
	c := w.c // w.c is read by Begin as calls join: never written once w is shared
	err := t.cfg.Policy.Ahead(ctx, &c)
	t.mu.Lock()
	w.done = true
	if t.ahead == w {
		t.ahead = nil
	}
	t.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return t.Of(&c), nil
}

// Of returns the id of the lease for attempts sent as c was started: the
// latest one if it was started in the same state, else a new one. While
// the policy is steady, it grants the loader that lease.
func (t *Table) Of(c *refresh.Call) int {
	t.mu.Lock()
	e := &t.leases[t.last%Kept]
	if t.last == 0 || !e.c.Same(c) { // lease 0 is the loader's before the module ran
		t.last++
		e = &t.leases[t.last%Kept]
		*e = entry{id: t.last, c: *c}
	}
	id := e.id
	t.mu.Unlock()
	if until, ok := t.cfg.Policy.Steady(c); ok {
		var ms int64
		if !until.IsZero() {
			ms = until.UnixMilli()
		}
		t.cfg.Grant(id, ms)
	}
	return id
}

// Withdrawn is the status the loader reports for an attempt it withdrew.
const Withdrawn = 0

// Report takes the answer of attempt n, sent under lease id, that the
// loader could not settle: a refresh status, or Withdrawn. sent is the
// session cookie that attempt was sent with (read by lease 0's first
// report). It returns the call to go on with, and whether the call must
// wait (refresh.Policy.Await) and then be sent again; false: the answer
// is the call's.
func (t *Table) Report(id, n, status int, sent refresh.Shared) (c refresh.Call, again bool) {
	refused := status != Withdrawn
	c, tell := t.call(id, refused, sent)
	if tell {
		t.cfg.Withdraw(id, n)
	}
	c.Resume()
	if refused && !t.cfg.Policy.Answer(&c, status) {
		return c, false
	}
	return c, true
}

// call returns a copy of lease id's call (a zero Call when the lease has
// lapsed: older than any refresh since), adopting lease 0's state at its
// first report, and whether this report is the lease's first refusal.
func (t *Table) call(id int, refused bool, sent refresh.Shared) (c refresh.Call, firstRefusal bool) {
	t.mu.Lock()
	e := &t.leases[id%Kept]
	if e.id != id {
		t.mu.Unlock()
		return refresh.Call{}, false
	}
	if id == 0 && !t.adopted {
		t.adopted = true
		t.mu.Unlock()
		var first refresh.Call
		// Not under t.mu: Adopt may tell the page (Config.Started), whose
		// listeners may make calls.
		t.cfg.Policy.Adopt(&first, sent) // the loader counted the call
		t.mu.Lock()
		e.c = first
	}
	firstRefusal = refused && !e.withdrawn
	e.withdrawn = e.withdrawn || refused
	c = e.c
	t.mu.Unlock()
	return c, firstRefusal
}

// Expiry returns the shared state of a session cookie that says the
// access token expires at expiresMs (Unix ms; its version) and lives
// lifetimeMs; zero when expiresMs is not positive.
func Expiry(expiresMs, lifetimeMs float64) refresh.Shared {
	if expiresMs <= 0 {
		return refresh.Shared{}
	}
	return refresh.Shared{
		Version:  int64(expiresMs),
		Expiry:   time.UnixMilli(int64(expiresMs)),
		Lifetime: time.Duration(max(lifetimeMs, 0)) * time.Millisecond,
	}
}
