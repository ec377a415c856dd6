//go:build recipes

package recipes

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The webpack 5 app (testdata/webpack), built through webpack's Node API
// with no configuration for the package, served by cmd/server.
func TestWebpack(t *testing.T) {
	dir := install(t, "webpack")
	run(t, dir, nil, "node", "build.mjs")
	dist := filepath.Join(dir, "dist")
	wasm, err := filepath.Glob(filepath.Join(dist, "*.wasm"))
	require.NoError(t, err)
	require.Len(t, wasm, 1, "webpack emits the module")

	base := startServer(t, dist)
	checkCompressed(t, base, "/"+filepath.Base(wasm[0]))
	checkStorm(t, storm(t, base+"/", calls), calls)
}
