//go:build !workers

package workertest

import "testing"

// TestNeedsTag says why `go test ./...` runs nothing here: this suite runs
// the Worker under the local Workers runtime and is built only with
// -tags workers.
func TestNeedsTag(t *testing.T) {
	t.Skip("the Workers suite needs the built Worker and -tags workers: run make test-worker")
}
