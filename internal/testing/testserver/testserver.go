// Package testserver runs the real server handler, with the embedded demo
// upstream, on loopback for tests that drive it from outside: the GOOS=js
// tests under Node and the browser tests in Chromium. It adds what tests
// need and the product must not have: counters of every request by path
// and a switch that makes a path fail.
//
//	GET  /test/stats  -> {"requests": {path: n}, "upstream": demo.Stats}
//	POST /test/fault  {"path": "/api/auth/refresh", "status": 503, "delayMs": 0, "times": 1}
//
// A fault answers status (or, when status is 0, passes the request on)
// after delayMs, for the next times requests to path. With "hold": true it
// first waits until POST /test/release (or until the client gives up), so
// that a test orders events without sleeping. A path that starts with
// "upstream/" is a path of the demo upstream ("upstream/auth/refresh"): a
// hanging auth server, as the BFF sees it.
//
//	POST /test/release [{"path": p}] -> every held request (of path p) goes on
//	POST /test/expire-session -> the request's session is sealed again as it
//	    will be at its access token's expiry (both the sealed and the
//	    readable expiry are now), as if its time had passed
//	POST /test/reset  -> counters to zero, faults cleared, held requests released
//	GET  /test/hero.png -> a 200 KB image (noise), for the slow-network page
package testserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo/ssr"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/site"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/static"
)

// Config configures a test server.
type Config struct {
	// AccessTTL is the demo upstream's access token lifetime.
	AccessTTL time.Duration
	// Grace is the demo upstream's reuse grace window.
	Grace time.Duration
	// AbsorbWindow is the BFF's duplicate-refresh absorption window
	// (negative: off, so that only the browser's coordination is tested).
	AbsorbWindow time.Duration
	// AccessTokenBytes and RefreshTokenBytes are the demo upstream's token
	// sizes (zero: 43 bytes), for identity providers' large JWTs.
	AccessTokenBytes, RefreshTokenBytes int
	// Root is the repository root, whose www/ and js/ are served, and also
	// wasm/testdata/ at /testdata/wasm/ and internal/testing/e2e/testdata/ at
	// /testdata/e2e/; "" serves no static files.
	Root string
}

// Server is a running test server.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL      string
	Upstream *demo.Server

	front, back *httptest.Server

	mu       sync.Mutex // protects requests, faults and held
	requests map[string]int
	faults   map[string]*fault
	held     map[string]chan struct{} // by path: closed to let its held requests go on
}

// Stats is the body of GET /test/stats.
type Stats struct {
	Requests map[string]int `json:"requests"`
	Upstream demo.Stats     `json:"upstream"`
}

type fault struct {
	Path    string `json:"path"`
	Status  int    `json:"status"`
	DelayMs int    `json:"delayMs"`
	Times   int    `json:"times"`
	Hold    bool   `json:"hold"`
}

// TestCSP is the Content-Security-Policy of the test pages: like the
// product's (static.CSP), plus their inline module scripts and calls to
// other origins (the cross-origin scenarios).
const TestCSP = "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; connect-src *; frame-ancestors 'none'"

