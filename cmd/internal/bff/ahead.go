package bff

import (
	"net/http"
	"strconv"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
)

// DefaultAheadWindow is how close to its expiry an access token is
// refreshed before a proxied call when app.Config.RefreshAhead is zero.
// It is shorter than the browser module's refreshAheadMs, so that the
// module refreshes first where it runs, and the server catches the calls
// made without it.
const DefaultAheadWindow = 2 * time.Second

// Ahead returns next behind a refresh-ahead step: when the request's
// accessExpires cookie says the access token has expired or expires within
// window, it refreshes first (through the absorber, like the refresh
// endpoint), sets the new cookies on the response, and hands next the
// request with the new access token, so the browser sees no 401 for that
// call. A refresh that fails leaves the request as it was: the call then
// meets the upstream's 401 and the browser's own handling.
func (h *Handler) Ahead(window time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := session.Read(r, session.RefreshCookie)
		ms, err := strconv.ParseInt(session.Read(r, session.ExpiresCookie), 10, 64)
		if token == "" || err != nil || time.Until(time.UnixMilli(ms)) > window {
			next.ServeHTTP(w, r)
			return
		}
		t, _, err := h.rotate(r.Context(), token, session.Read(r, session.AccessCookie))
		if err != nil {
			h.obs.Auth("ahead", "unavailable")
			next.ServeHTTP(w, r)
			return
		}
		h.obs.Auth("ahead", "ok")
		h.cookies.Set(w, t)
		next.ServeHTTP(w, withAccessToken(r, t.AccessToken))
	})
}

// withAccessToken returns a copy of r whose accessToken cookie is token.
func withAccessToken(r *http.Request, token string) *http.Request {
	out := r.Clone(r.Context())
	out.Header.Del("Cookie")
	for _, c := range r.Cookies() {
		if c.Name == session.AccessCookie {
			c.Value = token
		}
		out.AddCookie(c)
	}
	return out
}
