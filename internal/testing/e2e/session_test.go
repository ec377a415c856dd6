//go:build e2e

package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// The session's life in the module (issue 12), in Chromium: each of these
// failed before the module decided it in Go.

func TestWrongPasswordIsAResponse(t *testing.T) { scenario.WrongPassword(t, run) }

// An AuthError before login, then a login by plain fetch: the new session
// cookie ends the failure, and the next expiry refreshes.
func TestPlainFetchLoginAfterAuthError(t *testing.T) {
	var got struct {
		Early, After scenario.Outcome
		RefreshCalls int
		Events       []scenario.Event
	}
	run(t, &got, "plainLogin")
	assert.Equal(t, scenario.Outcome{Error: "AuthError", Status: 401}, got.Early)
	assert.Equal(t, scenario.Outcome{Status: 200}, got.After, "refreshed, not failed with the old AuthError")
	assert.Equal(t, 2, got.RefreshCalls, "the early call's, and the one after the expiry")
	assert.Equal(t, []scenario.Event{
		{Type: "end", Error: "AuthError", Status: 401},
		{Type: "refresh", Error: "AuthError", Status: 401},
		{Type: "login"},
		{Type: "refresh"},
	}, got.Events)
}

// A 401 from another origin (127.0.0.2) is returned as it is: no refresh,
// no replay, no event.
func TestCrossOrigin401IsNotOurs(t *testing.T) {
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err, "a second loopback address")
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
	}))
	other.Listener = ln
	other.Start()
	defer other.Close()

	var got struct {
		Res          scenario.Outcome
		RefreshCalls int
		Events       []scenario.Event
		AuthFailures int
	}
	run(t, &got, "crossOrigin", other.URL+"/resource")
	assert.Equal(t, scenario.Outcome{Status: 401}, got.Res)
	assert.Zero(t, got.RefreshCalls)
	assert.Empty(t, got.Events)
	assert.Zero(t, got.AuthFailures)
	assert.EqualValues(t, 1, hits.Load(), "not replayed")
}

// A logout in tab 1 reaches tab 2 as a "logout" event, once; a login in
// tab 1 reaches tab 2 as a "login" event, once.
func TestLoginAndLogoutReachTheOtherTab(t *testing.T) {
	srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, Root: root})
	defer srv.Close()
	ts := tabs(t, srv, 2, "{}")

	inTab(t, ts[0], nil, "loginOnly", nil)
	var seen []scenario.Event
	inTab(t, ts[1], &seen, "eventsUntil", []any{"login"})
	assert.Equal(t, []scenario.Event{{Type: "login", OtherTab: true}}, seen)

	var status int
	inTab(t, ts[0], &status, "logoutOnly", nil)
	require.Equal(t, 204, status)
	inTab(t, ts[1], &seen, "eventsUntil", []any{"logout"})
	assert.Equal(t, []scenario.Event{{Type: "logout", OtherTab: true}}, seen)
	inTab(t, ts[0], &seen, "takeEvents", nil)
	assert.Equal(t, []scenario.Event{{Type: "login"}, {Type: "logout"}}, seen, "tab 1 saw its own, once each")

	var after burstResult
	inTab(t, ts[1], &after, "burst", []any{2})
	for _, o := range after.Outcomes {
		assert.Equal(t, scenario.Outcome{Error: "AuthError", Status: 401}, o, "logged out: no refresh")
	}
	assert.Zero(t, srv.Stats().Requests["/api/auth/refresh"])
}

// The TTL table of issue 12: a page that calls steadily refreshes once per
// token lifetime, not more, and no call is answered 401, against strict
// rotation. 60 s and 1 h: a few seconds of calls right after login refresh
// nothing (the window rule itself is unit-tested over whole lifetimes in
// refresh and bff/internal/auth).
func TestRefreshAheadSizedToTheToken(t *testing.T) {
	tests := []struct {
		ttl                    time.Duration
		callFor                time.Duration
		minRefresh, maxRefresh int
	}{
		{2 * time.Second, 5 * time.Second, 2, 4},   // at 1.5 s, 3 s, 4.5 s
		{10 * time.Second, 12 * time.Second, 1, 2}, // at 7.5 s
		{time.Minute, 3 * time.Second, 0, 0},
		{time.Hour, 3 * time.Second, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			srv := testserver.Start(testserver.Config{AccessTTL: tt.ttl, AbsorbWindow: -1, Root: root})
			defer srv.Close()
			tab := tabs(t, srv, 1, "{}")[0]
			var got struct {
				Calls             int
				Outcomes          map[string]int
				UpstreamRefreshes int
				Unauthorized      int
			}
			inTab(t, tab, &got, "steady", []any{tt.callFor.Milliseconds(), 50})
			t.Logf("%d calls, %d upstream refreshes", got.Calls, got.UpstreamRefreshes)
			assert.Equal(t, map[string]int{"200": got.Calls}, got.Outcomes)
			assert.Zero(t, got.Unauthorized, "no call was answered 401")
			assert.GreaterOrEqual(t, got.UpstreamRefreshes, tt.minRefresh)
			assert.LessOrEqual(t, got.UpstreamRefreshes, tt.maxRefresh, "at most one refresh per token lifetime")
			assert.Zero(t, srv.Stats().Upstream.Reuses)
		})
	}
}

