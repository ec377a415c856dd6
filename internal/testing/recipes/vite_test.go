//go:build recipes

package recipes

import (
	"path/filepath"
	"strings"
	"testing"

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

		base := startServer(t, dist)
		checkCompressed(t, base, "/assets/"+filepath.Base(wasm[0]))

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
