// Package bff is the fetch-with-refresh backend-for-frontend as a library:
// one http.Handler that serves the browser's auth endpoints
// (/api/auth/login, /api/auth/refresh, /api/auth/logout), keeps the
// upstream's tokens in HttpOnly cookies (package cookies), proxies every
// other /api/ call to the upstream with the bearer token attached, and,
// in OpenID Connect mode, serves the login pages under /auth/. Duplicate
// refreshes of one session share one upstream refresh (package absorb),
// across instances too when Config.Store is shared (absorb/redisstore,
// absorb/dostore).
//
// A Go server mounts it beside its own routes:
//
//	b, err := bff.New(bff.Config{Upstream: api})
//	mux.Handle("/api/", b)
//	mux.Handle("/auth/", b) // OpenID Connect mode's pages
//	mux.HandleFunc("/hello", hello)
//
// and its server-side calls share the BFF's refreshes through
// refresh/transport with ExchangeFor. Call Wait at shutdown. cmd/server and
// cmd/worker are two such hosts.
//
// The Go API is v0.x: it may change between minor versions (CHANGELOG.md).
package bff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/internal/auth"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/internal/csrf"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/internal/oidclogin"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/internal/proxy"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/forwarded"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/observe"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/static"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Defaults of Config's zero values.
const (
	// DefaultAuthTimeout bounds a login or refresh call upstream, and the
	// whole of a refresh with its absorption: below the browser module's
	// refreshTimeoutMs (10 s).
	DefaultAuthTimeout = auth.DefaultTimeout
	// DefaultProxyTimeout bounds a proxied call.
	DefaultProxyTimeout = 30 * time.Second
	// DefaultAbsorbWindow is how long a refresh's new pair is handed to
	// duplicates of it.
	DefaultAbsorbWindow = auth.DefaultAbsorbWindow
	// DefaultRefreshAhead is how close to its expiry the access token is
	// refreshed before a proxied call (capped by the token's lifetime).
	DefaultRefreshAhead = auth.DefaultAheadWindow
)

// ErrRejected is refresh.ErrRejected: the upstream refused the refresh
// token for good. Errors of ExchangeFor's refreshes wrap it; test with errors.Is.
var ErrRejected = auth.ErrRejected

// warnNoKeys says once per process that a BFF seals with the process's key.
var warnNoKeys sync.Once

// ErrConfig is wrapped by every error of New: the Config is unusable.
var ErrConfig = errors.New("bff: invalid config")

// Observer is told what the handlers did (outcomes, upstream latencies,
// store fallbacks): cmd/server's Prometheus metrics implement it.
type Observer = observe.Observer

