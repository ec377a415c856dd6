//go:build recipes

package recipes

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	browser context.Context // the shared browser; each page opens its own tab
	server  string          // the cmd/server binary, built for this run
	pkg     string          // the tarball (FWR_PACKAGE)
)

// TestMain builds cmd/server and starts one headless Chromium; it fails at
// once, with the fix, when Chromium, npm or the tarball is missing.
func TestMain(m *testing.M) {
	os.Exit(start(m))
}

func start(m *testing.M) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "recipes:", err)
		return 1
	}
	pkg = os.Getenv("FWR_PACKAGE")
	if _, err := os.Stat(pkg); pkg == "" || err != nil {
		return fail(fmt.Errorf("FWR_PACKAGE (%q) is not the tarball: run make test-recipes (it runs make package first)", pkg))
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return fail(fmt.Errorf("npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"))
	}
	bin, err := os.MkdirTemp("", "fwr-recipes-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(bin)
	server = filepath.Join(bin, "server")
	if out, err := exec.Command("go", "build", "-o", server, "../../../cmd/server").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("building cmd/server: %v\n%s", err, out))
	}
	var stop func()
	if browser, stop, err = browsertest.Start(); err != nil {
		return fail(err)
	}
	defer stop()
	return m.Run()
}

// install copies testdata/<app> (without node_modules or build outputs) to
// a temporary folder, with testdata/storm.js (what every recipe's page
// runs) in its src/, installs its locked dependencies with npm ci and the
// tarball with npm install, and returns the folder.
func install(t *testing.T, app string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", app)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "dist", ".next":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "src")); err == nil {
		storm, err := os.ReadFile(filepath.Join("testdata", "storm.js"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "src", "storm.js"), storm, 0o644))
	}
	began := time.Now()
	run(t, dir, nil, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	run(t, dir, nil, "npm", "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", pkg)
	t.Logf("%s: installed in %v", app, time.Since(began).Round(100*time.Millisecond))
	return dir
}

// run runs a command in dir and fails the test with its output if it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	began := time.Now()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	t.Logf("%s %s: %v", name, strings.Join(args, " "), time.Since(began).Round(100*time.Millisecond))
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startProcess starts a long-running command (a server) in its own process
// group, stopped with SIGTERM (then SIGKILL) when the test ends, and waits
// until GET base+ready answers 200.
func startProcess(t *testing.T, dir string, env []string, base, ready string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	log, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("%s output:\n%s", name, out)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(base + ready)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("%s exited before it was ready: %v\n%s", name, err, out)
		case <-time.After(100 * time.Millisecond): // polling for readiness, not ordering events
		}
		require.True(t, time.Now().Before(deadline), "%s is not ready at %s%s after 60 s", name, base, ready)
	}
}

// startServer starts cmd/server with the embedded demo upstream, serving
// www at /, with more flags if given, and returns its base URL. It serves
// no metrics: several servers run at once.
func startServer(t *testing.T, www string, flags ...string) string {
	t.Helper()
	addr := freeAddr(t)
	startProcess(t, t.TempDir(), nil, "http://"+addr, "/healthz", server, append([]string{"-addr", addr, "-www", www, "-metrics-addr="}, flags...)...)
	return "http://" + addr
}

// stormResult is what a recipe page's window.recipe.run(n) resolves to.
type stormResult struct {
	Succeeded    int            `json:"succeeded"`
	Errors       []string       `json:"errors"`
	Refreshes    int            `json:"refreshes"`
	Unauthorized int            `json:"unauthorized"`
	Hooks        map[string]int `json:"hooks"`
}

// storm opens url in a new tab, waits for the page's window.recipe and
// runs n concurrent calls after expiry.
func storm(t *testing.T, url string, n int) stormResult {
	t.Helper()
	ctx := browsertest.NewTab(t, browser)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)))
	browsertest.WaitFor(t, ctx, "the page's recipe", `typeof window.recipe === "object"`)
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		fmt.Sprintf(`window.recipe.run(%d).then(JSON.stringify)`, n), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	var out stormResult
	require.NoError(t, json.Unmarshal([]byte(res), &out), res)
	return out
}

// checkStorm asserts the outcome every recipe must have: n calls after
// expiry, n successes, one refresh.
func checkStorm(t *testing.T, got stormResult, n int) {
	t.Helper()
	assert.Empty(t, got.Errors)
	assert.Equal(t, n, got.Succeeded, "every call succeeds")
	assert.Equal(t, 1, got.Refreshes, "one refresh")
	assert.GreaterOrEqual(t, got.Unauthorized, 1, "the calls met the expired token")
}

// checkCompressed asserts that cmd/server serves the build's module
// compressed although the build has no .br/.gz siblings.
func checkCompressed(t *testing.T, base, path string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Encoding", "br, gzip")
	res, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, path)
	assert.Equal(t, "application/wasm", res.Header.Get("Content-Type"))
	assert.Equal(t, "br", res.Header.Get("Content-Encoding"))
	assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
	t.Logf("%s: %d KB brotli on the fly", path, len(body)>>10)
}
