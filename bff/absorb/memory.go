package absorb

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// DefaultMaxEntries is Memory's cap when MaxEntries is zero. An entry
// costs about half a kilobyte (a 64-byte key, a sealed pair of about 300
// bytes, bookkeeping), so the cap bounds a Memory to about 50 MB.
const DefaultMaxEntries = 100_000

// Memory is a Store in process: it coordinates the refreshes of one
// process. Create one with NewMemory.
//
// Entries are never evicted before their TTL ends: no other session's
// traffic can push a session's result out inside its window. Memory stays
// bounded instead by refusing new entries: when MaxEntries are live,
// Acquire of a new key drops the entries whose TTL has ended and, if none
// has, returns ErrStoreFull. The work per call is logarithmic in the
// number of entries (a heap of deadlines), so a flood costs no scans.
type Memory struct {
	max int
	now func() time.Time

	mu        sync.Mutex // protects entries, deadlines and every entry's fields
	entries   map[string]*entry
	deadlines deadlineHeap // when each entry's value or lock ends; stale items skipped
}

// entry is one key: either a lease is held on it (locked), or it holds a
// value until expires.
type entry struct {
	gen     uint64 // counts the leases given on this entry
	locked  bool
	expires time.Time     // of the lock while locked, of the value otherwise
	value   []byte        // nil while locked
	done    chan struct{} // closed when the current lease ends
}

// NewMemory returns a Memory that keeps at most maxEntries entries (if
// zero or less, DefaultMaxEntries), timed by now (if nil, time.Now).
func NewMemory(maxEntries int, now func() time.Time) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{max: maxEntries, now: now, entries: map[string]*entry{}}
}

// Acquire implements Store. A waiter is woken when the lease it waits on
// ends, and wakes by itself when the lease's lockTTL passes.
func (m *Memory) Acquire(ctx context.Context, key string, lockTTL time.Duration) ([]byte, Lease, error) {
	for {
		m.mu.Lock()
		now := m.now()
		m.dropExpired(now)
		e := m.entries[key]
		switch {
		case e != nil && !e.locked:
			v := e.value
			m.mu.Unlock()
			return v, nil, nil
		case e != nil:
			done, wait := e.done, e.expires.Sub(now)
			m.mu.Unlock()
			if err := waitFor(ctx, done, wait); err != nil {
				return nil, nil, LeaseHeld(err)
			}
			m.mu.Lock()
			if cur := m.entries[key]; cur == e && e.locked && !m.now().Before(e.expires) {
				m.remove(key, e) // the holder is gone: its lock ended
			}
			m.mu.Unlock()
			continue
		case len(m.entries) >= m.max:
			m.mu.Unlock()
			return nil, nil, ErrStoreFull
		}
		e = &entry{gen: 1, locked: true, expires: now.Add(lockTTL), done: make(chan struct{})}
		m.entries[key] = e
		heap.Push(&m.deadlines, deadline{key: key, e: e, gen: e.gen, at: e.expires})
		m.mu.Unlock()
		return nil, &memoryLease{m: m, key: key, e: e, gen: e.gen}, nil
	}
}

// Forget implements Store.
func (m *Memory) Forget(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[key]; e != nil && !e.locked {
		m.remove(key, e)
	}
	return nil
}

// peek returns key's value and what is left of its TTL (at least a
// millisecond), or nil when it has none: absent, locked or expired.
func (m *Memory) peek(key string) ([]byte, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key]
	if e == nil || e.locked {
		return nil, 0
	}
	left := e.expires.Sub(m.now())
	if left < time.Millisecond {
		return nil, 0
	}
	return e.value, left
}

// keep stores value for key for ttl without a lease, unless a lease holds
// key or the Memory is full.
func (m *Memory) keep(key string, value []byte, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.dropExpired(now)
	e := m.entries[key]
	switch {
	case e != nil && e.locked:
		return
	case e == nil && len(m.entries) >= m.max:
		return
	case e == nil:
		e = &entry{}
		m.entries[key] = e
	}
	e.gen++
	e.value, e.expires = value, now.Add(ttl)
	heap.Push(&m.deadlines, deadline{key: key, e: e, gen: e.gen, at: e.expires})
}

// Len returns the number of entries, live or not yet dropped.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// waitFor waits until done is closed, d passes or ctx ends (ctx's error).
func waitFor(ctx context.Context, done <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// dropExpired removes the entries whose value or lock has ended. Called
// with m.mu held. The heap keeps the deadlines of entries since released
// or completed until their time; when it holds more than twice as many
// deadlines as there are entries, it is rebuilt from the entries, so that
// it stays bounded too, at constant amortized cost.
func (m *Memory) dropExpired(now time.Time) {
	if len(m.deadlines) > 2*len(m.entries)+1024 {
		m.deadlines = m.deadlines[:0]
		for key, e := range m.entries {
			m.deadlines = append(m.deadlines, deadline{key: key, e: e, gen: e.gen, at: e.expires})
		}
		heap.Init(&m.deadlines)
	}
	for len(m.deadlines) > 0 && !now.Before(m.deadlines[0].at) {
		d := heap.Pop(&m.deadlines).(deadline)
		if cur := m.entries[d.key]; cur == d.e && d.e.gen == d.gen && !now.Before(d.e.expires) {
			m.remove(d.key, d.e)
		}
	}
}

// remove deletes e and wakes its waiters. Called with m.mu held.
func (m *Memory) remove(key string, e *entry) {
	delete(m.entries, key)
	if e.locked {
		e.locked = false
		close(e.done)
	}
}

// memoryLease is a lease on a Memory entry.
type memoryLease struct {
	m   *Memory
	key string
	e   *entry
	gen uint64
}

// Complete implements Lease. If the lease's lock has ended and the entry
// gone, value is stored anew (when there is room).
func (l *memoryLease) Complete(_ context.Context, value []byte, ttl time.Duration) error {
	m := l.m
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e := m.entries[l.key]
	switch {
	case e == l.e && e.gen == l.gen && e.locked:
	case e == nil && len(m.entries) < m.max:
		e = &entry{gen: 1}
		m.entries[l.key] = e
	default:
		return nil // another lease holds the key, or it already has a value
	}
	e.value = value
	e.expires = now.Add(ttl)
	if e.locked {
		e.locked = false
		close(e.done)
	}
	e.gen++
	heap.Push(&m.deadlines, deadline{key: l.key, e: e, gen: e.gen, at: e.expires})
	return nil
}

// Release implements Lease.
func (l *memoryLease) Release(context.Context) error {
	m := l.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[l.key]; e == l.e && e.gen == l.gen && e.locked {
		m.remove(l.key, e)
	}
	return nil
}

// deadline is when an entry's lock or value ends, for the generation of
// the entry it was pushed for.
type deadline struct {
	key string
	e   *entry
	gen uint64
	at  time.Time
}

// deadlineHeap is a min-heap of deadlines (container/heap).
type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}
