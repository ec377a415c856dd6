package bff

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
)

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// unreachable is what /readyz says of a dependency that did not answer.
const unreachable = "unreachable"

// Pinger is a Store that can tell whether it is reachable (the Redis
// store); /readyz asks it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// readiness is the body of GET /readyz.
type readiness struct {
	Ready bool `json:"ready"`
	// Upstream is "ok" or "unreachable".
	Upstream string `json:"upstream"`
	// Store is "ok", "in-process" (no shared store), "unchecked" (a store
	// that cannot be pinged) or "unreachable".
	Store string `json:"store"`
}

// errStoreDown is why /readyz fails for a store that answers a ping but
// that the refreshes still skip (their probe has not found it back yet).
var errStoreDown = errors.New("the refreshes have not found the store back yet")

// ready answers GET /readyz: 200 when the upstream answers (any HTTP
// status: it is reachable) and the shared absorption store, if any, too
// (it answers a ping, and the refreshes use it: down reports that they
// skip it); else 503. Both are reported. A store that is down does not
// fail a refresh (it falls back to in-process absorption) but does lose
// cross-instance absorption, which a balancer should know. The answer
// says only "unreachable": why goes to the log, since the errors name
// internal addresses and /readyz is on the public listener.
func ready(cfg Config, down func() bool) http.HandlerFunc {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	upstream := &probe{check: func(ctx context.Context) error { return pingUpstream(ctx, cfg) }}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		out := readiness{Ready: true, Upstream: "ok", Store: "in-process"}
		if err := upstream.result(ctx); err != nil {
			out.Ready, out.Upstream = false, unreachable
			log.Warn("readyz: upstream unreachable", "err", err)
		}
		var err error
		switch s := cfg.Store.(type) {
		case nil:
		case Pinger:
			out.Store = "ok"
			err = s.Ping(ctx)
		default:
			out.Store = "unchecked"
		}
		if err == nil && cfg.Store != nil && down() {
			err = errStoreDown
		}
		if err != nil {
			out.Ready, out.Store = false, unreachable
			log.Warn("readyz: shared store unreachable", "err", err)
		}
		status := http.StatusOK
		if !out.Ready {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Cache-Control", "no-store")
		reply.JSON(w, status, out)
	}
}

// pingUpstream sends GET to the upstream's base URL: any answer means it
// is reachable.
func pingUpstream(ctx context.Context, cfg Config) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Upstream.String(), nil)
	if err != nil {
		return err
	}
	res, err := cfg.Transport.RoundTrip(req)
	if err != nil {
		return err
	}
	return res.Body.Close()
}

// probeTTL is how long an upstream probe's answer stands: /readyz is
// public and unauthenticated, and must not let anyone drive the upstream.
const probeTTL = 2 * time.Second

// probe is the upstream check of /readyz, made at most once per probeTTL
// whatever the rate of /readyz: the callers in between share its answer.
type probe struct {
	check func(context.Context) error

	mu  sync.Mutex // protects at and err; held during a check
	at  time.Time  // when the last check ended (zero: none yet)
	err error      // its answer
}

// result returns the last check's answer, checking again when it is older
// than probeTTL.
func (p *probe) result(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at.IsZero() || time.Since(p.at) >= probeTTL {
		p.err, p.at = p.check(ctx), time.Now()
	}
	return p.err
}