// Config configures a BFF. Upstream is required.
type Config struct {
	// Upstream is the base URL of the API (every /api/{path} other than
	// /api/auth/ is proxied to {Upstream}/{path}) and, unless AuthClient
	// or OIDC says otherwise, of its auth server's JSON contract
	// (/auth/login, /auth/refresh, /auth/logout).
	Upstream *url.URL
	// Transport makes every upstream call. If nil, http.DefaultTransport
	// natively; required under GOOS=js (Workers: their fetch API).
	Transport http.RoundTripper
	// AuthTimeout bounds a login or refresh upstream. If zero,
	// DefaultAuthTimeout.
	AuthTimeout time.Duration
	// ProxyTimeout bounds a proxied call. If zero, DefaultProxyTimeout.
	ProxyTimeout time.Duration
	// Cookies seals, names and sets the session cookies: secure
	// (__Host-Http-) unless Cookies.Insecure. Give every instance the same
	// Cookies.Keys (cookies.ParseKeys); without them, a key of this
	// process (a warning in the log; an error under GOOS=js).
	Cookies cookies.Codec
	// AbsorbWindow is how long duplicate refreshes get the same new pair.
	// If zero, DefaultAbsorbWindow; negative: off.
	AbsorbWindow time.Duration
	// Store is where duplicate refreshes coordinate: one shared by every
	// instance (absorb/redisstore, absorb/dostore) absorbs duplicates
	// that land on different instances. If nil, in process only.
	Store absorb.Store
	// Logger logs what an answer cannot say. If nil, slog.Default().
	Logger *slog.Logger
	// RefreshAhead is how close to expiry the access token is refreshed
	// before a proxied call. If zero, DefaultRefreshAhead; negative: off.
	RefreshAhead time.Duration
	// Observer is told what the handlers did. If nil, nothing is.
	Observer Observer
	// TrustedProxies lists the front proxies whose X-Forwarded-For,
	// -Proto and -Host are believed. If empty, only the connection is.
	TrustedProxies []netip.Prefix
	// ForwardHeaders names the app's own request headers that the proxy
	// passes upstream, besides its allowlist (content negotiation,
	// conditionals, caching, tracing: see the README). Every other header
	// of the browser's stays at the BFF.
	ForwardHeaders []string
	// AuthClient is the upstream's auth dialect, for an auth server that
	// speaks neither the JSON contract nor OpenID Connect. If nil, the
	// JSON contract at Upstream (or OIDC's provider).
	AuthClient authclient.Client
	// OIDC, if not nil, turns on OpenID Connect mode: the browser logs in
	// at the provider (GET /auth/login), and refresh and logout use the
	// provider's token and revocation endpoints.
	OIDC *OIDC
}

// OIDC is the OpenID Connect mode's settings. Issuer, ClientID and
// PublicURL are required.
type OIDC struct {
	// Issuer is the provider's issuer URL.
	Issuer string
	// ClientID and ClientSecret are the client's credentials; without a
	// secret the client is public.
	ClientID, ClientSecret string
	// Scopes are asked for at login. If empty, openid offline_access.
	Scopes []string
	// Audience, if not empty, is the authorization request's audience
	// parameter (Auth0: the API its access tokens are for).
	Audience string
	// PublicURL is the server's external base URL: the redirect URI is
	// {PublicURL}/auth/callback.
	PublicURL *url.URL
}

// BFF is the backend-for-frontend's http.Handler: /api/ (the auth
// endpoints behind the CSRF check, then the proxy), /auth/ (OpenID Connect
// mode's pages), GET /healthz and GET /readyz. Create one with New.
type BFF struct {
	handler http.Handler
	auth    *auth.Handler
	oidc    *oidclogin.Handler // nil outside OpenID Connect mode
}

