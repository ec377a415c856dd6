//go:build !e2e

package e2e

import "testing"

// TestNeedsTag says why `go test ./...` runs nothing here: this suite
// drives headless Chromium and is built only with -tags e2e.
func TestNeedsTag(t *testing.T) {
	t.Skip("the browser suite needs Chromium and -tags e2e: run make test-e2e")
}
