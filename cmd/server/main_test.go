package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *config)
		wantErr string
	}{
		{"defaults", nil, nil, func(t *testing.T, c *config) {
			assert.Equal(t, "127.0.0.1:8080", c.addr)
			assert.Nil(t, c.upstreamParsed)
			assert.Equal(t, time.Minute, c.accessTTL)
			assert.Equal(t, time.Hour, c.accessMaxAge)
			assert.Equal(t, 7*24*time.Hour, c.refreshMaxAge)
			assert.False(t, c.insecure)
		}, ""},
		{"environment", nil, map[string]string{"FWR_ADDR": ":9000", "FWR_ACCESS_TTL": "5s", "FWR_INSECURE_COOKIES": "true", "FWR_UPSTREAM": "https://api.example.test/v1"}, func(t *testing.T, c *config) {
			assert.Equal(t, ":9000", c.addr)
			assert.Equal(t, 5*time.Second, c.accessTTL)
			assert.True(t, c.insecure)
			assert.Equal(t, "api.example.test", c.upstreamParsed.Host)
		}, ""},
		{"flags beat the environment", []string{"-addr", ":7000"}, map[string]string{"FWR_ADDR": ":9000"}, func(t *testing.T, c *config) {
			assert.Equal(t, ":7000", c.addr)
		}, ""},
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
			c, err := parseConfig(tt.args, env(tt.env), io.Discard)
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
	_, err := parseConfig([]string{"-h"}, env(nil), &out)
	require.Error(t, err)
	for _, flag := range []string{"-addr", "-upstream", "-access-ttl", "-refresh-ttl", "-refresh-grace", "-access-cookie-max-age", "-refresh-cookie-max-age", "-insecure-cookies", "FWR_"} {
		assert.Contains(t, out.String(), flag)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The whole server: demo upstream, login, proxy, metrics, logs without
// secrets, and a graceful shutdown.
func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-www", t.TempDir(), "-js", t.TempDir()}, env(nil), &logs, ready)
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatal(err)
	}

	client := http.DefaultClient
	req, _ := http.NewRequest("POST", base+"/api/auth/login", strings.NewReader(`{"username":"demo","password":"demo"}`))
	req.Header.Set("X-CSRF", "1")
	res, err := client.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	tokens := res.Cookies()
	require.NotEmpty(t, tokens)

	req, _ = http.NewRequest("GET", base+"/api/departments?secret=q", nil)
	req.Header.Set("X-CSRF", "1")
	for _, c := range tokens {
		req.AddCookie(c)
	}
	res, err = client.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)

	res, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Contains(t, string(metrics), `fwr_auth_requests_total{endpoint="login",outcome="ok"} 1`)
	assert.Contains(t, string(metrics), `fwr_proxied_requests_total{status="200"} 1`)
	assert.Contains(t, string(metrics), `fwr_upstream_duration_seconds_count{route="api"} 1`)

	res, err = http.Get(base + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)

	cancel()
	require.NoError(t, <-done)
	out := logs.String()
	assert.Contains(t, out, "path=/api/departments")
	assert.NotContains(t, out, "secret=q", "queries are not logged")
	for _, c := range tokens {
		if c.Value != "" {
			assert.NotContains(t, out, c.Value, "a token in the log")
		}
	}
	assert.Contains(t, out, "shutting down")
}
