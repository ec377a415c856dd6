//go:build !multi

package multitest

import "testing"

// TestNeedsTag says why `go test ./...` runs nothing here: this suite
// starts redis-server and cmd/server processes and is built only with
// -tags multi.
func TestNeedsTag(t *testing.T) {
	t.Skip("the multi-instance suite needs redis-server and -tags multi: run make test-multi")
}
