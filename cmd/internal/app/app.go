// Package app assembles the server's http.Handler from the shared handlers:
// the auth endpoints and the API proxy under /api (behind the CSRF check),
// /healthz (liveness) and /readyz (the upstream and the shared store
// reachable). Both hosts serve it: cmd/server natively, beside the static
// files (WithStatic), and cmd/worker on Cloudflare Workers, whose static
// assets serve the files.
package app

import (
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/csrf"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/forwarded"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/observe"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/proxy"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/static"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/authclient"
)

// Config configures the handler. Upstream and Transport are required.
type Config struct {
	// Upstream is the base URL of the API and its auth server.
	Upstream *url.URL
	// Transport makes every upstream call. Required: natively
	// http.DefaultTransport, on Workers the Workers fetch API. (A default
	// here would link net/http's whole client into the Workers build.)
	Transport http.RoundTripper
	// AuthTimeout bounds a login or refresh call upstream. If zero,
	// bff.DefaultTimeout (8s).
	AuthTimeout time.Duration
	// ProxyTimeout bounds a proxied call. If zero, 30s.
	ProxyTimeout time.Duration
	// Cookies configures the session cookies.
	Cookies session.Cookies
	// AbsorbWindow is bff.Config.AbsorbWindow: how long duplicate refreshes
	// get the same new pair. Zero: bff.DefaultAbsorbWindow; negative: off.
	AbsorbWindow time.Duration
	// Store is where duplicate refreshes coordinate (bff.Config.Store): one
	// shared by every instance (Redis natively, a Durable Object on
	// Workers) absorbs duplicates that land on different instances. If
	// nil, an in-process absorb.Memory: per instance only.
	Store absorb.Store
	// Logger logs what goes wrong with Store. If nil, slog.Default().
	Logger *slog.Logger
	// RefreshAhead is how close to expiry the access token is refreshed
	// before a proxied call (bff.Handler.Ahead). Zero:
	// bff.DefaultAheadWindow; negative: off.
	RefreshAhead time.Duration
	// Observer is told what the handlers did. If nil, nothing is.
	Observer observe.Observer
	// TrustedProxies lists the front proxies whose X-Forwarded-For, -Proto
	// and -Host are believed (the CSRF check's host, the proxy's
	// X-Forwarded-*). If empty, only the connection is.
	TrustedProxies forwarded.Trusted
	// AuthClient is the upstream's auth dialect (bff.Config.Client). If
	// nil, the JSON contract at Upstream.
	AuthClient authclient.Client
	// AuthPages, if not nil, serves the browser's auth pages under /auth/
	// (OpenID Connect mode's login, callback and logout: oidclogin).
	AuthPages http.Handler
}

// New returns the handler, behind cfg.Cookies.Guard (session cookies read
// by their plain names, a duplicate refused), and its auth endpoints'
// handler for server-side callers that must share its refreshes
// (bff.Handler.Exchange).
func New(cfg Config) (http.Handler, *bff.Handler) {
	api := http.NewServeMux()
	auth := bff.New(bff.Config{
		Client:       cfg.AuthClient,
		Upstream:     cfg.Upstream,
		Transport:    cfg.Transport,
		Timeout:      cfg.AuthTimeout,
		Cookies:      cfg.Cookies,
		AbsorbWindow: cfg.AbsorbWindow,
		Store:        cfg.Store,
		Logger:       cfg.Logger,
		Observer:     cfg.Observer,
	})
	api.Handle("/api/auth/", auth)
	var forward http.Handler = proxy.New(proxy.Config{
		Upstream:  cfg.Upstream,
		Transport: cfg.Transport,
		Timeout:   cfg.ProxyTimeout,
		Observer:  cfg.Observer,
		Trusted:   cfg.TrustedProxies,
	})
	if cfg.RefreshAhead == 0 {
		cfg.RefreshAhead = bff.DefaultAheadWindow
	}
	if cfg.RefreshAhead > 0 {
		forward = auth.Ahead(cfg.RefreshAhead, forward)
	}
	api.Handle("/api/", forward)

	mux := http.NewServeMux()
	mux.Handle("/api/", csrf.Protect(cfg.TrustedProxies, api))
	if cfg.AuthPages != nil {
		mux.Handle("/auth/", static.Pages(cfg.AuthPages)) // HTML answers: the pages' CSP
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", ready(cfg))
	return cfg.Cookies.Guard(mux), auth
}

// WithStatic returns app with www served at / and js at /js/, and the
// server-rendered pages (ssr) when pages is not nil: a native host's job.
// Workers serve the files as static assets, and leave html/template out of
// the upload (it would add 1 MB of gzip).
func WithStatic(app, pages http.Handler, www, js fs.FS) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", static.New(www, "no-cache"))
	mux.Handle("/js/", http.StripPrefix("/js", static.New(js, "no-cache")))
	mux.Handle("/api/", app)
	mux.Handle("/healthz", app)
	mux.Handle("/readyz", app)
	mux.Handle("/auth/", app)
	if pages != nil {
		pages = static.Pages(pages)
		mux.Handle("GET /departments", pages)
		mux.Handle("GET /login", pages)
	}
	return mux
}