// New returns the BFF for cfg, filling in the documented defaults. It
// calls nobody: in OpenID Connect mode the provider's discovery document
// is read at first use (or by Discover).
func New(cfg Config) (*BFF, error) {
	if cfg.Upstream == nil || (cfg.Upstream.Scheme != "http" && cfg.Upstream.Scheme != "https") || cfg.Upstream.Host == "" {
		return nil, errors.Join(ErrConfig, errors.New("bff: Upstream must be an absolute http(s) URL"))
	}
	if err := proxy.CheckForwardHeaders(cfg.ForwardHeaders); err != nil {
		return nil, errors.Join(ErrConfig, fmt.Errorf("bff: ForwardHeaders: %w", err))
	}
	if cfg.Transport == nil {
		cfg.Transport = defaultTransport
	}
	if cfg.Transport == nil {
		return nil, errors.Join(ErrConfig, errors.New("bff: Transport is required under GOOS=js"))
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Cookies.Keys == nil {
		if keysRequired {
			return nil, errors.Join(ErrConfig, errors.New("bff: Cookies.Keys is required under GOOS=js: every request runs in a fresh instance"))
		}
		warnNoKeys.Do(func() {
			cfg.Logger.Warn("bff: no session keys (Config.Cookies.Keys): sessions are sealed with a key of this process; a restart ends them, and no other instance opens them")
		})
	}
	if cfg.Observer == nil {
		cfg.Observer = observe.Nop{}
	}
	if cfg.RefreshAhead == 0 {
		cfg.RefreshAhead = DefaultRefreshAhead
	}
	b := &BFF{}
	if o := cfg.OIDC; o != nil {
		obs := cfg.Observer
		pages, err := oidclogin.New(oidclogin.Config{
			Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes, Audience: o.Audience,
			PublicURL: o.PublicURL, Transport: cfg.Transport, Timeout: cfg.AuthTimeout, Cookies: cfg.Cookies,
			Log: cfg.Logger.With("component", "oidc"), Observe: func(d time.Duration) { obs.Upstream("auth", d) },
			Ended: func(ctx context.Context, s *cookies.Session) { b.auth.Forget(ctx, s) },
		})
		if err != nil {
			return nil, errors.Join(ErrConfig, err)
		}
		b.oidc = pages
		if cfg.AuthClient == nil {
			cfg.AuthClient = pages.Client()
		}
	}
	b.auth = auth.New(auth.Config{
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
	trusted := forwarded.Trusted(cfg.TrustedProxies)
	var forward http.Handler = proxy.New(proxy.Config{
		Upstream:  cfg.Upstream,
		Transport: cfg.Transport,
		Timeout:   cfg.ProxyTimeout,
		Observer:  cfg.Observer,
		Trusted:   trusted,

		ForwardHeaders: cfg.ForwardHeaders,
	})
	if cfg.RefreshAhead > 0 {
		forward = b.auth.Ahead(cfg.RefreshAhead, forward)
	}
	api := http.NewServeMux()
	api.Handle("/api/auth/", b.auth)
	api.Handle("/api/", forward)

	mux := http.NewServeMux()
	mux.Handle("/api/", csrf.Protect(trusted, api))
	mux.Handle("GET /api/auth/session", csrf.SameOrigin(trusted, api)) // a read a page makes with a plain fetch
	if b.oidc != nil {
		mux.Handle("/auth/", static.Pages(b.oidc)) // HTML answers: the pages' CSP
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", ready(cfg, b.auth.StoreDown))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply.Error(w, http.StatusNotFound, "not_found", "not served by the BFF")
	})
	b.handler = cfg.Cookies.Guard(mux) // session cookies read by their plain names, a duplicate refused
	return b, nil
}

// ServeHTTP implements http.Handler.
func (b *BFF) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.handler.ServeHTTP(w, r) }

// ExchangeFor returns refresh/transport's Config.Exchange for a
// server-side caller that serves r, a browser's request behind Guard (a
// page rendered with the user's cookies): its refreshes go through the
// BFF's absorber under the binding of r's session, as POST
// /api/auth/refresh does, so that it and the browser refreshing the same
// session at the same moment share one upstream refresh. With a nil r, or
// one without a session, it refreshes on its own. A definite rejection
// wraps ErrRejected.
func (b *BFF) ExchangeFor(r *http.Request) func(ctx context.Context, refreshToken, accessToken string) (authclient.Tokens, error) {
	return b.auth.ExchangeFor(r)
}

// Cookies returns the codec of the session cookies, for a handler of the
// host's own that reads or sets them (a server-rendered page).
func (b *BFF) Cookies() cookies.Codec { return b.auth.Cookies() }

// Discover reads the OpenID provider's discovery document now, so that a
// host fails at start-up when the provider is wrong or unreachable; nil
// outside OpenID Connect mode.
func (b *BFF) Discover(ctx context.Context) error {
	if b.oidc == nil {
		return nil
	}
	return b.oidc.Discover(ctx)
}

// Wait waits for the refresh results still being written to the shared
// store after their answers; call it at shutdown, after the server has
// stopped, before the store is closed.
func (b *BFF) Wait() { b.auth.Wait() }

// AheadWindow is the server's refresh-ahead window for a token of the
// given lifetime (zero: unknown): window, but never more than an eighth of
// the lifetime, so that where the browser module runs (a quarter at most)
// it refreshes first, and a token just issued is never refreshed ahead.
func AheadWindow(window, lifetime time.Duration) time.Duration {
	return auth.AheadWindow(window, lifetime)
}
