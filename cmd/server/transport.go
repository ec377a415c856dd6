package main

import (
	"net"
	"net/http"
	"time"
)

// Connection pool sizes of the upstream transport. A proxy holds one
// upstream connection per call in flight: http.DefaultTransport keeps 2
// idle per host and opens (and closes) the rest on every burst.
const (
	maxIdlePerHost = 512
	maxIdle        = 1024
)

// newTransport returns the transport of every upstream call: the default
// transport's settings (proxy from the environment, HTTP/2 to TLS
// upstreams) with a pool sized for a proxy's concurrency, bounded dial,
// TLS and idle times, and no transparent gzip (a proxy passes the
// browser's Accept-Encoding and the upstream's encoding through as they
// are).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ForceAttemptHTTP2 = true
	t.MaxIdleConns = maxIdle
	t.MaxIdleConnsPerHost = maxIdlePerHost
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.DisableCompression = true
	return t
}
