// Package proxy forwards /api/{path} to {upstream}/{path} with the access
// token from the session cookie as a bearer token. The browser's cookies
// never reach the upstream, and the upstream's cookies never reach the
// browser.
//
// It is written on http.RoundTripper rather than httputil.ReverseProxy:
// ReverseProxy falls back to http.DefaultTransport, and that one reference
// links net/http's whole client (TLS, HTTP/2) into the Workers build, 1.2 MB
// of gzip that pushes it past the free plan's 3 MB. What an API proxy
// needs of ReverseProxy is the header hygiene below.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/apierr"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/csrf"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/observe"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
)

// Prefix is the path prefix that is stripped before forwarding.
const Prefix = "/api"

// MaxBody bounds a proxied request body (10 MiB). Bodies are read in full
// before they are sent on: the Workers runtime cannot stream a request body
// through a handler.
const MaxBody = 10 << 20

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
}

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1, which a proxy
// must not forward.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

type handler struct{ cfg Config }

// New returns the proxy handler.
func New(cfg Config) http.Handler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = observe.Nop{}
	}
	return handler{cfg}
}

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody)); err != nil {
			apierr.BodyError(w, err, "the request body could not be read")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, "", nil) // the URL is set below, unparsed
	if err != nil {
		apierr.Write(w, http.StatusBadRequest, "invalid_request", "the request cannot be forwarded")
		return
	}
	out.URL = h.target(r.URL)
	out.Host = out.URL.Host
	if len(body) > 0 {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
	}
	out.Header = requestHeader(r)

	start := time.Now()
	res, err := h.cfg.Transport.RoundTrip(out)
	h.cfg.Observer.Upstream("api", time.Since(start))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer res.Body.Close()
	removeHop(res.Header)
	res.Header.Del("Set-Cookie") // the upstream's cookies are not for this origin; ours (Ahead) stay
	hdr := w.Header()
	for k, vv := range res.Header {
		hdr[k] = vv
	}
	h.cfg.Observer.Proxied(res.StatusCode)
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body) // the status is out: a broken copy has no one to tell
}

// target is the upstream URL for an /api URL.
func (h handler) target(in *url.URL) *url.URL {
	u := *h.cfg.Upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + strings.TrimPrefix(in.Path, Prefix)
	u.RawPath = ""
	if in.RawPath != "" {
		u.RawPath = strings.TrimSuffix(h.cfg.Upstream.EscapedPath(), "/") + strings.TrimPrefix(in.RawPath, Prefix)
	}
	u.RawQuery = in.RawQuery
	return &u
}

// requestHeader is the header sent upstream: the browser's, without
// hop-by-hop headers, cookies, the CSRF header or any Authorization, with
// the session's bearer token and X-Forwarded-*.
func requestHeader(r *http.Request) http.Header {
	h := r.Header.Clone()
	removeHop(h)
	for _, k := range []string{"Cookie", csrf.Header, "Authorization", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		h.Del(k)
	}
	if token := session.Read(r, session.AccessCookie); token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h.Set("X-Forwarded-For", ip)
	}
	h.Set("X-Forwarded-Host", r.Host)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
	return h
}

// removeHop deletes the hop-by-hop headers and those that Connection names.
func removeHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// fail answers a call that got no answer: 504 for a timeout, 502 otherwise,
// nothing when the client has left.
func (h handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	status, code := http.StatusBadGateway, "upstream_unreachable"
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		status, code = http.StatusGatewayTimeout, "upstream_timeout"
	}
	h.cfg.Observer.Proxied(status)
	apierr.Write(w, status, code, "the API could not be reached; try again")
}
