// Package proxy forwards /api/{path} to {upstream}/{path} with the access
// token from the session cookie as a bearer token. The browser's cookies
// never reach the upstream, and the upstream's cookies never reach the
// browser.
//
// What it refuses before anything reaches the upstream: methods outside
// GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS (405); paths that could
// leave the upstream's base path once the upstream decodes them (400, see
// CheckPath); calls with a body but without an access token cookie (401,
// before a byte of the body is read: an anonymous upload costs nothing);
// bodies over MaxBody (413). A bodiless call without a session goes on
// without Authorization, and the upstream answers it (public resources,
// or its own 401).
//
// What it filters on the way back: an upstream redirect becomes 502 (the
// browser must not follow it with the session's origin), the upstream's
// Set-Cookie and X-Access-Expires are dropped, every answer carries
// X-Content-Type-Options: nosniff, and an answer on which the server sets
// cookies (a refresh ahead) is Cache-Control: no-store.
//
// It is written on http.RoundTripper rather than httputil.ReverseProxy:
// ReverseProxy falls back to http.DefaultTransport, and that one reference
// links net/http's whole client (TLS, HTTP/2) into the Workers build, 1.2 MB
// of gzip that pushes it past the free plan's 3 MB.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/forwarded"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/observe"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
)

// Prefix is the path prefix that is stripped before forwarding.
const Prefix = "/api"

// MaxBody bounds a proxied request body (10 MiB).
const MaxBody = 10 << 20

// DefaultMaxBuffered bounds the request bytes held in memory at once by
// all buffered calls together (Config.Buffer), when Config.MaxBuffered is
// zero: 64 MiB.
const DefaultMaxBuffered = 64 << 20

// Allow lists the methods the proxy forwards.
const Allow = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// Config configures the proxy. Upstream and Transport are required.
type Config struct {
	// Upstream is the base URL the calls go to.
	Upstream *url.URL
	// Transport sends the calls.
	Transport http.RoundTripper
	// Timeout bounds each call, its response body included. If zero, 30
	// seconds.
	Timeout time.Duration
	// Observer is told each call's status and latency. If nil, nothing is.
	Observer observe.Observer
	// Trusted lists the front proxies whose X-Forwarded-* headers are
	// passed on. If empty, they are set from the connection alone.
	Trusted forwarded.Trusted
	// Buffer reads each request body in full before it is sent, for hosts
	// that cannot stream a request body through a handler (the Workers
	// runtime; New turns it on under GOOS=js). Natively bodies are streamed.
	Buffer bool
	// MaxBuffered bounds the bytes that buffered bodies hold at once; a
	// call waits (within Timeout) for room. If zero, DefaultMaxBuffered.
	MaxBuffered int64
	// ForwardHeaders names the request headers of the app's own that go
	// upstream besides Forwarded (content negotiation, conditionals,
	// tracing): every other header of the browser's stays here.
	ForwardHeaders []string
}

type handler struct {
	cfg     Config
	forward map[string]bool     // the request headers that go upstream, canonical
	budget  *semaphore.Weighted // bytes of buffered bodies; nil when streaming
}

// New returns the proxy handler.
func New(cfg Config) http.Handler {
	forward := maps.Clone(Forwarded)
	for _, name := range cfg.ForwardHeaders {
		forward[http.CanonicalHeaderKey(name)] = true
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = observe.Nop{}
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = DefaultMaxBuffered
	}
	if runtime.GOOS == "js" {
		cfg.Buffer = true
	}
	h := &handler{cfg: cfg, forward: forward}
	if cfg.Buffer {
		h.budget = semaphore.NewWeighted(max(cfg.MaxBuffered, MaxBody))
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default: // CONNECT, TRACE and anything unknown
		reply.MethodNotAllowed(w, Allow)
		return
	}
	if err := CheckPath(r.URL); err != nil {
		reply.Error(w, http.StatusBadRequest, "invalid_path", err.Error())
		return
	}
	var token string
	if s := cookies.From(r); s != nil {
		token = s.AccessToken
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	if token == "" && hasBody { // before the body: a caller without a session costs nothing
		h.cfg.Observer.Proxied(http.StatusUnauthorized)
		reply.Error(w, http.StatusUnauthorized, "no_session", "no session: log in or refresh")
		return
	}
	if r.ContentLength > MaxBody {
		reply.BodyError(w, &http.MaxBytesError{Limit: MaxBody}, "")
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, "", nil) // the URL is set below, unparsed
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "invalid_request", "the request cannot be forwarded")
		return
	}
	out.URL = h.target(r.URL)
	out.Host = out.URL.Host
	out.Header = h.requestHeader(r, token)
	var body *limited
	if hasBody {
		if h.cfg.Buffer {
			release, ok := h.buffer(ctx, w, r, out)
			if !ok {
				return
			}
			defer release()
		} else {
			body = &limited{r: http.MaxBytesReader(w, r.Body, MaxBody)}
			out.Body, out.ContentLength = body, r.ContentLength
		}
	}

	start := time.Now()
	res, err := h.cfg.Transport.RoundTrip(out)
	h.cfg.Observer.Upstream("api", time.Since(start))
	if err != nil {
		if body != nil && body.tooLarge() {
			h.cfg.Observer.Proxied(http.StatusRequestEntityTooLarge)
			reply.BodyError(w, &http.MaxBytesError{Limit: MaxBody}, "")
			return
		}
		h.fail(w, r, err)
		return
	}
	defer res.Body.Close()
	h.respond(w, res, token != "")
}

