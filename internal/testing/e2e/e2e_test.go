//go:build e2e

// Package e2e drives headless Chromium against the real server: the
// loader, the module, the BFF and the demo upstream, with real cookies,
// real Response objects and the browser's connection limits.
package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/scenario"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoginAndFirstFetch(t *testing.T) {
	var got struct{ Login, Departments int }
	run(t, &got, "first")
	assert.Equal(t, 200, got.Login)
	assert.Equal(t, 200, got.Departments)
}

func TestStorm(t *testing.T)                                { scenario.Storm(t, run) }
func TestLate401IsReplayedWithoutRefresh(t *testing.T)      { scenario.Late401(t, run) }
func TestRefreshUnavailableKeepsCookies(t *testing.T)       { scenario.Unavailable(t, run) }
func TestRevokedSession(t *testing.T)                       { scenario.Rejected(t, run) }
func TestAbortedCallRejectsAlone(t *testing.T)              { scenario.Abort(t, run) }
func TestExemptCalls(t *testing.T)                          { scenario.Exempt(t, run) }
func TestRefusedTokenWithdrawsIdempotentCalls(t *testing.T) { scenario.Withdraw(t, run, 2) }
func TestCallsBeforeTheModuleRuns(t *testing.T)             { scenario.BeforeModule(t, run) }
func TestCallsWhileTheModuleDownloads(t *testing.T)         { scenario.ModuleHeld(t, run) }
func TestValidTokenCallsDoNotAskTheModule(t *testing.T)     { scenario.Leased(t, run) }

// The demo page as a new user meets it: log in, press every button, read
// the counters; a screenshot after the storm is kept in test-artifacts/.
func TestDemoPage(t *testing.T) {
	ctx := browsertest.NewTab(t, browser)
	_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(server.URL+"/")))
	browsertest.WaitFor(t, ctx, "the page", `document.body.dataset.ready === "true"`)
	browsertest.WaitFor(t, ctx, "the login form", `!document.getElementById("login").hidden`)

	// A wrong password says so (the login's 401 is not intercepted).
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(`#login-form [name="password"]`, "wrong")))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#login-form button"))))
	browsertest.WaitFor(t, ctx, "the wrong-password message", `document.getElementById("login-error").textContent.includes("wrong password")`)
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(`#login-form [name="password"]`, "demo")))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#login-form button"))))
	browsertest.WaitFor(t, ctx, "the departments", `document.querySelectorAll("#departments li").length === 5`)

	click := func(id, wantResult string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#"+id))))
		browsertest.WaitFor(t, ctx, id, `document.getElementById("result").textContent.includes(`+jsString(wantResult)+`)`)
	}
	click("expire", "has expired")
	browsertest.WaitFor(t, ctx, "the timer after expire", `document.getElementById("lifetime").textContent.startsWith("expired")`)
	click("storm", "50 concurrent requests: 50 succeeded, 1 refresh,")

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	artifacts := filepath.Join(root, "test-artifacts")
	require.NoError(t, os.MkdirAll(artifacts, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "demo.png"), shot, 0o644))

	click("post", "body arrived intact on the replay")
	refreshes, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("c-refreshes").textContent`))
	require.NoError(t, err)
	assert.Equal(t, "2", refreshes, "one refresh per expiry")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#revoke"))))
	browsertest.WaitFor(t, ctx, "the login form after revocation", `!document.getElementById("login").hidden &&
		document.getElementById("login-error").textContent.includes("session has ended")`)

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#login-form button"))))
	browsertest.WaitFor(t, ctx, "the dashboard again", `!document.getElementById("app").hidden`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout"))))
	browsertest.WaitFor(t, ctx, "the login form after logout", `!document.getElementById("login").hidden`)

	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(artifacts, "demo-phone.png"), shot, 0o644))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
