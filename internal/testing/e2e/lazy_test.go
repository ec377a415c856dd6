//go:build e2e

package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/scenario"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The module off the page's critical path (issue 29): load() fetches the
// module when a call needs it, when a refresh ahead comes due, or once the
// page has loaded and is idle, at low priority; eager: true at once.

// moduleLog records the module's requests in a tab (the DevTools network
// log): their priorities, in order.
type moduleLog struct {
	mu         sync.Mutex
	priorities []network.ResourcePriority
}

func (l *moduleLog) seen() []network.ResourcePriority {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]network.ResourcePriority(nil), l.priorities...)
}

// lazyTab opens the test page of srv with query in a new tab whose module
// requests are logged.
func lazyTab(t *testing.T, srv *testserver.Server, query string) (context.Context, *moduleLog) {
	t.Helper()
	tab := browsertest.NewTab(t, browser)
	log := &moduleLog{}
	require.NoError(t, chromedp.Listen(tab, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(e.Request.URL, ".wasm") {
			log.mu.Lock()
			log.priorities = append(log.priorities, e.Request.InitialPriority)
			log.mu.Unlock()
		}
	}))
	_, err := chromedp.Call(tab, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/testdata/e2e/index.html?"+query)))
	inTab(t, tab, nil, "", nil) // waits for setup
	return tab, log
}

type moduleRequests struct {
	Wasm         []struct{ Start, End float64 }
	LoadEventEnd float64
	Loaded       float64 // when load() resolved
}

type coldResult struct {
	Before       int
	Outcomes     []scenario.Outcome
	RefreshCalls int
	Unauthorized int
}

// A page that calls load() and makes no call requests the module only
// after its load event, when the browser is idle, and at low priority;
// eager: true requests it at once: load() resolves after its answer.
func TestModuleFetchedWhenIdleOrEager(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		priority network.ResourcePriority
	}{
		{"lazy", "options={}", network.ResourcePriorityLow},
		{"eager", `options={"eager":true}`, network.ResourcePriorityHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, log := lazyTab(t, server, tt.query)
			inTab(t, tab, nil, "untilRunning", nil)
			var got moduleRequests
			inTab(t, tab, &got, "moduleRequests", nil)
			require.Len(t, got.Wasm, 1, "one request for the module")
			if tt.name == "lazy" {
				assert.GreaterOrEqual(t, got.Wasm[0].Start, got.LoadEventEnd, "requested after the load event")
			} else {
				assert.Less(t, got.Wasm[0].Start, got.Loaded, "requested before load() resolved")
			}
			assert.Equal(t, []network.ResourcePriority{tt.priority}, log.seen())
		})
	}
}

// A page that is never idle fetches the module for the first 401: the
// calls made before it (50 at once, after the upstream stopped accepting
// the token) and two tabs doing the same cost one refresh, and every call
// succeeds; no module was requested before the calls.
func TestModuleFetchedForTheFirst401(t *testing.T) {
	for _, tabs := range []int{1, 2} {
		t.Run(map[int]string{1: "one tab", 2: "two tabs"}[tabs], func(t *testing.T) {
			srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, Root: root})
			defer srv.Close()
			var page []context.Context
			for range tabs {
				tab, _ := lazyTab(t, srv, "noidle")
				page = append(page, tab)
			}
			inTab(t, page[0], nil, "loginNoWait", nil)
			inTab(t, page[0], nil, "expireUpstream", nil)
			got := make([]coldResult, tabs)
			errs := make([]error, tabs)
			var wg sync.WaitGroup
			for i, p := range page {
				wg.Go(func() { errs[i] = callTab(p, &got[i], "coldCalls", []any{50}) })
			}
			wg.Wait()
			for i, r := range got {
				require.NoError(t, errs[i])
				assert.Zero(t, r.Before, "tab %d: no module before its calls", i)
				for j, o := range r.Outcomes {
					assert.Equal(t, scenario.Outcome{Status: 200}, o, "tab %d call %d", i, j)
				}
			}
			assert.Equal(t, 1, srv.Stats().Requests["/api/auth/refresh"], "one refresh for every call of every tab")
		})
	}
}

// A session close to its expiry fetches the module ahead (the session
// cookie says when: the refresh-ahead window, and time for a slow link)
// on a page that is never idle, and the call made in the window refreshes
// first: no 401.
func TestModuleFetchedAheadOfExpiry(t *testing.T) {
	const ttl = 8 * time.Second // refresh ahead: a quarter of it
	srv := testserver.Start(testserver.Config{AccessTTL: ttl, Root: root})
	defer srv.Close()
	tab, _ := lazyTab(t, srv, "noidle")
	inTab(t, tab, nil, "loginNoWait", nil)
	inTab(t, tab, nil, "untilRunning", nil) // fetched ahead: nothing else asks for it
	inTab(t, tab, nil, "untilDue", []any{(ttl / 4).Milliseconds()})
	var got coldResult
	inTab(t, tab, &got, "coldCalls", []any{1})
	assert.Equal(t, 1, got.Before, "the module was there before the call")
	assert.Equal(t, []scenario.Outcome{{Status: 200}}, got.Outcomes)
	assert.Equal(t, 1, got.RefreshCalls, "refreshed ahead")
	assert.Zero(t, got.Unauthorized, "no 401")
}
