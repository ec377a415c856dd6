package browsertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Timed is one call of harness.timedBurst: how it ended and how long it
// took.
type Timed struct {
	Status int
	Error  string
	Ms     int
}

// HangingAuth runs the bounded-wait scenario against base: a session whose
// access token has just expired, an auth server whose refreshes hang
// (hang(true) makes them, hang(false) ends it), and calls made in each of
// tabs tabs of one browser (calls per tab, at once). Every call settles
// within the module's refresh timeout plus half a second, with
// RefreshUnavailableError, the server's 504; the session is kept: once the
// auth server is back, the next call succeeds within a second.
func HangingAuth(t *testing.T, browser context.Context, base string, hang func(bool), tabs, calls int) {
	t.Helper()
	page := make([]context.Context, tabs)
	page[0] = Scenario(t, browser, base, nil, "loginOnly")
	for i := 1; i < tabs; i++ {
		page[i] = Scenario(t, browser, base, nil, "timedBurst", 0) // the module runs in it
	}
	Call(t, page[0], nil, "expireForReal")
	// Through the Worker the readable expiry is moved by page 0 alone (no
	// refresh happened); every tab must see it before the calls, or a tab
	// that sent a call under the old one would take the change for another
	// tab's refresh.
	var want string
	Call(t, page[0], &want, "readableSession")
	for i, p := range page[1:] {
		require.Eventually(t, func() bool {
			var seen string
			Call(t, p, &seen, "readableSession")
			return seen == want
		}, 5*time.Second, 20*time.Millisecond, "tab %d sees the expiry", i+1)
	}
	hang(true)
	got := make([][]Timed, tabs)
	var wg sync.WaitGroup
	for i, p := range page {
		wg.Go(func() { Call(t, p, &got[i], "timedBurst", calls) })
	}
	wg.Wait()
	hang(false)
	for i, outcomes := range got {
		require.Len(t, outcomes, calls, "tab %d", i)
		for j, o := range outcomes {
			assert.Equal(t, "RefreshUnavailableError", o.Error, "tab %d call %d", i, j)
			assert.Equal(t, 504, o.Status, "tab %d call %d: the server's auth timeout, before the module's own", i, j)
			assert.LessOrEqual(t, o.Ms, int((refresh.DefaultTimeout+500*time.Millisecond)/time.Millisecond),
				"tab %d call %d: settled within the refresh timeout", i, j)
		}
	}
	var next []Timed
	Call(t, page[tabs-1], &next, "timedBurst", 1)
	require.Len(t, next, 1)
	assert.Equal(t, 200, next[0].Status, "the session was kept: %+v", next[0])
	assert.Less(t, next[0].Ms, 1000, "the next call after the auth server is back")
}