// Start starts a server; Close stops it.
func Start(cfg Config) *Server {
	s := &Server{
		Upstream: demo.New(demo.Config{AccessTTL: cfg.AccessTTL, Grace: cfg.Grace,
			AccessTokenBytes: cfg.AccessTokenBytes, RefreshTokenBytes: cfg.RefreshTokenBytes}),
		requests: map[string]int{},
		faults:   map[string]*fault{},
		held:     map[string]chan struct{}{},
	}
	s.back = httptest.NewServer(s.withFaults("upstream", s.Upstream))
	u, _ := url.Parse(s.back.URL)
	api, err := bff.New(bff.Config{
		Upstream:     u,
		Transport:    http.DefaultTransport,
		AbsorbWindow: cfg.AbsorbWindow,
		// Secure cookies work on http://127.0.0.1 in Chromium; Node's fetch
		// has no cookie jar, so the attribute changes nothing there.
		Cookies: cookies.Codec{},
	})
	if err != nil {
		panic(err) // a test rig's own config
	}
	var handler http.Handler = api
	if cfg.Root != "" {
		pages := ssr.New(ssr.Config{Upstream: u, Transport: http.DefaultTransport, Auth: api})
		handler = site.New(api, pages, site.Files{WWW: os.DirFS(cfg.Root + "/www"), JS: os.DirFS(cfg.Root + "/js"), CSP: static.CSP})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /test/hero.png", serveHero)
	mux.HandleFunc("GET /test/stats", func(w http.ResponseWriter, r *http.Request) { reply.JSON(w, http.StatusOK, s.Stats()) })
	mux.HandleFunc("POST /test/fault", func(w http.ResponseWriter, r *http.Request) {
		var f fault
		if !reply.Decode(w, r, &f) {
			return
		}
		s.mu.Lock()
		s.faults[f.Path] = &f
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /test/release", func(w http.ResponseWriter, r *http.Request) {
		var only struct {
			Path string `json:"path"`
		}
		if r.ContentLength != 0 && !reply.Decode(w, r, &only) {
			return
		}
		s.ReleasePath(only.Path)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /test/expire-session", func(w http.ResponseWriter, r *http.Request) {
		codec := api.Cookies()
		session, err := codec.Read(r)
		if err != nil {
			reply.Error(w, http.StatusUnauthorized, "no_session", err.Error())
			return
		}
		session.Expires = time.Now()
		if err := codec.Set(w, r, *session); err != nil {
			reply.Error(w, http.StatusInternalServerError, "session_too_large", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /test/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	if cfg.Root != "" {
		for prefix, dir := range map[string]string{"/testdata/wasm": "wasm/testdata", "/testdata/e2e": "internal/testing/e2e/testdata"} {
			files := static.New(os.DirFS(cfg.Root+"/"+dir), "no-store")
			files.CSP = TestCSP
			mux.Handle(prefix+"/", http.StripPrefix(prefix, files))
		}
	}
	mux.Handle("/", s.withFaults("", handler))
	s.front = httptest.NewServer(mux)
	s.URL = s.front.URL
	return s
}

// withFaults counts the requests to next (by prefix + path) and injects
// the faults set for them.
func (s *Server) withFaults(prefix string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, release := s.count(prefix + r.URL.Path)
		if f != nil {
			if f.Hold {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			time.Sleep(time.Duration(f.DelayMs) * time.Millisecond)
			if f.Status != 0 {
				reply.Error(w, f.Status, "test_fault", "injected by the test server")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ReleasePath lets the held requests to path go on; every held request
// when path is "".
func (s *Server) ReleasePath(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(path)
}

// releaseLocked is ReleasePath with s.mu held.
func (s *Server) releaseLocked(path string) {
	for p, ch := range s.held {
		if path == "" || p == path {
			close(ch)
			delete(s.held, p)
		}
	}
}

// count counts a request and returns the fault to inject, or nil, and the
// channel that releases held requests.
func (s *Server) count(path string) (*fault, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[path]++
	f := s.faults[path]
	if f == nil || f.Times == 0 {
		return nil, nil
	}
	f.Times--
	ch := s.held[path]
	if ch == nil {
		ch = make(chan struct{})
		s.held[path] = ch
	}
	return f, ch
}

// Stats returns the request counters and the upstream's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		req[k] = v
	}
	return Stats{Requests: req, Upstream: s.Upstream.Stats()}
}

// Reset zeroes the request counters, clears the faults and releases the
// held requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = map[string]int{}
	s.faults = map[string]*fault{}
	s.releaseLocked("")
}

// Close stops the server and its demo.
func (s *Server) Close() {
	s.front.Close()
	s.back.Close()
}