// Abort while a call waits for a refresh ahead (the module's begin
// answered "wait"): that call rejects alone, before the refresh ends; the
// other is sent once the refresh is done, and no call was answered 401.
func TestAbortWhileWaitingForARefreshAhead(t *testing.T) {
	srv := testserver.Start(testserver.Config{AccessTTL: 2 * time.Second, Root: root})
	defer srv.Close()
	tab := tabs(t, srv, 1, "{}")[0]
	var got struct {
		Aborted, Other   scenario.Outcome
		Unauthorized     int
		DepartmentsCalls int
	}
	inTab(t, tab, &got, "abortAhead", []any{400}) // the window of a 2 s token is 500 ms
	assert.Equal(t, "AbortError", got.Aborted.Error)
	assert.Equal(t, scenario.Outcome{Status: 200}, got.Other)
	assert.Zero(t, got.Unauthorized)
	assert.Equal(t, 1, got.DepartmentsCalls, "the aborted call was never sent")
}

// Tokens of an identity provider's size (an 8 KB access token, a 2 KB
// refresh token) in Chromium: the login keeps its session in __Host-Http-
// cookies the browser keeps (none holding a token), the session endpoint
// and the login event name the user, 50 concurrent calls after expiry cost
// one upstream refresh and no reuse, a reload keeps the session, and a
// logout ends it.
func TestLargeTokens(t *testing.T) {
	srv := testserver.Start(testserver.Config{AccessTTL: time.Hour, AccessTokenBytes: 8 << 10, RefreshTokenBytes: 2 << 10, Root: root})
	defer srv.Close()
	tab := tabs(t, srv, 1, "{}")[0]

	inTab(t, tab, nil, "loginOnly", nil)
	s := browsertest.Session(t, tab, srv.URL, cookies.Codec{})
	require.NotNil(t, s, "Chromium kept the session")
	assert.Len(t, s.AccessToken, 8<<10)
	assert.Len(t, s.RefreshToken, 2<<10)
	var chunks []string
	for _, c := range browsertest.Jar(t, tab, srv.URL) {
		if strings.HasPrefix(c.Name, cookies.HTTPOnlyPrefix+cookies.SessionCookie+".") {
			chunks = append(chunks, c.Name)
			assert.True(t, c.HTTPOnly, c.Name)
		}
	}
	assert.Len(t, chunks, 4, "the sealed session in its __Host-Http- chunks")

	var who struct {
		Session struct {
			Authenticated bool
			User          map[string]any
		}
		LoginUser map[string]any
	}
	inTab(t, tab, &who, "whoAmI", nil)
	assert.True(t, who.Session.Authenticated)
	assert.Equal(t, "Demo User (demo)", who.Session.User["name"])
	assert.Equal(t, "Demo User (demo)", who.LoginUser["name"], "the login event names the user")

	scenario.Storm(t, func(t *testing.T, out any, name string, args ...any) { inTab(t, tab, out, name, args) })

	require.NoError(t, chromedp.Do(tab, chromedp.Reload()))
	inTab(t, tab, nil, "", nil)
	var after burstResult
	inTab(t, tab, &after, "burst", []any{3})
	for _, o := range after.Outcomes {
		assert.Equal(t, scenario.Outcome{Status: 200}, o, "the session survives a reload")
	}

	var status int
	inTab(t, tab, &status, "logoutOnly", nil)
	assert.Equal(t, 204, status)
	assert.Nil(t, browsertest.Session(t, tab, srv.URL, cookies.Codec{}), "the logout ended the session")
}

// A hanging auth server: every call made after the token expired settles
// within the module's refresh timeout with RefreshUnavailableError (the
// server's auth timeout, 8 s, answers 504 before the module's 10 s), one
// call, 50 at once, or in two tabs; the session is kept. The Worker runs
// the same (workertest). Each case takes the 8 s.
func TestHangingAuthServerBoundsEveryWait(t *testing.T) {
	hang := func(on bool) {
		if on {
			post(t, "/test/fault", `{"path": "upstream/auth/refresh", "status": 504, "hold": true, "times": 100000}`)
		} else {
			post(t, "/test/reset", "") // the held refreshes answer 504: none reaches the upstream late
		}
	}
	for _, tt := range []struct {
		name        string
		tabs, calls int
	}{{"one call", 1, 1}, {"50 calls", 1, 50}, {"two tabs", 2, 10}} {
		t.Run(tt.name, func(t *testing.T) { browsertest.HangingAuth(t, browser, server.URL, hang, tt.tabs, tt.calls) })
	}
}

// post POSTs body to the test server's path.
func post(t *testing.T, path, body string) {
	t.Helper()
	res, err := http.Post(server.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	res.Body.Close()
	require.Less(t, res.StatusCode, 300, path)
}
