//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/testserver"
	"github.com/stretchr/testify/require"
)

// chromium is Debian's headless Chromium.
const chromium = "/usr/bin/chromium"

var (
	server  *testserver.Server
	browser context.Context // the shared browser; each test opens its own tab
	root    string          // the repository root
)

// TestMain starts the real server (demo upstream included) on loopback and
// one headless Chromium that makes no outside lookups, and fails at once,
// with the fix, when Chromium or the built module is missing.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if root, err = filepath.Abs("../../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := exec.LookPath(chromium); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %s is missing: install it with `apt-get install -y chromium` (.ci/run does)\n", chromium)
		return 1
	}
	if _, err := os.Stat(filepath.Join(root, "js", "fetch-with-refresh.wasm")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: js/fetch-with-refresh.wasm is missing: run `make wasm` (make test-e2e does)")
		return 1
	}
	server = testserver.Start(testserver.Config{AccessTTL: time.Minute, Root: root})
	defer server.Close()

	profile, err := os.MkdirTemp("", "fwr-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(profile)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	var cancelBrowser context.CancelFunc
	browser, cancelBrowser = chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // start it now: a failure is clearer here
		fmt.Fprintln(os.Stderr, "e2e: starting Chromium:", err)
		return 1
	}
	return m.Run()
}

// newTab opens a tab for one test, closed when the test ends.
func newTab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// scenario opens the test page in a new tab, runs harness[name](args...)
// there and decodes its result into out.
func scenario(t *testing.T, out any, name string, args ...any) {
	t.Helper()
	ctx := newTab(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(server.URL+"/testdata/e2e/index.html")))
	if args == nil {
		args = []any{}
	}
	argJSON, err := json.Marshal(args)
	require.NoError(t, err)
	expr := fmt.Sprintf(`(async () => {
		while (!window.setupDone) await new Promise((r) => setTimeout(r, 10));
		await window.setupDone;
		return JSON.stringify(await window.harness[%q](...%s));
	})()`, name, argJSON)
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "scenario %s", name)
	require.NoError(t, json.Unmarshal([]byte(res), out), res)
}

// waitFor polls a JavaScript expression in the tab until it is truthy.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
	require.NoError(t, err, "waiting for %s (%s)", what, expr)
}
