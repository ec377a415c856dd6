//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/scenario"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tabs opens n tabs of one browser context on the test page of srv, each
// with the module loaded, after clearing the cookies that earlier tests'
// servers (on other ports of 127.0.0.1, the same cookie host) left.
func tabs(t *testing.T, srv *testserver.Server, n int, options string) []context.Context {
	t.Helper()
	var out []context.Context
	for i := range n {
		ctx := browsertest.NewTab(t, browser)
		if i == 0 {
			_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
			require.NoError(t, err)
		}
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/testdata/e2e/index.html?options="+options)))
		inTab(t, ctx, nil, "", nil) // waits for setup
		out = append(out, ctx)
	}
	return out
}

// inTab calls harness[name](args...) in the tab and decodes the result; an
// empty name only waits for the harness. Only on the test's goroutine.
func inTab(t *testing.T, ctx context.Context, out any, name string, args []any) {
	t.Helper()
	require.NoError(t, callTab(ctx, out, name, args), name)
}

// callTab is inTab for any goroutine: it returns its error.
func callTab(ctx context.Context, out any, name string, args []any) error {
	call := "null"
	if name != "" {
		a, _ := json.Marshal(append([]any{}, args...))
		call = fmt.Sprintf("await window.harness[%q](...%s)", name, a)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(async () => {
		while (!window.setupDone) await new Promise((r) => setTimeout(r, 10));
		await window.setupDone;
		return JSON.stringify((%s) ?? null);
	})()`, call), chromedp.EvalAwaitPromise))
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal([]byte(res), out)
}

type burstResult struct {
	Outcomes     []scenario.Outcome
	Stats        map[string]float64
	AuthFailures []string
}

// burstAll fires n concurrent calls in every tab at once.
func burstAll(t *testing.T, tabs []context.Context, n int) []burstResult {
	t.Helper()
	results := make([]burstResult, len(tabs))
	errs := make([]error, len(tabs))
	var wg sync.WaitGroup
	for i, ctx := range tabs {
		wg.Go(func() { errs[i] = callTab(ctx, &results[i], "burst", []any{n}) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "tab %d", i)
	}
	return results
}

// 2 and 5 tabs, 20 concurrent calls each right after expiry, against strict
// rotation with no grace and no absorption in the BFF: one refresh reaches
// the upstream, every call succeeds, no reuse, and the session lives on.
func TestCrossTabOneRefresh(t *testing.T) {
	srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, AbsorbWindow: -1, Root: root})
	defer srv.Close()
	for _, n := range []int{2, 5} {
		t.Run(fmt.Sprintf("%d tabs", n), func(t *testing.T) {
			ts := tabs(t, srv, n, "{}")
			inTab(t, ts[0], nil, "loginOnly", nil)
			inTab(t, ts[0], nil, "expireNow", nil)
			before := srv.Stats()
			srv.Reset()

			results := burstAll(t, ts, 20)
			after := srv.Stats()
			var elsewhere float64
			for i, r := range results {
				require.Len(t, r.Outcomes, 20)
				for _, o := range r.Outcomes {
					assert.Equal(t, scenario.Outcome{Status: 200}, o, "tab %d", i)
				}
				elsewhere += r.Stats["elsewhere"]
			}
			assert.Equal(t, 1, after.Requests["/api/auth/refresh"], "one refresh call in the browser")
			assert.Equal(t, 1, after.Upstream.Refreshes-before.Upstream.Refreshes, "one refresh upstream")
			assert.Zero(t, after.Upstream.Reuses-before.Upstream.Reuses, "no reuse detected")
			t.Logf("%d tabs: refreshes found done by another tab: %v", n, elsewhere)

			again := burstAll(t, ts, 5)
			for _, r := range again {
				for _, o := range r.Outcomes {
					assert.Equal(t, scenario.Outcome{Status: 200}, o, "the session is still usable")
				}
			}
		})
	}
}

// Inside the refresh-ahead window (a quarter of the token's 4 s), a burst
// sees no 401 and one refresh.
func TestRefreshAheadBurst(t *testing.T) {
	srv := testserver.Start(testserver.Config{AccessTTL: 4 * time.Second, Root: root})
	defer srv.Close()
	ts := tabs(t, srv, 1, `{"refreshAheadMs":3000}`)
	inTab(t, ts[0], nil, "loginOnly", nil)
	inTab(t, ts[0], nil, "untilDue", []any{900}) // Window(3 s, 4 s) = 1 s
	srv.Reset()
	before := srv.Stats()
	var r burstResult
	inTab(t, ts[0], &r, "burst", []any{20})
	after := srv.Stats()
	for _, o := range r.Outcomes {
		assert.Equal(t, scenario.Outcome{Status: 200}, o)
	}
	assert.Zero(t, r.Stats["unauthorized"], "no call was answered 401")
	assert.Equal(t, 1, after.Upstream.Refreshes-before.Upstream.Refreshes)
	assert.Equal(t, 1, after.Requests["/api/auth/refresh"])
}

// A revoked session: every tab's onAuthFailure fires once.
func TestCrossTabRevoked(t *testing.T) {
	srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, AbsorbWindow: -1, Root: root})
	defer srv.Close()
	ts := tabs(t, srv, 3, "{}")
	inTab(t, ts[0], nil, "loginOnly", nil)
	inTab(t, ts[0], nil, "revokeNow", nil)
	srv.Reset()
	var first burstResult
	inTab(t, ts[0], &first, "burst", []any{5}) // this tab's refresh is rejected
	for _, o := range first.Outcomes {
		assert.Equal(t, "AuthError", o.Error)
	}
	results := burstAll(t, ts, 5) // the others already know
	for i, r := range results {
		for _, o := range r.Outcomes {
			assert.Equal(t, "AuthError", o.Error, "tab %d", i)
		}
		assert.Equal(t, []string{"AuthError"}, r.AuthFailures, "tab %d: onAuthFailure once", i)
	}
	assert.Equal(t, 1, srv.Stats().Requests["/api/auth/refresh"], "no tab refreshed again")
}
