//go:build !package && !recipes

package recipes

import "testing"

// TestNeedsTag says why `go test ./...` runs nothing here: these suites
// need the npm tarball (and, for the recipes, npm and Chromium), and are
// built only with -tags package or -tags recipes.
func TestNeedsTag(t *testing.T) {
	t.Skip("the package suites need the tarball and -tags package or recipes: run make test-package or make test-recipes")
}
