package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// config is the server's configuration, from flags and FWR_ variables.
type config struct {
	addr           string
	upstream       string
	demoAddr       string
	accessTTL      time.Duration
	refreshTTL     time.Duration
	refreshGrace   time.Duration
	accessMaxAge   time.Duration
	refreshMaxAge  time.Duration
	insecure       bool
	wwwDir, jsDir  string
	authTimeout    time.Duration
	proxyTimeout   time.Duration
	logJSON        bool
	upstreamParsed *url.URL // from upstream; nil for the demo upstream
}

// parseConfig reads args, with environment variables (FWR_ and the flag's
// name in upper case, dashes as underscores) as defaults that flags
// override. getenv is os.Getenv in production.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`address` to listen on")
	fs.StringVar(&c.upstream, "upstream", "", "base `URL` of the upstream API and auth server (empty: the embedded demo upstream; login demo / demo)")
	fs.StringVar(&c.demoAddr, "demo-addr", "127.0.0.1:0", "`address` of the embedded demo upstream, when -upstream is empty")
	fs.DurationVar(&c.accessTTL, "access-ttl", time.Minute, "demo upstream: access token lifetime")
	fs.DurationVar(&c.refreshTTL, "refresh-ttl", 24*time.Hour, "demo upstream: refresh token lifetime")
	fs.DurationVar(&c.refreshGrace, "refresh-grace", 0, "demo upstream: how long a rotated refresh token may be reused (0: any reuse revokes the session)")
	fs.DurationVar(&c.accessMaxAge, "access-cookie-max-age", time.Hour, "Max-Age of the accessToken cookie")
	fs.DurationVar(&c.refreshMaxAge, "refresh-cookie-max-age", 7*24*time.Hour, "Max-Age of the refreshToken cookie")
	fs.BoolVar(&c.insecure, "insecure-cookies", false, "drop the Secure cookie attribute (plain-http development only)")
	fs.StringVar(&c.wwwDir, "www", "www", "`directory` served at /")
	fs.StringVar(&c.jsDir, "js", "js", "`directory` served at /js/")
	fs.DurationVar(&c.authTimeout, "auth-timeout", 10*time.Second, "timeout of a login or refresh call to the upstream")
	fs.DurationVar(&c.proxyTimeout, "proxy-timeout", 30*time.Second, "timeout of a proxied call")
	fs.BoolVar(&c.logJSON, "log-json", false, "log JSON lines instead of text")
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
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.upstream != "" {
		u, err := url.Parse(c.upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("-upstream %q: want an absolute http(s) URL", c.upstream)
		}
		c.upstreamParsed = u
	}
	for name, d := range map[string]time.Duration{
		"access-ttl": c.accessTTL, "refresh-ttl": c.refreshTTL, "access-cookie-max-age": c.accessMaxAge,
		"refresh-cookie-max-age": c.refreshMaxAge, "auth-timeout": c.authTimeout, "proxy-timeout": c.proxyTimeout,
	} {
		if d <= 0 {
			return nil, fmt.Errorf("-%s must be positive, got %s", name, d)
		}
	}
	if c.refreshGrace < 0 {
		return nil, fmt.Errorf("-refresh-grace must not be negative, got %s", c.refreshGrace)
	}
	return c, nil
}
