// Package ctxlite is a cancellation signal in the shape of refresh.Context:
// Done, Err and AfterFunc; cancelled by hand or by a timer. It
// exists for size: any implementation of context.Context, package context's
// own included, links time's formatting code (its Deadline method returns a
// time.Time), about 60 KB of brotli in the browser module; this package
// adds almost nothing.
package ctxlite

import (
	"context"
	"sync"
	"time"
)

// Ctx is a cancellation signal without a parent, deadline or values. It is
// safe for concurrent use; create one with New or WithTimeout.
type Ctx struct {
	done chan struct{}

	mu    sync.Mutex      // protects the fields below
	err   error           // context.Canceled or context.DeadlineExceeded once done
	after map[*int]func() // functions to run when c ends, by registration
}

// New returns a Ctx that ends only when Cancel is called.
func New() *Ctx { return &Ctx{done: make(chan struct{})} }

// WithTimeout returns a Ctx that ends with context.DeadlineExceeded after d,
// and a stop function that releases its timer and cancels it.
func WithTimeout(d time.Duration) (*Ctx, func()) {
	c := New()
	t := time.AfterFunc(d, func() { c.end(context.DeadlineExceeded) })
	return c, func() {
		t.Stop()
		c.Cancel()
	}
}

// Cancel ends c with Err context.Canceled. Only the first end counts.
func (c *Ctx) Cancel() { c.end(context.Canceled) }

// CancelWith ends c with Err err (an AbortSignal's reason, say). Only the
// first end counts.
func (c *Ctx) CancelWith(err error) { c.end(err) }

func (c *Ctx) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.done)
	for _, f := range c.after {
		go f()
	}
	c.after = nil
}

// AfterFunc arranges for f to run in its own goroutine once c ends (at once
// if it has). stop unregisters f; it reports whether it stopped f from
// being run. It is context.AfterFunc as a method.
func (c *Ctx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	key := new(int)
	if c.after == nil {
		c.after = map[*int]func(){}
	}
	c.after[key] = f
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.after[key]
		delete(c.after, key)
		return ok
	}
}

// Done is closed when c ends.
func (c *Ctx) Done() <-chan struct{} { return c.done }

// Err is nil until c ends, then context.Canceled, context.DeadlineExceeded
// or the error given to CancelWith.
func (c *Ctx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
