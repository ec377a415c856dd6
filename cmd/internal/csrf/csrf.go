// Package csrf guards the /api routes against cross-site requests: a call
// must carry a custom header, which a cross-site form or a simple
// cross-origin fetch cannot send without a CORS preflight that this server
// never grants, and a present Origin must be this host's.
package csrf

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/apierr"
)

// Header is the header every /api call must carry with the value "1".
const Header = "X-CSRF"

// Protect answers 403 JSON to requests without Header: 1 or whose Origin
// names another host, and passes the others to next. Only the Origin's host
// is compared with the request's Host, so that a TLS-terminating proxy in
// front does not break it.
func Protect(next http.Handler) http.Handler {
	return ProtectOrigins(nil, next)
}

// ProtectOrigins is Protect that also accepts an Origin listed in origins
// (scheme://host[:port]): the public origin of a front that rewrites the
// Host header on its way here, such as Next.js rewrites or a dev server's
// proxy with changeOrigin.
func ProtectOrigins(origins []string, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(Header) != "1" {
			apierr.Write(w, http.StatusForbidden, "csrf", "missing "+Header+": 1 header")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if (err != nil || u.Host != r.Host) && !allowed[strings.ToLower(origin)] {
				apierr.Write(w, http.StatusForbidden, "csrf", "cross-origin request refused")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
