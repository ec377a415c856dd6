//go:build recipes

package recipes

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const calls = 50

// The Vite app (testdata/vite), built with vite build and served by
// cmd/server, and run under Vite's dev server with its /api proxy.
func TestVite(t *testing.T) {
	dir := install(t, "vite")

	t.Run("build", func(t *testing.T) {
		run(t, dir, nil, "node_modules/.bin/vite", "build", "--logLevel", "warn")
		dist := filepath.Join(dir, "dist")
		wasm, err := filepath.Glob(filepath.Join(dist, "assets", "fetch-with-refresh-*.wasm"))
		require.NoError(t, err)
		require.Len(t, wasm, 1, "vite build emits the module")
		exec, err := filepath.Glob(filepath.Join(dist, "assets", "wasm_exec-*.js"))
		require.NoError(t, err)
		require.Len(t, exec, 1, "vite build emits wasm_exec.js")

		base := startServer(t, dist, "-spa")
		checkCompressed(t, base, "/assets/"+filepath.Base(wasm[0]))
		t.Run("a real build's files", func(t *testing.T) { checkBuildServed(t, base, dist) })

		t.Run("plain", func(t *testing.T) {
			checkStorm(t, storm(t, base+"/", calls), calls)
		})
		t.Run("ky", func(t *testing.T) {
			got := storm(t, base+"/ky.html", calls)
			checkStorm(t, got, calls)
			assert.Equal(t, map[string]int{"beforeRequest": calls, "afterResponse": calls}, got.Hooks, "ky's hooks run once per call")
		})
		t.Run("openapi-fetch", func(t *testing.T) {
			got := storm(t, base+"/openapi.html", calls)
			checkStorm(t, got, calls)
			assert.Equal(t, map[string]int{"onRequest": calls, "onResponse": calls}, got.Hooks, "the middleware runs once per call")
		})
	})

	// The dev server proxies /api to cmd/server with changeOrigin off (the
	// default), so the browser's Origin matches the Host the server sees.
	t.Run("dev server", func(t *testing.T) {
		api := startServer(t, t.TempDir())
		addr := freeAddr(t)
		host, port, _ := strings.Cut(addr, ":")
		startProcess(t, dir, []string{"FWR_API=" + api}, "http://"+addr, "/",
			"node_modules/.bin/vite", "--host", host, "--port", port, "--strictPort")
		checkStorm(t, storm(t, "http://"+addr+"/", calls), calls)
	})
}

// checkBuildServed checks what cmd/server -spa serves of a Vite build:
// every asset with its type (the hashed ones immutable), a deep link
// reloaded in Chromium runs the app, and sources, project files and
// dotfiles put beside the build stay 404.
func checkBuildServed(t *testing.T, base, dist string) {
	for _, f := range []string{".env", "package.json", "tsconfig.json", "src/main.ts"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dist, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dist, f), []byte("secret"), 0o644))
	}
	asset := func(pattern string) string {
		m, err := filepath.Glob(filepath.Join(dist, "assets", pattern))
		require.NoError(t, err)
		require.Len(t, m, 1, pattern)
		return "/assets/" + filepath.Base(m[0])
	}
	for _, tt := range []struct {
		path, ctype string
		immutable   bool
	}{
		{asset("font-*.woff2"), "font/woff2", true},
		{asset("hero-*.jpg"), "image/jpeg", true},
		{asset("main-*.js"), "text/javascript; charset=utf-8", true},
		{"/site.webmanifest", "application/manifest+json", false},
		{"/data.json", "application/json", false},
	} {
		res, err := http.Get(base + tt.path)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, tt.path)
		assert.Equal(t, tt.ctype, res.Header.Get("Content-Type"), tt.path)
		assert.Equal(t, tt.immutable, strings.Contains(res.Header.Get("Cache-Control"), "immutable"), tt.path)
	}
	for _, p := range []string{"/.env", "/package.json", "/tsconfig.json", "/src/main.ts", "/missing.js"} {
		req, _ := http.NewRequest("GET", base+p, nil)
		req.Header.Set("Accept", "text/html")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusNotFound, res.StatusCode, p)
	}
	// A client-side route, reloaded: the app's index.html, and the app runs.
	ctx := browsertest.NewTab(t, browser)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/orders/42")))
	browsertest.WaitFor(t, ctx, "the app at a deep link", `typeof window.recipe === "object"`)
}