// buffer reads r's body into out within the byte budget. It answers the
// failures itself (ok false); release gives the bytes back.
func (h *handler) buffer(ctx context.Context, w http.ResponseWriter, r *http.Request, out *http.Request) (release func(), ok bool) {
	n := r.ContentLength
	if n < 0 {
		n = MaxBody // unknown length: room for the largest
	}
	if err := h.budget.Acquire(ctx, n); err != nil {
		h.cfg.Observer.Proxied(http.StatusServiceUnavailable)
		reply.Error(w, http.StatusServiceUnavailable, "busy", "too many large requests at once; try again")
		return nil, false
	}
	release = func() { h.budget.Release(n) }
	data, err := io.ReadAll(io.LimitReader(http.MaxBytesReader(w, r.Body, MaxBody), n+1))
	if err == nil && int64(len(data)) > n {
		err = &http.MaxBytesError{Limit: n} // longer than its Content-Length
	}
	if err != nil {
		release()
		reply.BodyError(w, err, "the request body could not be read")
		return nil, false
	}
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
	return release, true
}

// respond writes the upstream's answer, filtered: no redirect, none of
// the upstream's cookies, expiry headers, CORS grants, Clear-Site-Data or
// Content-Security-Policy (the BFF is same-origin, and a page's policy is
// the operator's), nosniff, and, for a call made with the session's token
// (authenticated), never shared caching: Cache-Control private unless the
// upstream said no-store.
func (h *handler) respond(w http.ResponseWriter, res *http.Response, authenticated bool) {
	if res.StatusCode >= 300 && res.StatusCode < 400 && res.StatusCode != http.StatusNotModified {
		h.cfg.Observer.Proxied(http.StatusBadGateway)
		reply.Error(w, http.StatusBadGateway, "upstream_redirect", "the API answered with a redirect, which is not passed to the browser")
		return
	}
	removeHop(res.Header)
	hdr := w.Header()
	for k, vv := range res.Header {
		switch k {
		case "Set-Cookie", "Set-Cookie2", cookies.ExpiresHeader, cookies.LifetimeHeader, // the upstream's are not for this origin; ours (Ahead) stay
			"Clear-Site-Data", "Content-Security-Policy", "Content-Security-Policy-Report-Only":
			continue
		}
		if strings.HasPrefix(k, "Access-Control-") {
			continue
		}
		hdr[k] = vv
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	if authenticated {
		hdr.Set("Cache-Control", privateCaching(hdr.Get("Cache-Control")))
	}
	if len(hdr["Set-Cookie"]) > 0 {
		hdr.Set("Cache-Control", "no-store") // an answer that sets the session is nobody else's
		hdr.Del("Expires")
	}
	h.cfg.Observer.Proxied(res.StatusCode)
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body) // the status is out: a broken copy has no one to tell
}

// target is the upstream URL for an /api URL.
func (h *handler) target(in *url.URL) *url.URL {
	u := *h.cfg.Upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + strings.TrimPrefix(in.Path, Prefix)
	u.RawPath = ""
	if in.RawPath != "" {
		u.RawPath = strings.TrimSuffix(h.cfg.Upstream.EscapedPath(), "/") + strings.TrimPrefix(in.RawPath, Prefix)
	}
	u.RawQuery = in.RawQuery
	return &u
}

// fail answers a call that got no answer: 504 for a timeout, 502 otherwise,
// nothing when the client has left.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	status, code := http.StatusBadGateway, "upstream_unreachable"
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		status, code = http.StatusGatewayTimeout, "upstream_timeout"
	}
	h.cfg.Observer.Proxied(status)
	reply.Error(w, status, code, "the API could not be reached; try again")
}

// privateCaching returns an authenticated answer's Cache-Control: the
// upstream's, with private in the place of public (a shared cache must not
// keep one user's answer), or no-store kept as it is.
func privateCaching(cc string) string {
	var out []string
	for d := range strings.SplitSeq(cc, ",") {
		d = strings.TrimSpace(d)
		switch strings.ToLower(d) {
		case "no-store":
			return cc
		case "public", "private", "":
			continue
		}
		out = append(out, d)
	}
	return strings.Join(append([]string{"private"}, out...), ", ")
}
