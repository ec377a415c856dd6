// Package testclock is a settable clock for tests that inject time.
package testclock

import (
	"sync"
	"time"
)

// Clock is a time source that moves only when told. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex // protects now
	now time.Time
}

// New returns a Clock set to start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time; pass it where a func() time.Time goes.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
