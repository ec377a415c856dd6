// Package browsertest drives Debian's headless Chromium for the browser
// tests (internal/testing/e2e, internal/testing/workertest): one browser, a
// browser context per test with its tabs, and the scenarios of wasm/testdata/harness.mjs run in a page.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Chromium is the path of Debian's Chromium.
const Chromium = "/usr/bin/chromium"

// ErrNoChromium says how to get Chromium.
var ErrNoChromium = errors.New(Chromium + " is missing: install it with `apt-get install -y chromium` (.ci/run does)")

// Start starts a headless Chromium with a fresh profile that makes no
// outside lookups. stop ends it and removes the profile.
func Start() (browser context.Context, stop func(), err error) {
	if _, err := exec.LookPath(Chromium); err != nil {
		return nil, nil, ErrNoChromium
	}
	profile, err := os.MkdirTemp("", "fwr-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// 127.0.0.2: a second origin on loopback, for cross-origin tests.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE 127.0.0.2"),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	stop = func() {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(profile)
	}
	if err := chromedp.Do(browser); err != nil { // start it now: a failure is clearer here
		stop()
		return nil, nil, fmt.Errorf("starting Chromium: %w", err)
	}
	return browser, stop, nil
}

// NewTab opens a tab of browser for one test, closed when the test ends.
// The tabs of one test share a browser context of their own (cookies,
// storage, BroadcastChannel), which no other test sees: a tab of an
// earlier test that is still closing cannot send this one its news.
func NewTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(ownContext(t, browser))
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// contexts holds each running test's browser context (*testing.T ->
// context.Context), made by its first NewTab.
var contexts sync.Map

// ownContext returns t's browser context, made in browser on first use
// and disposed of when t ends.
func ownContext(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	if ctx, ok := contexts.Load(t); ok {
		return ctx.(context.Context)
	}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(func() {
		contexts.Delete(t)
		cancel()
	})
	require.NoError(t, chromedp.Do(ctx), "a browser context for the test")
	contexts.Store(t, ctx)
	return ctx
}

// Scenario opens base's test page (internal/testing/e2e/testdata/index.html
// served at /testdata/e2e/) in a new tab, runs harness[name](args...) there
// and decodes its result into out. It returns the tab, for more Calls.
func Scenario(t *testing.T, browser context.Context, base string, out any, name string, args ...any) context.Context {
	t.Helper()
	ctx := NewTab(t, browser)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/testdata/e2e/index.html")))
	Call(t, ctx, out, name, args...)
	return ctx
}

// Call runs harness[name](args...) in a tab of the test page (once its
// setup is done) and decodes its result into out.
func Call(t *testing.T, ctx context.Context, out any, name string, args ...any) {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	argJSON, err := json.Marshal(args)
	require.NoError(t, err)
	expr := fmt.Sprintf(`(async () => {
		while (!window.setupDone) await new Promise((r) => setTimeout(r, 10));
		await window.setupDone;
		return JSON.stringify((await window.harness[%q](...%s)) ?? null);
	})()`, name, argJSON)
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "scenario %s", name)
	if out != nil {
		require.NoError(t, json.Unmarshal([]byte(res), out), res)
	}
}

// WaitFor polls a JavaScript expression in the tab until it is truthy. A
// navigation that replaces the page while it polls (a redirect still
// under way) does not end the wait: it polls the new page.
func WaitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		_, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
		if err == nil || wctx.Err() != nil {
			require.NoError(t, err, "waiting for %s (%s)", what, expr)
			return
		}
		select { // the page's context went away with a navigation: poll again
		case <-wctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Jar returns the browser's cookies for base, HttpOnly ones included, as
// the DevTools protocol reads them (so: what the browser kept).
func Jar(t *testing.T, ctx context.Context, base string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	require.NoError(t, err)
	return res.Cookies
}

// Session opens the session that the browser's cookies for base hold,
// with codec (the server's keys), and checks that no cookie value holds
// either of its tokens. nil when they hold none.
func Session(t *testing.T, ctx context.Context, base string, codec cookies.Codec) *cookies.Session {
	t.Helper()
	jar := Jar(t, ctx, base)
	var cs []*http.Cookie
	for _, c := range jar {
		cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	s, err := codec.Open(cs)
	if err != nil {
		return nil
	}
	for _, c := range jar {
		if s.AccessToken != "" {
			assert.NotContains(t, c.Value, s.AccessToken, "cookie %s holds the access token", c.Name)
		}
		if s.RefreshToken != "" {
			assert.NotContains(t, c.Value, s.RefreshToken, "cookie %s holds the refresh token", c.Name)
		}
	}
	return s
}
