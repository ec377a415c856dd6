// Package config reads the server's settings from flags and FWR_
// environment variables. The native server (cmd/server) passes its command
// line and os.Getenv; the Workers entry (cmd/worker) passes no arguments and
// the Worker's variables, so both read the same names with the same
// defaults.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/forwarded"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/static"
)

// Config is the server's configuration. The fields are named after the
// flags (see Parse).
type Config struct {
	Addr          string
	Upstream      *url.URL // nil: the embedded demo upstream
	DemoAddr      string
	AccessTTL     time.Duration
	RefreshTTL    time.Duration
	RefreshGrace  time.Duration
	RefreshRotate bool
	Redis         string // empty: absorption in process only
	RedisCluster  bool   // Redis names a cluster's seed nodes
	AccessMaxAge  time.Duration
	RefreshMaxAge time.Duration
	Insecure      bool
	WWWDir, JSDir string
	SPA           bool   // a deep link under / gets www's index.html
	CSP           string // the Content-Security-Policy of www's pages; empty: none
	AuthTimeout   time.Duration
	ProxyTimeout  time.Duration
	LogJSON       bool
	AccessLog     bool
	// MetricsAddr is where Prometheus metrics are served; "" serves none.
	MetricsAddr string
	// TrustedProxies lists the front proxies whose X-Forwarded-* headers
	// are believed.
	TrustedProxies forwarded.Trusted
	// OIDC is the OpenID Connect mode's settings.
	OIDC OIDC
	// SessionKeys seal the session cookies; nil when -session-keys is
	// empty (the host decides: a key of its own, or an error).
	SessionKeys *cookies.Keys
	// SessionClaims names the claims about the user a session keeps.
	SessionClaims []string
	// ForwardHeaders names the app's own request headers the proxy passes
	// upstream.
	ForwardHeaders []string
}

// ErrNoSessionKeys is the error of a configuration that needs
// -session-keys and has none: several instances, or a Worker, must share
// their keys.
var ErrNoSessionKeys = errors.New("-session-keys (FWR_SESSION_KEYS) is required with several instances and on Workers: " +
	"every instance must open the sessions the others seal; make a key with `openssl rand -base64 32`")

