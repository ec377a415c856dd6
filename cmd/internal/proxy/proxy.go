// Package proxy forwards /api/{path} to {upstream}/{path} with the access
// token from the session cookie as a bearer token. The browser's cookies
// never reach the upstream, and the upstream's cookies never reach the
// browser.
package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
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

// Config configures the proxy. Upstream is required.
type Config struct {
	// Upstream is the base URL the calls go to.
	Upstream *url.URL
	// Transport sends the calls. If nil, http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds each call, its response body included. If zero, 30
	// seconds.
	Timeout time.Duration
	// Observer is told each call's status and latency. If nil, nothing is.
	Observer observe.Observer
}

// New returns the proxy handler.
func New(cfg Config) http.Handler {
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = observe.Nop{}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, Prefix)
			pr.Out.URL.RawPath = strings.TrimPrefix(pr.In.URL.RawPath, Prefix)
			pr.SetURL(cfg.Upstream)
			pr.Out.Host = cfg.Upstream.Host
			h := pr.Out.Header
			h.Del("Cookie")
			h.Del(csrf.Header)
			h.Del("Authorization") // only the session's token is sent
			if token := session.Read(pr.In, session.AccessCookie); token != "" {
				h.Set("Authorization", "Bearer "+token)
			}
		},
		Transport: observed{cfg.Transport, cfg.Observer},
		ModifyResponse: func(res *http.Response) error {
			res.Header.Del("Set-Cookie") // the upstream's cookies are not for this origin
			cfg.Observer.Proxied(res.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, code := http.StatusBadGateway, "upstream_unreachable"
			var netErr net.Error
			if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
				status, code = http.StatusGatewayTimeout, "upstream_timeout"
			}
			if errors.Is(r.Context().Err(), context.Canceled) { // the client left
				return
			}
			cfg.Observer.Proxied(status)
			apierr.Write(w, status, code, "the API could not be reached; try again")
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), cfg.Timeout)
		defer cancel()
		rp.ServeHTTP(w, r.WithContext(ctx))
	})
}

// observed reports each round trip's latency.
type observed struct {
	next http.RoundTripper
	obs  observe.Observer
}

func (o observed) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := o.next.RoundTrip(r)
	o.obs.Upstream("api", time.Since(start))
	return res, err
}
