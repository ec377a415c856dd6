//go:build e2e

package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/scenario"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Opening the server-rendered page with an expired access token: the page
// renders, the browser's jar holds the rotated tokens, one refresh.
func TestServerRenderedPageRefreshes(t *testing.T) {
	srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, Root: root})
	defer srv.Close()
	tab := tabs(t, srv, 1, "{}")[0]
	inTab(t, tab, nil, "loginOnly", nil)
	inTab(t, tab, nil, "expireNow", nil)
	before, stats := browsertest.Session(t, tab, srv.URL, cookies.Codec{}), srv.Stats()
	require.NotNil(t, before)

	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/departments")))
	browsertest.WaitFor(t, tab, "the rendered list", `document.querySelectorAll("#departments li").length === 5`)
	after := browsertest.Session(t, tab, srv.URL, cookies.Codec{})
	require.NotNil(t, after)
	assert.NotEqual(t, before.AccessToken, after.AccessToken, "the jar holds the rotated access token")
	assert.NotEqual(t, before.RefreshToken, after.RefreshToken, "the jar holds the rotated refresh token")
	assert.Equal(t, 1, srv.Stats().Upstream.Refreshes-stats.Upstream.Refreshes)
	browsertest.WaitFor(t, tab, "the page saying it refreshed", `document.getElementById("refreshed").textContent.includes("was refreshed on the server")`)

	// Again, with the fresh token: the page says no refresh was needed.
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/departments")))
	browsertest.WaitFor(t, tab, "the page saying it did not refresh", `document.getElementById("refreshed").textContent.includes("no refresh was needed")`)
	assert.Equal(t, 1, srv.Stats().Upstream.Refreshes-stats.Upstream.Refreshes)

	// The module in the page keeps working with the rotated cookies.
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/testdata/e2e/index.html")))
	var r burstResult
	inTab(t, tab, &r, "burst", []any{3})
	for _, o := range r.Outcomes {
		assert.Equal(t, scenario.Outcome{Status: 200}, o)
	}
}

// The browser module and the server page refresh at the same moment with
// the same refresh token: the BFF's absorber makes it one refresh, and the
// upstream detects no reuse.
func TestServerPageAndModuleRefreshTogether(t *testing.T) {
	srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, Root: root})
	defer srv.Close()
	ts := tabs(t, srv, 2, "{}")
	inTab(t, ts[0], nil, "loginOnly", nil)
	inTab(t, ts[0], nil, "expireNow", nil)
	stats := srv.Stats()

	var wg sync.WaitGroup
	var r burstResult
	var burstErr, navErr error
	wg.Go(func() { burstErr = callTab(ts[0], &r, "burst", []any{10}) })
	wg.Go(func() { navErr = chromedp.Do(ts[1], chromedp.Navigate(srv.URL+"/departments")) })
	wg.Wait()
	require.NoError(t, burstErr)
	require.NoError(t, navErr)
	browsertest.WaitFor(t, ts[1], "the rendered list", `document.querySelectorAll("#departments li").length === 5`)
	for _, o := range r.Outcomes {
		assert.Equal(t, scenario.Outcome{Status: 200}, o)
	}
	after := srv.Stats()
	assert.Zero(t, after.Upstream.Reuses-stats.Upstream.Reuses, "no reuse detected upstream")
	assert.Equal(t, 1, after.Upstream.Refreshes-stats.Upstream.Refreshes, "one refresh upstream")
}
