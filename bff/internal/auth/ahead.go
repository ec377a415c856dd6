package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
)

// DefaultTimeout bounds a login or refresh call to the upstream when
// Config.Timeout is zero: 8 s, below the browser module's refresh timeout
// (refresh.DefaultTimeout, 10 s), so that a hanging auth server reaches the
// browser as a clean 504, a RefreshUnavailableError, before the module
// gives up on its own.
const DefaultTimeout = 8 * time.Second

// DefaultAheadWindow is how close to its expiry an access token is
// refreshed before a proxied call when app.Config.RefreshAhead is zero, at
// most (see AheadWindow).
const DefaultAheadWindow = 2 * time.Second

// AheadWindow is the server's refresh-ahead window for a token of the
// given lifetime (zero: unknown): window, but never more than an eighth of
// the lifetime. The browser module's window is at most a quarter of it
// (refresh.Window), so where the module runs it refreshes first, with the
// cross-tab lock, and the server catches only the calls made without it;
// and a token that was just issued is never refreshed ahead by either.
func AheadWindow(window, lifetime time.Duration) time.Duration {
	if lifetime <= 0 {
		return window
	}
	return min(window, lifetime/8)
}

// AheadWait is how long a proxied call waits for its refresh ahead, at
// most, when the refresh's budget is timeout: a quarter of it, and never
// more than 2 s.
func AheadWait(timeout time.Duration) time.Duration { return min(timeout/4, 2*time.Second) }

// Ahead returns next behind a refresh-ahead step: when the request's
// accessExpires cookie says the access token has expired or expires within
// AheadWindow(window, its lifetime), it refreshes first (through the absorber, like the refresh
// endpoint), sets the new cookies on the response, and hands next the
// request with the new access token, so the browser sees no 401 for that
// call. A refresh that fails leaves the request as it was: the call then
// meets the upstream's 401 and the browser's own handling. The call waits
// for the refresh AheadWait(auth timeout) at most: a refresh that takes
// longer goes on within its own budget (the absorber keeps its result for
// the duplicates, the browser's refresh among them), and the call is sent
// with the token it came with rather than held for a whole auth timeout.
// Without absorption the refresh's result would have no one to go to, so
// the call waits for it. With a shared store that is down the refresh is
// skipped (absorb.Absorber.RotateShared): in process, it and a duplicate
// of it on another instance would both reach the upstream, a reuse.
func (h *Handler) Ahead(window time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := cookies.From(r)
		if s == nil || s.RefreshToken == "" || s.Expires.IsZero() || time.Until(s.Expires) > AheadWindow(window, s.Lifetime) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.timeout) // the refresh's whole budget
		defer cancel()
		presented, wait := s.Presented(), ctx
		if h.absorbs(presented) {
			var stop context.CancelFunc
			wait, stop = context.WithCancel(ctx) // keeps ctx's deadline: the budget
			defer stop()
			defer time.AfterFunc(AheadWait(h.timeout), stop).Stop()
		}
		t, _, err := h.rotate(wait, presented, true)
		if err != nil {
			outcome := "unavailable"
			if errors.Is(err, absorb.ErrStoreDown) {
				outcome = "skipped" // the call goes with its token; the browser refreshes, once per browser
			}
			h.obs.Auth("ahead", outcome)
			next.ServeHTTP(w, r)
			return
		}
		renewed := h.cookies.Renew(*s, t)
		if err := h.cookies.Set(w, r, renewed); err != nil {
			h.obs.Auth("ahead", "too_large")
			h.cookies.Clear(w) // the pair it holds is spent
			next.ServeHTTP(w, cookies.With(r, &renewed))
			return
		}
		h.obs.Auth("ahead", "ok")
		next.ServeHTTP(w, cookies.With(r, &renewed))
	})
}
