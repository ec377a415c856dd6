// Package csrf guards the /api routes against cross-site requests: a call
// must carry a custom header, which a cross-site form or a simple
// cross-origin fetch cannot send without a CORS preflight that this server
// never grants, and a present Origin must be this host's.
//
// Every refusal is 403 {"error": "csrf"}: a configuration problem (a page
// that does not send the header, a front proxy that rewrites Host without
// being listed in -trusted-proxies), never a sign that the session ended.
package csrf

import (
	"net/http"
	"net/url"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/forwarded"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
)

// Header is the header every /api call must carry with the value "1".
const Header = "X-CSRF"

// Code is the error code of a refusal.
const Code = "csrf"

// Protect answers 403 JSON to requests without Header: 1 or whose Origin
// names another host, and passes the others to next. Only the Origin's host
// is compared with the host the client asked for: the request's Host, or
// the X-Forwarded-Host of a trusted front proxy (one that rewrites Host
// must be listed), so that a TLS-terminating proxy in front does not break
// it.
func Protect(trusted forwarded.Trusted, next http.Handler) http.Handler {
	same := SameOrigin(trusted, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(Header) != "1" {
			reply.Error(w, http.StatusForbidden, Code, "missing "+Header+": 1 header")
			return
		}
		same.ServeHTTP(w, r)
	})
}

// SameOrigin is Protect without the header check, for the reads a page
// makes with a plain fetch (GET /api/auth/session): a present Origin must
// still be this host's.
func SameOrigin(trusted forwarded.Trusted, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host != trusted.Host(r) {
				reply.Error(w, http.StatusForbidden, Code, "cross-origin request refused (behind a proxy that rewrites Host? list it in -trusted-proxies)")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
