// Package app assembles the server's http.Handler from the shared handlers:
// the auth endpoints and the API proxy under /api (behind the CSRF check),
// /healthz, and the static files. Both hosts serve it: cmd/server natively
// and cmd/worker on Cloudflare Workers.
package app

import (
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/csrf"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/observe"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/proxy"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/static"
)

// Config configures the handler. Upstream is required.
type Config struct {
	// Upstream is the base URL of the API and its auth server.
	Upstream *url.URL
	// Transport makes every upstream call. If nil, http.DefaultTransport.
	Transport http.RoundTripper
	// AuthTimeout bounds a login or refresh call upstream. If zero, 10s.
	AuthTimeout time.Duration
	// ProxyTimeout bounds a proxied call. If zero, 30s.
	ProxyTimeout time.Duration
	// Cookies configures the session cookies.
	Cookies session.Cookies
	// AbsorbWindow is bff.Config.AbsorbWindow: how long duplicate refreshes
	// get the same new pair. Zero: bff.DefaultAbsorbWindow; negative: off.
	AbsorbWindow time.Duration
	// WWW is served at / and JS at /js/; nil: not served (Workers serves
	// them as static assets).
	WWW, JS fs.FS
	// Observer is told what the handlers did. If nil, nothing is.
	Observer observe.Observer
}

// New returns the handler.
func New(cfg Config) http.Handler {
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	api := http.NewServeMux()
	api.Handle("/api/auth/", bff.New(bff.Config{
		Upstream:     cfg.Upstream,
		Client:       &http.Client{Transport: cfg.Transport},
		Timeout:      cfg.AuthTimeout,
		Cookies:      cfg.Cookies,
		AbsorbWindow: cfg.AbsorbWindow,
		Observer:     cfg.Observer,
	}))
	api.Handle("/api/", proxy.New(proxy.Config{
		Upstream:  cfg.Upstream,
		Transport: cfg.Transport,
		Timeout:   cfg.ProxyTimeout,
		Observer:  cfg.Observer,
	}))

	mux := http.NewServeMux()
	mux.Handle("/api/", csrf.Protect(api))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	if cfg.WWW != nil {
		mux.Handle("/", static.New(cfg.WWW, "no-cache"))
	}
	if cfg.JS != nil {
		mux.Handle("/js/", http.StripPrefix("/js", static.New(cfg.JS, "no-cache")))
	}
	return mux
}
