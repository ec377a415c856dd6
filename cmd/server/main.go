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

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/config"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo/ssr"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/site"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	log := newLogger(logOut, cfg.LogJSON)
	transport := newTransport()
	defer transport.CloseIdleConnections()

	b := cfg.BFF()
	b.Transport, b.Logger = transport, log
	if b.Cookies.Keys == nil { // a single instance (config refuses -redis without keys)
		b.Cookies.Keys = cookies.GenerateKeys()
		log.Warn("no -session-keys: sessions are sealed with a key made at start; a restart ends every session, and no other instance can open them (make a key with `openssl rand -base64 32`)")
	}
	demoMode := b.Upstream == nil
	if demoMode {
		u, stopDemo, err := startDemo(cfg, log)
		if err != nil {
			return err
		}
		defer stopDemo()
		b.Upstream = u
	}
	if cfg.Redis != "" {
		store, err := openRedis(cfg.Redis, cfg.RedisCluster, log)
		if err != nil {
			return err
		}
		defer store.Close()
		b.Store = store
	}
	var at listening
	observer, metricsURL, stopMetrics, err := startMetrics(cfg.MetricsAddr, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	b.Observer, at.metrics = observer, metricsURL

	api, err := bff.New(b)
	if err != nil {
		return err
	}
	if b.OIDC != nil {
		dctx, cancel := context.WithTimeout(ctx, cfg.AuthTimeout)
		err := api.Discover(dctx)
		cancel()
		if err != nil {
			return err
		}
		log.Info("OpenID Connect mode", "issuer", b.OIDC.Issuer, "client_id", b.OIDC.ClientID, "redirect_uri", b.OIDC.PublicURL.JoinPath("auth/callback").String())
	}
	var pages http.Handler // the demo's server-rendered page: demo mode only
	if demoMode {
		pages = ssr.New(ssr.Config{Upstream: b.Upstream, Transport: transport, Auth: api})
	}
	handler := site.New(api, pages, site.Files{WWW: os.DirFS(cfg.WWWDir), JS: os.DirFS(cfg.JSDir), SPA: cfg.SPA, CSP: cfg.CSP})
	if cfg.AccessLog {
		handler = logRequests(log, handler)
	}
	addr, stopMain, err := serve(cfg.Addr, handler, log)
	if err != nil {
		return err
	}
	at.base = "http://" + addr
	log.Info("fetch-with-refresh is serving", "url", at.base+"/", "upstream", b.Upstream.Redacted(), "secure_cookies", !cfg.Insecure)
	if ready != nil {
		ready <- at
	}
	<-ctx.Done()
	log.Info("shutting down")
	stopMain()
	api.Wait() // results still being written to the store, before it closes
	return nil
}

// newLogger returns the server's logger: text lines, or JSON lines.
func newLogger(out io.Writer, jsonLines bool) *slog.Logger {
	if jsonLines {
		return slog.New(slog.NewJSONHandler(out, nil))
	}
	return slog.New(slog.NewTextHandler(out, nil))
}

// startDemo starts the embedded demo upstream on loopback (-demo-addr)
// and returns its URL and a function that stops it.
func startDemo(cfg *config.Config, log *slog.Logger) (*url.URL, func(), error) {
	up := demo.New(demo.Config{AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, Grace: cfg.RefreshGrace, NoRotate: !cfg.RefreshRotate})
	addr, stop, err := serve(cfg.DemoAddr, up, log.With("server", "demo-upstream"))
	if err != nil {
		return nil, nil, fmt.Errorf("demo upstream: %w", err)
	}
	u := &url.URL{Scheme: "http", Host: addr}
	log.Info("demo upstream", "url", u.String(), "login", "demo / demo", "access_ttl", cfg.AccessTTL.String())
	return u, stop, nil
}

// startMetrics serves Prometheus metrics on addr ("" serves none) and
// returns the Observer that feeds them, the listener's URL and a
// function that stops it.
func startMetrics(addr string, log *slog.Logger) (bff.Observer, string, func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	observer := newMetrics(reg)
	if addr == "" {
		return observer, "", func() {}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	at, stop, err := serve(addr, mux, log)
	if err != nil {
		return nil, "", nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	u := "http://" + at
	log.Info("metrics", "url", u+"/metrics")
	return observer, u, stop, nil
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
