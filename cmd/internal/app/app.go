// Package app assembles the server's http.Handler from the shared handlers:
// the auth endpoints and the API proxy under /api (behind the CSRF check),
// and /healthz. Both hosts serve it: cmd/server natively, beside the static
// files (WithStatic), and cmd/worker on Cloudflare Workers, whose static
// assets serve the files.
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

// Config configures the handler. Upstream and Transport are required.
type Config struct {
	// Upstream is the base URL of the API and its auth server.
	Upstream *url.URL
	// Transport makes every upstream call. Required: natively
	// http.DefaultTransport, on Workers the Workers fetch API. (A default
	// here would link net/http's whole client into the Workers build.)
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
	// Observer is told what the handlers did. If nil, nothing is.
	Observer observe.Observer
}

// New returns the handler.
func New(cfg Config) http.Handler {
	api := http.NewServeMux()
	api.Handle("/api/auth/", bff.New(bff.Config{
		Upstream:     cfg.Upstream,
		Transport:    cfg.Transport,
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
	return mux
}

// WithStatic returns api with www served at / and js at /js/: a native
// host's job, since Workers serve files as static assets.
func WithStatic(api http.Handler, www, js fs.FS) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", static.New(www, "no-cache"))
	mux.Handle("/js/", http.StripPrefix("/js", static.New(js, "no-cache")))
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	return mux
}
