//go:build !embed

package embed

import "testing"

// TestNeedsTag says why `go test ./...` runs nothing here: this suite
// writes and builds a module of its own with the go command, and is built
// only with -tags embed.
func TestNeedsTag(t *testing.T) {
	t.Skip("the embedding suite builds an outside module with the go command and needs -tags embed: run make test-embed")
}
