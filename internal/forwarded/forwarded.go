// Package forwarded decides what a request says about its client: the
// address, scheme and host it came to. By default only the connection is
// believed; a request from one of the Trusted proxies (the -trusted-proxies
// CIDR list: a TLS terminator or load balancer in front) may state them in
// X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host.
package forwarded

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trusted is a list of networks whose X-Forwarded-* headers are believed.
// The zero value trusts no one.
type Trusted []netip.Prefix

// Parse reads a comma-separated CIDR list ("10.0.0.0/8, 127.0.0.1/32");
// a bare address is a /32 or /128. An empty string is an empty list.
func Parse(list string) (Trusted, error) {
	var t Trusted
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
			}
			t = append(t, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		t = append(t, p.Masked())
	}
	return t, nil
}

// Client is what the server believes about a request's client.
type Client struct {
	// For is the X-Forwarded-For value to send upstream: the chain a
	// trusted proxy stated, followed by the connection's address.
	For string
	// Proto is "https" or "http".
	Proto string
	// Host is the host the client asked for.
	Host string
}

// Client returns what r says about its client: from the connection, or
// from the X-Forwarded-* headers when the connection comes from a trusted
// proxy.
func (t Trusted) Client(r *http.Request) Client {
	c := Client{Proto: "http", Host: r.Host}
	if r.TLS != nil || schemeInURL && r.URL.Scheme == "https" {
		c.Proto = "https"
	}
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	c.For = peer
	if !t.trusts(peer) {
		return c
	}
	if v := strings.Join(r.Header.Values("X-Forwarded-For"), ", "); v != "" {
		c.For = v + ", " + peer
	}
	if v := lastValue(r.Header.Get("X-Forwarded-Proto")); v == "http" || v == "https" {
		c.Proto = v
	}
	if v := lastValue(r.Header.Get("X-Forwarded-Host")); v != "" {
		c.Host = v
	}
	return c
}

// Host is the host the client asked for: Client(r).Host without building
// the rest.
func (t Trusted) Host(r *http.Request) string {
	if len(t) == 0 {
		return r.Host
	}
	return t.Client(r).Host
}

func (t Trusted) trusts(addr string) bool {
	if len(t) == 0 {
		return false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lastValue is the last element of a comma-separated header value: the one
// the nearest proxy added.
func lastValue(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
