package bff

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"golang.org/x/sync/singleflight"
)

// DefaultAbsorbWindow is how long a refresh's result is handed to
// duplicates of it when Config.AbsorbWindow is zero.
const DefaultAbsorbWindow = 10 * time.Second

// maxAbsorbed bounds the results kept for duplicates.
const maxAbsorbed = 10000

// absorber makes refreshes that present the same refresh token share one
// upstream refresh: concurrent ones through singleflight, later ones within
// the window from a short-lived cache. Two tabs that could not coordinate,
// or a server-rendered page racing the browser, then get the same new pair
// instead of reaching the upstream as a reuse, which rotation punishes by
// revoking the session. Tokens are keyed by their SHA-256, and a result is
// dropped when its window ends: nothing secret is kept longer.
type absorber struct {
	window time.Duration
	now    func() time.Time
	group  singleflight.Group

	mu     sync.Mutex // protects recent and order
	recent map[string]absorbed
	order  []string // keys of recent, oldest first: all windows are equally long
}

// absorbed is a refresh's result, kept for its window.
type absorbed struct {
	tokens session.Tokens
	at     time.Time
}

func newAbsorber(window time.Duration, now func() time.Time) *absorber {
	return &absorber{window: window, now: now, recent: map[string]absorbed{}}
}

// rotate returns the result of refreshing token: a recent one, a shared
// one, or fn's. shared reports that the result was not fn's own. fn runs on
// a context that the caller's cancellation does not end, since other
// callers may be waiting for it.
func (a *absorber) rotate(ctx context.Context, token string, fn func(context.Context) (session.Tokens, error)) (t session.Tokens, shared bool, err error) {
	sum := sha256.Sum256([]byte(token))
	key := string(sum[:])
	type result struct {
		tokens session.Tokens
		cached bool
	}
	v, err, shared := a.group.Do(key, func() (any, error) {
		// Looked up inside the flight, not before it: a flight that ends
		// between a lookup and Do would otherwise let a duplicate through.
		if t, ok := a.lookup(key); ok {
			return result{t, true}, nil
		}
		t, err := fn(context.WithoutCancel(ctx))
		if err == nil {
			a.store(key, t)
		}
		return result{t, false}, err
	})
	r := v.(result)
	return r.tokens, shared || r.cached, err
}

func (a *absorber) lookup(key string) (session.Tokens, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.recent[key]
	if !ok || a.now().Sub(e.at) >= a.window {
		delete(a.recent, key)
		return session.Tokens{}, false
	}
	return e.tokens, true
}

// store keeps t for its window. It drops the results whose window has
// ended, oldest first, and when maxAbsorbed live ones are kept, the oldest
// of them: constant work per call, bounded memory.
func (a *absorber) store(key string, t session.Tokens) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for len(a.order) > 0 {
		e, ok := a.recent[a.order[0]]
		if ok && now.Sub(e.at) < a.window && len(a.recent) < maxAbsorbed {
			break
		}
		delete(a.recent, a.order[0])
		a.order = a.order[1:]
	}
	a.recent[key] = absorbed{tokens: t, at: now}
	a.order = append(a.order, key)
}

// size returns how many results are kept, for tests.
func (a *absorber) size() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.recent)
}
