package config

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/static"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Session keys of the tests.
const (
	testKey  = "c2Vzc2lvbi1rZXktZm9yLXRoZS1leGFtcGxlLTMyYiE="
	otherKey = "bXVsdGl0ZXN0LXNlc3Npb24ta2V5LTMyLWJ5dGVzISE="
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{"defaults", nil, nil, func(t *testing.T, c *Config) {
			assert.Equal(t, "127.0.0.1:8080", c.Addr)
			assert.Nil(t, c.Upstream)
			assert.Equal(t, time.Minute, c.AccessTTL)
			assert.Equal(t, time.Hour, c.AccessMaxAge)
			assert.Equal(t, 7*24*time.Hour, c.RefreshMaxAge)
			assert.False(t, c.Insecure)
			assert.Empty(t, c.MetricsAddr, "no metrics listener unless asked for")
			assert.Empty(t, c.TrustedProxies)
			assert.Empty(t, c.Redis)
			assert.True(t, c.RefreshRotate)
		}, ""},
		{"metrics off, trusted proxies", []string{"-metrics-addr", "", "-trusted-proxies", "10.0.0.0/8, 192.168.1.7,::1"}, nil, func(t *testing.T, c *Config) {
			assert.Empty(t, c.MetricsAddr)
			require.Len(t, c.TrustedProxies, 3)
			assert.Equal(t, "10.0.0.0/8", c.TrustedProxies[0].String())
			assert.Equal(t, "192.168.1.7/32", c.TrustedProxies[1].String())
			assert.Equal(t, "::1/128", c.TrustedProxies[2].String())
		}, ""},
		{"bad trusted proxy", []string{"-trusted-proxies", "10.0.0.0/33"}, nil, nil, "-trusted-proxies"},
		{"trusted proxies from the environment", nil, map[string]string{"FWR_TRUSTED_PROXIES": "nope"}, nil, "-trusted-proxies"},
		{"redis from the environment", nil, map[string]string{"FWR_REDIS": "redis://127.0.0.1:6379/0", "FWR_REFRESH_ROTATE": "false", "FWR_SESSION_KEYS": testKey}, func(t *testing.T, c *Config) {
			assert.Equal(t, "redis://127.0.0.1:6379/0", c.Redis)
			assert.False(t, c.RefreshRotate)
		}, ""},
		{"redis flag", []string{"-redis", "rediss://user:pw@cache.example.test:6380/2", "-session-keys", testKey}, nil, func(t *testing.T, c *Config) {
			assert.Equal(t, "rediss://user:pw@cache.example.test:6380/2", c.Redis)
		}, ""},
		{"redis without scheme", []string{"-redis", "127.0.0.1:6379"}, nil, nil, "redis:// or rediss://"},
		{"redis cluster", []string{"-redis", "redis://127.0.0.1:7000?addr=127.0.0.1:7001", "-redis-cluster", "-session-keys", testKey}, nil, func(t *testing.T, c *Config) {
			assert.True(t, c.RedisCluster)
		}, ""},
		{"redis cluster without redis", []string{"-redis-cluster"}, nil, nil, "-redis-cluster needs -redis"},
		{"page policy: the default", nil, nil, func(t *testing.T, c *Config) {
			assert.Equal(t, static.CSP, c.CSP)
			assert.False(t, c.SPA)
		}, ""},
		{"page policy: none, a single-page app", []string{"-csp", "", "-spa"}, nil, func(t *testing.T, c *Config) {
			assert.Empty(t, c.CSP)
			assert.True(t, c.SPA)
		}, ""},
		{"page policy from the environment", nil, map[string]string{"FWR_CSP": "none", "FWR_SPA": "true"}, func(t *testing.T, c *Config) {
			assert.Empty(t, c.CSP, "an environment says none with \"none\"")
			assert.True(t, c.SPA)
		}, ""},
		{"page policy of the operator", []string{"-csp", "default-src 'self' https://cdn.example.com"}, nil, func(t *testing.T, c *Config) {
			assert.Equal(t, "default-src 'self' https://cdn.example.com", c.CSP)
		}, ""},
		{"redis without session keys", []string{"-redis", "redis://127.0.0.1:6379"}, nil, nil, "-session-keys (FWR_SESSION_KEYS) is required"},
		{"session keys", []string{"-session-keys", testKey + "," + otherKey, "-session-claims", "sub name"}, nil, func(t *testing.T, c *Config) {
			require.NotNil(t, c.SessionKeys)
			assert.Equal(t, []string{"sub", "name"}, c.SessionClaims)
			b := c.BFF()
			assert.Same(t, c.SessionKeys, b.Cookies.Keys)
			assert.Equal(t, []string{"sub", "name"}, b.Cookies.Claims)
		}, ""},
		{"a bad session key", []string{"-session-keys", testKey + ",c2hvcnQ="}, nil, nil, "-session-keys: cookies: session keys: key 2 is not 32 bytes"},
		{"redis over http", []string{"-redis", "http://127.0.0.1:6379"}, nil, nil, "redis:// or rediss://"},
		{"environment", nil, map[string]string{"FWR_ADDR": ":9000", "FWR_ACCESS_TTL": "5s", "FWR_INSECURE_COOKIES": "true", "FWR_UPSTREAM": "https://api.example.test/v1"}, func(t *testing.T, c *Config) {
			assert.Equal(t, ":9000", c.Addr)
			assert.Equal(t, 5*time.Second, c.AccessTTL)
			assert.True(t, c.Insecure)
			assert.Equal(t, "api.example.test", c.Upstream.Host)
		}, ""},
		{"flags beat the environment", []string{"-addr", ":7000"}, map[string]string{"FWR_ADDR": ":9000"}, func(t *testing.T, c *Config) {
			assert.Equal(t, ":7000", c.Addr)
		}, ""},
		{"OIDC mode", []string{"-oidc-issuer", "https://id.example.test/realms/x", "-oidc-client-id", "app", "-public-url", "https://app.example.test", "-upstream", "https://api.example.test"},
			map[string]string{"FWR_OIDC_CLIENT_SECRET": "s3cret"}, func(t *testing.T, c *Config) {
				assert.Equal(t, "https://id.example.test/realms/x", c.OIDC.Issuer)
				assert.Equal(t, "app", c.OIDC.ClientID)
				assert.Equal(t, "s3cret", c.OIDC.ClientSecret)
				assert.Equal(t, []string{"openid", "offline_access"}, c.OIDC.Scopes)
				assert.Equal(t, "app.example.test", c.OIDC.PublicURL.Host)
				assert.Empty(t, c.OIDC.Audience)
			}, ""},
		{"OIDC scopes", []string{"-oidc-issuer", "https://id.example.test", "-oidc-client-id", "app", "-public-url", "https://app.example.test", "-upstream", "https://api.example.test", "-oidc-scopes", "openid  profile offline_access"},
			nil, func(t *testing.T, c *Config) {
				assert.Equal(t, []string{"openid", "profile", "offline_access"}, c.OIDC.Scopes)
			}, ""},
		{"OIDC audience", []string{"-oidc-issuer", "https://id.example.test", "-oidc-client-id", "app", "-public-url", "https://app.example.test", "-upstream", "https://api.example.test"},
			map[string]string{"FWR_OIDC_AUDIENCE": "https://api.example.test/"}, func(t *testing.T, c *Config) {
				assert.Equal(t, "https://api.example.test/", c.OIDC.Audience)
			}, ""},
		{"OIDC off by default", nil, nil, func(t *testing.T, c *Config) { assert.Empty(t, c.OIDC.Issuer) }, ""},
		{"OIDC without client", []string{"-oidc-issuer", "https://id.example.test", "-public-url", "https://app.example.test"}, nil, nil, "-oidc-client-id"},
		{"OIDC without public URL", []string{"-oidc-issuer", "https://id.example.test", "-oidc-client-id", "app"}, nil, nil, "-public-url"},
		{"OIDC relative public URL", []string{"-oidc-issuer", "https://id.example.test", "-oidc-client-id", "app", "-public-url", "/app"}, nil, nil, "-public-url"},
		{"OIDC bad issuer", []string{"-oidc-issuer", "id.example.test", "-oidc-client-id", "app", "-public-url", "https://app.example.test"}, nil, nil, "-oidc-issuer"},
		{"OIDC without upstream", []string{"-oidc-issuer", "https://id.example.test", "-oidc-client-id", "app", "-public-url", "https://app.example.test"}, nil, nil, "-upstream"},
		{"OIDC no scopes", []string{"-oidc-issuer", "https://id.example.test", "-oidc-client-id", "app", "-public-url", "https://app.example.test", "-oidc-scopes", " "}, nil, nil, "-oidc-scopes"},
		{"bad environment value", nil, map[string]string{"FWR_ACCESS_TTL": "soon"}, nil, "FWR_ACCESS_TTL"},
		{"relative upstream", []string{"-upstream", "/api"}, nil, nil, "absolute http(s) URL"},
		{"ftp upstream", []string{"-upstream", "ftp://x"}, nil, nil, "absolute http(s) URL"},
		{"zero ttl", []string{"-access-ttl", "0s"}, nil, nil, "-access-ttl must be positive"},
		{"negative grace", []string{"-refresh-grace", "-1s"}, nil, nil, "-refresh-grace"},
		{"stray argument", []string{"serve"}, nil, nil, "unexpected arguments"},
		{"unknown flag", []string{"-nope"}, nil, nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, err := Parse([]string{"-h"}, env(nil), &out)
	require.Error(t, err)
	for _, flag := range []string{"-addr", "-upstream", "-access-ttl", "-refresh-ttl", "-refresh-grace", "-access-cookie-max-age", "-refresh-cookie-max-age", "-insecure-cookies", "-redis", "-refresh-rotate", "FWR_"} {
		assert.Contains(t, out.String(), flag)
	}
}

// The timeouts nest: the server gives up on a hanging auth server (and
// answers 504) before the browser module gives up on the refresh call.
func TestAuthTimeoutDefaultIsBelowTheModules(t *testing.T) {
	c, err := Parse(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Less(t, c.AuthTimeout, refresh.DefaultTimeout)
	assert.GreaterOrEqual(t, refresh.DefaultTimeout-c.AuthTimeout, time.Second, "a margin for the lock wait and the network")
}
