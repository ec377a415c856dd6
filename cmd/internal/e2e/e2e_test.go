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
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type outcome struct {
	Status int
	Error  string
}

func TestLoginAndFirstFetch(t *testing.T) {
	var got struct{ Login, Departments int }
	scenario(t, &got, "first")
	assert.Equal(t, 200, got.Login)
	assert.Equal(t, 200, got.Departments)
}

// 50 concurrent calls after expiry, every input and body kind: one refresh,
// 50 successes, bodies intact on the replay, and the session still usable
// after the next expiry.
func TestStorm(t *testing.T) {
	var got struct {
		Results []struct {
			Kind   string
			Status int
			Intact bool
			Error  string
		}
		RefreshCalls, UpstreamRefreshes, Reuses int
	}
	scenario(t, &got, "storm", 50)
	require.Len(t, got.Results, 50)
	for i, r := range got.Results {
		assert.Empty(t, r.Error, "call %d (%s)", i, r.Kind)
		assert.Equal(t, 200, r.Status, "call %d (%s)", i, r.Kind)
		assert.True(t, r.Intact, "call %d (%s): answer or replayed body wrong", i, r.Kind)
	}
	assert.Equal(t, 1, got.RefreshCalls, "calls to /api/auth/refresh")
	assert.Equal(t, 1, got.UpstreamRefreshes)
	assert.Zero(t, got.Reuses)

	var next struct{ Status, RefreshCalls int }
	scenario(t, &next, "nextExpiry")
	assert.Equal(t, 200, next.Status)
	assert.Equal(t, 1, next.RefreshCalls)
}

func TestLate401IsReplayedWithoutRefresh(t *testing.T) {
	var got struct{ Fast, Late, RefreshCalls, DepartmentsCalls int }
	scenario(t, &got, "late401")
	assert.Equal(t, 200, got.Fast)
	assert.Equal(t, 200, got.Late)
	assert.Equal(t, 1, got.RefreshCalls)
	assert.Equal(t, 2, got.DepartmentsCalls)
}

func TestRefreshUnavailableKeepsCookies(t *testing.T) {
	var got struct {
		Waiting      []outcome
		Next         outcome
		RefreshCalls int
		AuthFailures []string
	}
	scenario(t, &got, "unavailable", 5)
	for _, o := range got.Waiting {
		assert.Equal(t, outcome{Error: "RefreshUnavailableError", Status: 503}, o)
	}
	assert.Equal(t, outcome{Status: 200}, got.Next, "the cookies survived")
	assert.Empty(t, got.AuthFailures)
}

func TestRevokedSession(t *testing.T) {
	var got struct {
		Waiting          []outcome
		Later            outcome
		RefreshCalls     int
		DepartmentsCalls int
		AuthFailures     []string
	}
	scenario(t, &got, "rejected", 10)
	require.Len(t, got.Waiting, 10)
	for _, o := range got.Waiting {
		assert.Equal(t, outcome{Error: "AuthError", Status: 401}, o)
	}
	assert.Equal(t, outcome{Error: "AuthError", Status: 401}, got.Later)
	assert.Equal(t, []string{"AuthError"}, got.AuthFailures, "onAuthFailure fires once")
	assert.Equal(t, 1, got.RefreshCalls)
	assert.Equal(t, 11, got.DepartmentsCalls, "no request loop")
}

func TestAbortedCallRejectsAlone(t *testing.T) {
	var got struct{ Aborted, Other, PreAborted outcome }
	scenario(t, &got, "abort")
	assert.Equal(t, "AbortError", got.Aborted.Error)
	assert.Equal(t, outcome{Status: 200}, got.Other)
	assert.Equal(t, "AbortError", got.PreAborted.Error)
}

func TestExemptCalls(t *testing.T) {
	var got struct{ OptOut, Direct, RefreshCalls, DepartmentsCalls int }
	scenario(t, &got, "exempt")
	assert.Equal(t, 401, got.OptOut)
	assert.Equal(t, 401, got.Direct)
	assert.Equal(t, 1, got.RefreshCalls)
	assert.Equal(t, 1, got.DepartmentsCalls)
}

// The demo page as a new user meets it: log in, press every button, read
// the counters; a screenshot after the storm is kept in test-artifacts/.
func TestDemoPage(t *testing.T) {
	ctx := browsertest.NewTab(t, browser)
	_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(server.URL+"/")))
	browsertest.WaitFor(t, ctx, "the page", `document.body.dataset.ready === "true"`)
	browsertest.WaitFor(t, ctx, "the login form", `!document.getElementById("login").hidden`)

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#login-form button"))))
	browsertest.WaitFor(t, ctx, "the departments", `document.querySelectorAll("#departments li").length === 5`)

	click := func(id, wantResult string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#"+id))))
		browsertest.WaitFor(t, ctx, id, `document.getElementById("result").textContent.includes(`+jsString(wantResult)+`)`)
	}
	click("expire", "has expired")
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
