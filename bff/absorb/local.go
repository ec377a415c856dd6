package absorb

import (
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// The Absorber's two in-process mechanisms, beside its Store.

// flights are this process's refreshes under way: concurrent duplicates
// in process share one flight (singleflight), and Wait waits for the
// flights, the write-backs they left running after their answers and the
// store's probe.
type flights struct {
	group singleflight.Group
	// work counts the flights, the write-backs under way (after their
	// answer or their caller's leaving) and the probe; mu guards closing
	// (set by wait: no flight starts after it) and work's Add.
	work    sync.WaitGroup
	mu      sync.Mutex
	closing bool
	stop    chan struct{} // closed by wait: the probe ends
}

// start counts a new flight, unless wait was called.
func (f *flights) start() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.work.Add(1)
	return true
}

// done ends a flight that start counted.
func (f *flights) done() { f.work.Done() }

// wait lets no flight start, and waits for those under way.
func (f *flights) wait() {
	f.mu.Lock()
	if !f.closing {
		f.closing = true
		close(f.stop)
	}
	f.mu.Unlock()
	f.work.Wait()
}

// local is what the process knows by itself: the Memory that refreshes
// coordinate in when the Store fails (or that is the Store, when the
// Absorber has none: only), and in that same Memory the results whose
// write-back the Store did not take. They share one map on purpose: a
// refresh that fell back finds the result that another kept, and the
// write-back to the Store, once it is back, finds both.
type local struct {
	*Memory
	only bool // the Memory is the Absorber's Store: nothing is kept apart from it
}

// kept returns the result kept in process for key (nil when none, or when
// the Memory is the Store itself) and how long it is still valid.
func (l local) kept(key string) ([]byte, time.Duration) {
	if l.only {
		return nil, 0
	}
	return l.peek(key)
}

// keep keeps value for key for ttl, for a later write-back; nothing when
// the Memory is the Store itself (it has the result already).
func (l local) keep(key string, value []byte, ttl time.Duration) {
	if !l.only {
		l.Memory.keep(key, value, ttl)
	}
}
