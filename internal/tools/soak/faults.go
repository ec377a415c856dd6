package main

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
)

// Faults of the upstream's refresh endpoint.
const (
	faultNone      = ""
	fault5xx       = "upstream 5xx"
	faultHang      = "upstream hangs past the auth timeout"
	faultDrop      = "rotate, then drop the connection"
	faultKill      = "instance killed and restarted"
	faultRedis     = "Redis restarted"
	faultRefuse    = "Redis refuses connections"
	faultStall     = "Redis hangs (accepts, never answers)"
	faultPartition = "one instance cut off from Redis"
	// unexplained is the cause of a session lost to no fault.
	unexplained = "no fault (unexplained)"
)

// faulty wraps the upstream: while a fault is on, a share of the
// refreshes fail its way. It remembers the refresh tokens whose refresh
// it spoiled, so that a lost session can be traced to its cause.
type faulty struct {
	next http.Handler
	hang time.Duration // longer than the instances' auth timeout
	rate float64

	mu      sync.Mutex // protects fault and touched
	fault   string
	touched map[string]string // presented refresh token -> fault
}

func (f *faulty) set(fault string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
}

// cause returns the fault that spoiled a refresh of one of tokens, or "".
func (f *faulty) cause(tokens []string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(tokens) - 1; i >= 0; i-- {
		if c, ok := f.touched[tokens[i]]; ok {
			return c
		}
	}
	return ""
}

// touchedBy reports whether fault spoiled a refresh of one of tokens.
func (f *faulty) touchedBy(tokens []string, fault string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range tokens {
		if f.touched[t] == fault {
			return true
		}
	}
	return false
}

func (f *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fault := f.fault
	f.mu.Unlock()
	if r.URL.Path != "/auth/refresh" || (fault != fault5xx && fault != faultHang && fault != faultDrop) || rand.Float64() >= f.rate {
		f.next.ServeHTTP(w, r)
		return
	}
	// The body names the presented token; read it for the record, then
	// hand it on.
	body, token := peekToken(r)
	f.mu.Lock()
	f.touched[token] = fault
	f.mu.Unlock()
	switch fault {
	case fault5xx:
		reply.Error(w, http.StatusServiceUnavailable, "unavailable", "injected fault")
	case faultHang:
		select {
		case <-time.After(f.hang):
		case <-r.Context().Done():
		}
		reply.Error(w, http.StatusServiceUnavailable, "unavailable", "injected hang")
	case faultDrop:
		r.Body = body
		f.next.ServeHTTP(httptest.NewRecorder(), r) // rotated upstream...
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close() // ...and the answer is lost in flight
		}
	}
}