// Parse reads args, with environment variables (FWR_ and the flag's name
// in upper case, dashes as underscores) as defaults that flags override.
// getenv is os.Getenv natively. Usage and errors of the flags go to out;
// -h returns flag.ErrHelp.
func Parse(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	c := &Config{}
	var upstream, trusted, sessionKeys, sessionClaims, forwardHeaders string
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "`address` to listen on")
	fs.StringVar(&upstream, "upstream", "", "base `URL` of the upstream API and auth server (empty: the embedded demo upstream; login demo / demo)")
	fs.StringVar(&c.DemoAddr, "demo-addr", "127.0.0.1:0", "`address` of the embedded demo upstream, when -upstream is empty")
	fs.DurationVar(&c.AccessTTL, "access-ttl", time.Minute, "demo upstream: access token lifetime")
	fs.DurationVar(&c.RefreshTTL, "refresh-ttl", 24*time.Hour, "demo upstream: refresh token lifetime")
	fs.DurationVar(&c.RefreshGrace, "refresh-grace", 0, "demo upstream: how long a rotated refresh token may be reused (0: any reuse revokes the session)")
	fs.BoolVar(&c.RefreshRotate, "refresh-rotate", true, "demo upstream: rotate refresh tokens on every refresh (false: the same refresh token comes back, as Keycloak does by default)")
	fs.StringVar(&c.Redis, "redis", "", "Redis `URL` shared by every instance to absorb duplicate refreshes across them: one node (redis://host:port/db, rediss:// for TLS), a Sentinel set (redis://sentinel1:26379/db?master_name=mymaster&addr=sentinel2:26379), or with -redis-cluster a cluster's seed nodes (redis://node1:7000?addr=node2:7001) (empty: per instance)")
	fs.BoolVar(&c.RedisCluster, "redis-cluster", false, "-redis names the seed nodes of a Redis Cluster")
	fs.DurationVar(&c.AccessMaxAge, "access-cookie-max-age", time.Hour, "no longer used: the access token lives in the sealed session, whose cookies last -refresh-cookie-max-age (accepted, for old command lines)")
	fs.DurationVar(&c.RefreshMaxAge, "refresh-cookie-max-age", 7*24*time.Hour, "Max-Age of the session cookies, and how long a session opens at most")
	fs.BoolVar(&c.Insecure, "insecure-cookies", false, "drop the Secure cookie attribute and the __Host- prefix of the cookie names (plain-http development only)")
	fs.StringVar(&c.WWWDir, "www", "www", "`directory` served at /")
	fs.StringVar(&c.JSDir, "js", "js", "`directory` served at /js/")
	fs.StringVar(&c.CSP, "csp", static.CSP, "the Content-Security-Policy `policy` of the pages served from -www (\"\" or \"none\": none, the app sets its own); the default allows this origin and the module only")
	fs.BoolVar(&c.SPA, "spa", false, "serve -www as a single-page app: a GET for a path with no file and no extension that accepts text/html gets /index.html (never under /api/ or /auth/)")
	fs.DurationVar(&c.AuthTimeout, "auth-timeout", bff.DefaultAuthTimeout, "timeout of a login or refresh call to the upstream (keep it below the browser module's refreshTimeoutMs, 10s by default)")
	fs.DurationVar(&c.ProxyTimeout, "proxy-timeout", 30*time.Second, "timeout of a proxied call")
	fs.BoolVar(&c.LogJSON, "log-json", false, "log JSON lines instead of text")
	fs.BoolVar(&c.AccessLog, "access-log", false, "log a line per request (method, path, status, size, duration; never the query or headers); off by default, as it costs a busy proxy about a third of its throughput")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "`address` of the Prometheus /metrics listener, kept off the public one, such as 127.0.0.1:9464 (empty or \"none\": no metrics listener; any fixed default would clash with another exporter or a second instance on the host)")
	fs.StringVar(&trusted, "trusted-proxies", "", "comma-separated `CIDRs` of front proxies whose X-Forwarded-For, -Proto and -Host are believed (empty: none)")
	fs.StringVar(&sessionKeys, "session-keys", "", "comma-separated base64 32-byte `keys` that seal the session cookies: the first seals, all open (rotate by putting a new key first); make one with `openssl rand -base64 32` (prefer FWR_SESSION_KEYS: a flag shows in the process list). Empty: a key made at start, which a restart loses")
	fs.StringVar(&sessionClaims, "session-claims", strings.Join(cookies.DefaultClaims, " "), "the claims about the user a session keeps and GET /api/auth/session shows, separated by spaces (from the ID token, or the JSON upstream's \"user\" object)")
	fs.StringVar(&forwardHeaders, "forward-headers", "", "the app's own request `headers` (comma- or space-separated, such as X-Tenant) that the proxy passes upstream besides its allowlist (content negotiation, conditionals, caching, tracing); every other header of the browser's stays here")
	finishOIDC := oidcFlags(fs, &c.OIDC)
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: server [flags]\n\nThe fetch-with-refresh backend-for-frontend: auth endpoints, API proxy, static files.\nEvery flag can also be set with an FWR_ environment variable (-access-ttl: FWR_ACCESS_TTL); flags win.\n\nFlags:")
		fs.PrintDefaults()
	}

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "FWR_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if upstream != "" {
		u, err := url.Parse(upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("-upstream %q: want an absolute http(s) URL", upstream)
		}
		c.Upstream = u
	}
	if c.TrustedProxies, err = forwarded.Parse(trusted); err != nil {
		return nil, fmt.Errorf("-trusted-proxies: %w", err)
	}
	for name, d := range map[string]time.Duration{
		"access-ttl": c.AccessTTL, "refresh-ttl": c.RefreshTTL, "access-cookie-max-age": c.AccessMaxAge,
		"refresh-cookie-max-age": c.RefreshMaxAge, "auth-timeout": c.AuthTimeout, "proxy-timeout": c.ProxyTimeout,
	} {
		if d <= 0 {
			return nil, fmt.Errorf("-%s must be positive, got %s", name, d)
		}
	}
	if err := finishOIDC(); err != nil {
		return nil, err
	}
	if c.OIDC.Issuer != "" && c.Upstream == nil {
		return nil, errors.New("-oidc-issuer needs -upstream, the API that accepts the provider's access tokens (the embedded demo upstream accepts only its own)")
	}
	if c.Redis != "" {
		u, err := url.Parse(c.Redis)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return nil, errors.New("-redis: want a redis:// or rediss:// URL") // not echoed: it may hold a password
		}
	} else if c.RedisCluster {
		return nil, errors.New("-redis-cluster needs -redis, the cluster's seed nodes")
	}
	if sessionKeys != "" {
		if c.SessionKeys, err = cookies.ParseKeys(sessionKeys); err != nil {
			return nil, fmt.Errorf("-session-keys: %w", err)
		}
	} else if c.Redis != "" {
		return nil, ErrNoSessionKeys
	}
	c.SessionClaims = strings.Fields(sessionClaims)
	c.ForwardHeaders = strings.FieldsFunc(forwardHeaders, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if c.MetricsAddr == "none" { // an environment cannot set a flag to "" over a non-empty FWR_METRICS_ADDR
		c.MetricsAddr = ""
	}
	if c.CSP == "none" { // nor FWR_CSP to ""
		c.CSP = ""
	}
	if c.RefreshGrace < 0 {
		return nil, fmt.Errorf("-refresh-grace must not be negative, got %s", c.RefreshGrace)
	}
	return c, nil
}

// BFF returns the bff.Config these settings describe, without what only a
// host can provide (Transport, Store, Logger, Observer) and with the
// demo's upstream left to the host when Upstream is nil.
func (c *Config) BFF() bff.Config {
	b := bff.Config{
		Upstream:     c.Upstream,
		AuthTimeout:  c.AuthTimeout,
		ProxyTimeout: c.ProxyTimeout,
		Cookies: cookies.Codec{Keys: c.SessionKeys, Claims: c.SessionClaims,
			RefreshMaxAge: c.RefreshMaxAge, Insecure: c.Insecure},
		TrustedProxies: c.TrustedProxies,
		ForwardHeaders: c.ForwardHeaders,
	}
	if o := c.OIDC; o.Issuer != "" {
		b.OIDC = &bff.OIDC{
			Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
			Scopes: o.Scopes, Audience: o.Audience, PublicURL: o.PublicURL,
		}
	}
	return b
}
