//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testserver"
)

var (
	server  *testserver.Server
	browser context.Context // the shared browser; each test opens its own tab
	root    string          // the repository root
)

// TestMain starts the real server (demo upstream included) on loopback and
// one headless Chromium, and fails at once, with the fix, when Chromium or
// the built module is missing.
func TestMain(m *testing.M) {
	os.Exit(start(m))
}

func start(m *testing.M) int {
	var err error
	if root, err = filepath.Abs("../../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := os.Stat(filepath.Join(root, "js", "fetch-with-refresh.wasm")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: js/fetch-with-refresh.wasm is missing: run `make wasm` (make test-e2e does)")
		return 1
	}
	server = testserver.Start(testserver.Config{AccessTTL: time.Minute, Root: root})
	defer server.Close()
	var stop func()
	if browser, stop, err = browsertest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// run runs a harness scenario against the test server (a scenario.Run).
func run(t *testing.T, out any, name string, args ...any) {
	t.Helper()
	browsertest.Scenario(t, browser, server.URL, out, name, args...)
}
