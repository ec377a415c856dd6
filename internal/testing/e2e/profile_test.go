//go:build e2e && profile

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testserver"
	"github.com/stretchr/testify/require"
)

// TestProfile prints where the time of a call with a valid token goes, in
// µs per call, next to plain fetch. A measurement, not a check: `make
// profile` runs it. FWR_PROFILE_ROOT serves another checkout's js/ (its
// module built) to compare versions.
func TestProfile(t *testing.T) {
	dir := root
	if d := os.Getenv("FWR_PROFILE_ROOT"); d != "" {
		dir = d
	}
	srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, Root: dir})
	defer srv.Close()
	ctx := browsertest.NewTab(t, browser)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/testdata/e2e/profile.html")))
	browsertest.WaitFor(t, ctx, "the profile page", `window.profile !== undefined`)
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.profile.profile(20, 50).then(JSON.stringify)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	var p struct {
		Plain, Ours               struct{ Total, Before, Network, After float64 }
		Request, Cookie, Crossing float64
		Controller                float64
		StubPlain, StubOurs       float64
	}
	require.NoError(t, json.Unmarshal([]byte(res), &p))
	t.Logf("µs per call   total   before   network   after")
	t.Logf("plain fetch   %5.0f   %6.0f   %7.0f   %5.0f", p.Plain.Total, p.Plain.Before, p.Plain.Network, p.Plain.After)
	t.Logf("ours          %5.0f   %6.0f   %7.0f   %5.0f", p.Ours.Total, p.Ours.Before, p.Ours.Network, p.Ours.After)
	t.Logf("ratio %.3f; alone: new Request + header %.1f µs, the lease check (document.cookie, compare) %.1f µs, an AbortController %.1f µs, a sync call into Go + Promise %.1f µs (not on the fast path)",
		p.Ours.Total/p.Plain.Total, p.Request, p.Cookie, p.Controller, p.Crossing)
	t.Logf("without the network (fetch answers at once): plain %.1f µs, ours %.1f µs per call", p.StubPlain, p.StubOurs)
}
