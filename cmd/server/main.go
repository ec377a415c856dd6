// Command server is the fetch-with-refresh backend-for-frontend: the auth
// endpoints that keep tokens in HttpOnly cookies, the /api proxy that
// attaches the bearer token, the demo page and the js/ bundle. With no
// -upstream it starts the embedded demo upstream on loopback, so that the
// demo needs nothing else. Run it with -h for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/absorb/redisstore"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/app"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/config"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/oidclogin"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/ssr"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/upstream"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/authclient"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// listening is what run reports once it listens: the server's base URL
// and the metrics listener's ("" when off).
type listening struct{ base, metrics string }

// run serves until ctx ends, then shuts down gracefully. If ready is not
// nil it receives the addresses once the server listens.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- listening) error {
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	logOut := newAsyncWriter(stderr, 8192)
	defer logOut.Flush()
	var handler slog.Handler = slog.NewTextHandler(logOut, nil)
	if cfg.LogJSON {
		handler = slog.NewJSONHandler(logOut, nil)
	}
	log := slog.New(handler)
	transport := newTransport()
	defer transport.CloseIdleConnections()

	cookies := session.Cookies{AccessMaxAge: cfg.AccessMaxAge, RefreshMaxAge: cfg.RefreshMaxAge, Insecure: cfg.Insecure}
	upstreamURL := cfg.Upstream
	if upstreamURL == nil {
		demo := upstream.New(upstream.Config{AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, Grace: cfg.RefreshGrace, NoRotate: !cfg.RefreshRotate})
		addr, stopDemo, err := serve(cfg.DemoAddr, demo, log.With("server", "demo-upstream"))
		if err != nil {
			return fmt.Errorf("demo upstream: %w", err)
		}
		defer stopDemo()
		upstreamURL = &url.URL{Scheme: "http", Host: addr}
		log.Info("demo upstream", "url", upstreamURL.String(), "login", "demo / demo", "access_ttl", cfg.AccessTTL.String())
	}

	var store absorb.Store // nil: in process
	if cfg.Redis != "" {
		rs, err := redisstore.Open(cfg.Redis)
		if err != nil {
			return err
		}
		defer rs.Close()
		store = rs
		redis.SetLogger(redisLogger{log.With("component", "redis")})
		log.Info("duplicate refreshes are absorbed through Redis", "addr", redisAddr(cfg.Redis))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	observer := newMetrics(reg)
	var at listening
	if cfg.MetricsAddr != "" {
		metrics := http.NewServeMux()
		metrics.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		addr, stopMetrics, err := serve(cfg.MetricsAddr, metrics, log)
		if err != nil {
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		defer stopMetrics()
		at.metrics = "http://" + addr
		log.Info("metrics", "url", at.metrics+"/metrics")
	}

	var authPages *oidclogin.Handler
	var authClient authclient.Client
	if o := cfg.OIDC; o.Issuer != "" {
		dctx, cancel := context.WithTimeout(ctx, cfg.AuthTimeout)
		authPages, err = oidclogin.Discover(dctx, oidclogin.Config{
			Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes, Audience: o.Audience,
			PublicURL: o.PublicURL, Transport: transport, Timeout: cfg.AuthTimeout,
			Cookies: cookies, Log: log.With("component", "oidc"),
			Observe: func(d time.Duration) { observer.Upstream("auth", d) },
		})
		cancel()
		if err != nil {
			return err
		}
		authClient = authPages.Client()
		log.Info("OpenID Connect mode", "issuer", o.Issuer, "client_id", o.ClientID, "redirect_uri", o.PublicURL.JoinPath("auth/callback").String())
	}

	api, auth := app.New(app.Config{
		Upstream:       upstreamURL,
		Transport:      transport,
		AuthTimeout:    cfg.AuthTimeout,
		ProxyTimeout:   cfg.ProxyTimeout,
		Cookies:        cookies,
		Observer:       observer,
		Store:          store,
		Logger:         log,
		TrustedProxies: cfg.TrustedProxies,
		AuthClient:     authClient,
		AuthPages:      optional(authPages),
	})
	pages := ssr.New(ssr.Config{Upstream: upstreamURL, Transport: transport, Auth: auth})
	site := app.WithStatic(api, pages, os.DirFS(cfg.WWWDir), os.DirFS(cfg.JSDir))

	if cfg.AccessLog {
		site = logRequests(log, site)
	}
	addr, stopMain, err := serve(cfg.Addr, site, log)
	if err != nil {
		return err
	}
	at.base = "http://" + addr
	log.Info("fetch-with-refresh is serving", "url", at.base+"/", "upstream", upstreamURL.Redacted(), "secure_cookies", !cfg.Insecure)
	if ready != nil {
		ready <- at
	}
	<-ctx.Done()
	log.Info("shutting down")
	stopMain()
	auth.Wait() // results still being written to the store, before it closes
	return nil
}

// optional returns h as an http.Handler, nil when h is nil.
func optional(h *oidclogin.Handler) http.Handler {
	if h == nil {
		return nil
	}
	return h
}

// serve starts an http.Server for h on addr and returns the address it
// listens on and a function that shuts it down gracefully (10 s at most).
func serve(addr string, h http.Handler, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
		}
	}()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
