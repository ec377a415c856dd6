//go:build recipes

package recipes

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The Next.js app (testdata/next, pages router): the seed's
// utils/fetchWithRefresh backed by the package, /api/* rewritten to
// cmd/server, built with next build and served by next start. Next's
// rewrites set the Host to the target's and the original in
// X-Forwarded-Host, which the server believes from the Next server's
// address (-trusted-proxies).
func TestNext(t *testing.T) {
	dir := install(t, "next")
	addr := freeAddr(t)
	api := startServer(t, t.TempDir(), "-trusted-proxies", "127.0.0.1")
	env := []string{"NEXT_TELEMETRY_DISABLED=1", "FWR_API=" + api} // next build reads the rewrites
	run(t, dir, env, "node_modules/.bin/next", "build")
	wasm, err := filepath.Glob(filepath.Join(dir, ".next", "static", "media", "fetch-with-refresh*.wasm"))
	require.NoError(t, err)
	require.Len(t, wasm, 1, "next build emits the module")

	host, port, _ := strings.Cut(addr, ":")
	startProcess(t, dir, env, "http://"+addr, "/",
		"node_modules/.bin/next", "start", "--hostname", host, "--port", port)
	checkStorm(t, storm(t, "http://"+addr+"/", calls), calls)
}
