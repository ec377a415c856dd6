//go:build !js

package main

import (
	"go/build/constraint"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryFileIsJSOnly checks that every Go file of this package, but this
// one, builds only for js/wasm: plain `go test ./...` would silently skip
// the package's tests otherwise, and a file without the tag would break
// the native build on syscall/js.
func TestEveryFileIsJSOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	checked := 0
	for _, name := range files {
		if name == "buildtags_test.go" {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.PackageClauseOnly|parser.ParseComments)
		require.NoError(t, err)
		var expr constraint.Expr
		for _, group := range f.Comments {
			for _, c := range group.List {
				if constraint.IsGoBuild(c.Text) {
					expr, err = constraint.Parse(c.Text)
					require.NoError(t, err, name)
				}
			}
		}
		require.NotNil(t, expr, "%s has no //go:build line", name)
		assert.True(t, expr.Eval(func(tag string) bool { return tag == "js" || tag == "wasm" }), "%s must build for js/wasm", name)
		assert.False(t, expr.Eval(func(tag string) bool { return tag == "linux" || tag == "amd64" }), "%s must not build natively", name)
		checked++
	}
	assert.Positive(t, checked)
}
