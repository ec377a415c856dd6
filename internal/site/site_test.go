package site

import (
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/static"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func serve(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestStatic(t *testing.T) {
	mod := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	js := fstest.MapFS{
		"fetch-with-refresh.wasm":    {Data: []byte("raw wasm"), ModTime: mod},
		"fetch-with-refresh.wasm.br": {Data: []byte("br wasm"), ModTime: mod},
		"fetch-with-refresh.wasm.gz": {Data: []byte("gz wasm"), ModTime: mod},
		"fetch-with-refresh.mjs":     {Data: []byte("export {}"), ModTime: mod},
		"sub/x.txt":                  {Data: []byte("x"), ModTime: mod},
	}
	www := fstest.MapFS{"index.html": {Data: []byte("<!doctype html>"), ModTime: mod}}
	h := New(http.NotFoundHandler(), nil, Files{WWW: www, JS: js, CSP: static.CSP})

	get := func(path, acceptEncoding string) *http.Response {
		r := httptest.NewRequest("GET", path, nil)
		if acceptEncoding != "" {
			r.Header.Set("Accept-Encoding", acceptEncoding)
		}
		return serve(h, r)
	}
	tests := []struct {
		name, path, accept string
		status             int
		encoding, body     string
		contentType        string
	}{
		{"brotli preferred", "/js/fetch-with-refresh.wasm", "gzip, deflate, br", 200, "br", "br wasm", "application/wasm"},
		{"gzip", "/js/fetch-with-refresh.wasm", "gzip", 200, "gzip", "gz wasm", "application/wasm"},
		{"br refused with q=0", "/js/fetch-with-refresh.wasm", "br;q=0, gzip", 200, "gzip", "gz wasm", "application/wasm"},
		{"identity", "/js/fetch-with-refresh.wasm", "", 200, "", "raw wasm", "application/wasm"},
		{"module", "/js/fetch-with-refresh.mjs", "br", 200, "", "export {}", "text/javascript; charset=utf-8"},
		{"index", "/", "", 200, "", "<!doctype html>", "text/html; charset=utf-8"},
		{"no directory listing", "/js/sub/", "", 404, "", "", ""},
		{"directory", "/js/sub", "", 404, "", "", ""},
		{"sibling not served directly", "/js/fetch-with-refresh.wasm.br", "", 404, "", "", ""},
		{"missing", "/js/nope.js", "", 404, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(tt.path, tt.accept)
			assert.Equal(t, tt.status, res.StatusCode)
			if tt.status != 200 {
				return
			}
			body, _ := io.ReadAll(res.Body)
			assert.Equal(t, tt.body, string(body))
			assert.Equal(t, tt.encoding, res.Header.Get("Content-Encoding"))
			assert.Equal(t, tt.contentType, res.Header.Get("Content-Type"))
			assert.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
			assert.NotEmpty(t, res.Header.Get("ETag"))
			if strings.HasSuffix(tt.path, ".wasm") {
				assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
			}
		})
	}

	first := get("/js/fetch-with-refresh.wasm", "br")
	r := httptest.NewRequest("GET", "/js/fetch-with-refresh.wasm", nil)
	r.Header.Set("Accept-Encoding", "br")
	r.Header.Set("If-None-Match", first.Header.Get("ETag"))
	assert.Equal(t, http.StatusNotModified, serve(h, r).StatusCode)
	assert.NotEqual(t, first.Header.Get("ETag"), get("/js/fetch-with-refresh.wasm", "gzip").Header.Get("ETag"),
		"each encoding has its own ETag")
}

// The demo's pages are mounted in demo mode only: with a real upstream,
// GET /departments and GET /login are files of www like any other (404
// here), and the BFF's paths reach the BFF either way.
func TestDemoPagesOnlyInDemoMode(t *testing.T) {
	www := fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	demo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	tests := []struct {
		name, path string
		demo       http.Handler
		want       int
	}{
		{"demo: departments", "/departments", demo, http.StatusAccepted},
		{"demo: login", "/login", demo, http.StatusAccepted},
		{"upstream: departments", "/departments", nil, http.StatusNotFound},
		{"upstream: login", "/login", nil, http.StatusNotFound},
		{"upstream: api", "/api/departments", nil, http.StatusTeapot},
		{"upstream: auth pages", "/auth/login", nil, http.StatusTeapot},
		{"upstream: readyz", "/readyz", nil, http.StatusTeapot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(app, tt.demo, Files{WWW: www, JS: fstest.MapFS{}, CSP: static.CSP})
			assert.Equal(t, tt.want, serve(h, httptest.NewRequest("GET", tt.path, nil)).StatusCode)
		})
	}
}

// The pages' policy is the host's: the default, another one, or none
// (the app sets its own in its HTML); the other page headers stay.
func TestPagePolicy(t *testing.T) {
	www := fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}}
	for _, csp := range []string{static.CSP, "default-src 'self' https://api.example.com", ""} {
		h := New(http.NotFoundHandler(), nil, Files{WWW: www, JS: fstest.MapFS{}, CSP: csp})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		require.Equal(t, http.StatusOK, w.Code)
		got, set := w.Header()["Content-Security-Policy"]
		assert.Equal(t, csp != "", set, "a policy header only when there is a policy")
		if csp != "" {
			assert.Equal(t, []string{csp}, got)
		}
		assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
		assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
	}
}
