package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/syncbuf"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The whole server: demo upstream, login, proxy, metrics, logs without
// secrets, and a graceful shutdown.
func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncbuf.Buffer
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-access-log", "-www", t.TempDir(), "-js", t.TempDir()}, env(nil), &logs, ready)
	}()
	var at listening
	select {
	case at = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	base := at.base

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
	res.Body.Close()
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "no metrics on the public listener")
	require.NotEqual(t, base, at.metrics)
	res, err = http.Get(at.metrics + "/metrics")
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

// No metrics listener unless asked for: by default, with "" and with
// "none" (how an environment says it).
func TestRunWithoutMetrics(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
	}{
		{nil, nil}, {[]string{"-metrics-addr", ""}, nil}, {nil, map[string]string{"FWR_METRICS_ADDR": "none"}},
		{[]string{"-metrics-addr", "none"}, map[string]string{"FWR_METRICS_ADDR": "127.0.0.1:1"}},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan listening, 1)
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, tt.args...), env(tt.env), io.Discard, ready)
		}()
		select {
		case at := <-ready:
			assert.Empty(t, at.metrics, "%v %v", tt.args, tt.env)
		case err := <-done:
			t.Fatal(err)
		}
		cancel()
		require.NoError(t, <-done)
	}
}

// An -metrics-addr that is taken names the flag.
func TestRunWithMetricsPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err = run(context.Background(), []string{"-addr", "127.0.0.1:0", "-metrics-addr", ln.Addr().String()}, env(nil), io.Discard, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-metrics-addr")
}

// An -upstream URL with credentials is logged without its password.
func TestRunLogsUpstreamWithoutPassword(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncbuf.Buffer
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "", "-upstream", "http://api:s3cr3t-pw@127.0.0.1:1/"},
			env(nil), &logs, ready)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	cancel()
	require.NoError(t, <-done)
	out := logs.String()
	assert.Contains(t, out, "api:xxxxx@127.0.0.1:1", "the upstream is logged, redacted")
	assert.NotContains(t, out, "s3cr3t-pw")
}

// The demo's pages are mounted in demo mode only: with -upstream set,
// GET /departments and GET /login answer 404, and the BFF is still there.
func TestDemoPagesOnlyInDemoMode(t *testing.T) {
	api := httptest.NewServer(http.NotFoundHandler())
	defer api.Close()
	www := t.TempDir()
	tests := []struct {
		name               string
		args               []string
		departments, login int
	}{
		{"demo mode", nil, http.StatusSeeOther, http.StatusSeeOther}, // no session: to the login form
		{"with -upstream", []string{"-upstream", api.URL}, http.StatusNotFound, http.StatusNotFound},
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan listening, 1)
			done := make(chan error, 1)
			args := append([]string{"-addr", "127.0.0.1:0", "-metrics-addr", "", "-www", www, "-js", www}, tt.args...)
			go func() { done <- run(ctx, args, env(nil), io.Discard, ready) }()
			var at listening
			select {
			case at = <-ready:
			case err := <-done:
				t.Fatal(err)
			}
			for path, want := range map[string]int{"/departments": tt.departments, "/login": tt.login, "/healthz": http.StatusOK} {
				res, err := noRedirect.Get(at.base + path)
				require.NoError(t, err)
				res.Body.Close()
				assert.Equal(t, want, res.StatusCode, path)
			}
			cancel()
			require.NoError(t, <-done)
		})
	}
}

// The upstream transport: a pool sized for a proxy, and HTTP/2 to a TLS
// upstream.
func TestTransport(t *testing.T) {
	tr := newTransport()
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 64)
	assert.NotZero(t, tr.TLSHandshakeTimeout)
	assert.NotZero(t, tr.IdleConnTimeout)
	assert.True(t, tr.DisableCompression, "encodings pass through")

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	res, err := (&http.Client{Transport: tr}).Get(srv.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	assert.Equal(t, "HTTP/2.0", string(body))
}

// blockingWriter holds every write until released.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	b       bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// A log output that does not keep up never holds a request: lines queue,
// then are dropped and counted.
func TestAsyncLogNeverBlocks(t *testing.T) {
	out := &blockingWriter{release: make(chan struct{})}
	a := newAsyncWriter(out, 4)
	for i := range 100 { // would block at the first line if writes were synchronous
		_, err := a.Write([]byte("line " + strconv.Itoa(i) + "\n"))
		require.NoError(t, err)
	}
	close(out.release)
	a.Flush()
	_, err := a.Write([]byte("after\n"))
	require.NoError(t, err)
	a.Flush()
	out.mu.Lock()
	got := out.b.String()
	out.mu.Unlock()
	assert.Contains(t, got, "line 0\n")
	assert.Contains(t, got, "log lines dropped")
	assert.Contains(t, got, "after\n")
}

// OpenID Connect mode: the server discovers the provider at start-up and
// refuses to start when it cannot.
func TestRunOIDCMode(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	provider := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k", Algorithm: "RS256"}}}
	srv := httptest.NewServer(provider)
	defer srv.Close()
	provider.SetIssuer(srv.URL)
	args := []string{"-addr", "127.0.0.1:0", "-metrics-addr", "", "-www", t.TempDir(), "-js", t.TempDir(), "-upstream", "http://127.0.0.1:1",
		"-oidc-issuer", srv.URL, "-oidc-client-id", "app", "-public-url", "http://app.example.test"}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncbuf.Buffer
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, env(map[string]string{"FWR_OIDC_CLIENT_SECRET": "s3cret"}), &logs, ready)
	}()
	var base string
	select {
	case at := <-ready:
		base = at.base
	case err := <-done:
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/api/auth/config", nil)
	req.Header.Set("X-CSRF", "1")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.JSONEq(t, `{"mode":"oidc","loginURL":"/auth/login"}`, string(body))
	res, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(base + "/auth/login")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusFound, res.StatusCode)
	assert.True(t, strings.HasPrefix(res.Header.Get("Location"), srv.URL+"/auth?"))
	assert.NotContains(t, logs.String(), "s3cret")
	cancel()
	require.NoError(t, <-done)

	srv.Close() // the provider is gone: the server does not start
	err = run(context.Background(), args, env(nil), io.Discard, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "discovery")
}
