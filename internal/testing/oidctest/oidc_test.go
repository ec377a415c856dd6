//go:build oidc

package oidctest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/site"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/static"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/workertest"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	provider *Provider
	api      *API
	browser  context.Context // the shared browser; each test opens its own tab
	root     string          // the repository root
	// servers are the two hosts of the same handler in OIDC mode, by name:
	// "native" (cmd/server's handler) and "worker" (cmd/worker under the
	// local Workers runtime).
	servers = map[string]string{}
)

// TestMain starts the provider, the server in OIDC mode natively and as a
// Worker (both in front of an API that introspects its bearer tokens at
// the provider), and Chromium.
func TestMain(m *testing.M) {
	os.Exit(start(m))
}

func start(m *testing.M) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "oidctest:", err)
		return 1
	}
	var err error
	root, err = filepath.Abs("../../..")
	if err != nil {
		return fail(err)
	}
	for _, f := range []string{"js/fetch-with-refresh.wasm", "build/worker/app.wasm", "build/worker/assets/index.html", "node_modules/.bin/wrangler"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			return fail(fmt.Errorf("%s is missing: run `make test-oidc`, which builds it", f))
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	servers["native"] = "http://" + ln.Addr().String()
	workerPort := workertest.FreePort()
	servers["worker"] = "http://127.0.0.1:" + workerPort
	if provider, err = StartProvider(Config{
		Dir: "provider", Servers: []string{servers["native"], servers["worker"]}, AccessTTL: time.Minute,
	}); err != nil {
		return fail(err)
	}
	defer provider.Close()
	api = provider.API()
	apiServer := httptest.NewServer(api)
	defer apiServer.Close()

	stopNative, err := serveNative(ln, provider, apiServer.URL, nil)
	if err != nil {
		return fail(err)
	}
	defer stopNative()

	_, stopWorker, err := workertest.Start(root, "cmd/worker/wrangler.toml", workerPort,
		"--assets", filepath.Join(root, "build/worker/assets"), "--var", "FWR_UPSTREAM:"+apiServer.URL, "--var", "FWR_SESSION_KEYS:"+sessionKey,
		"--var", "FWR_OIDC_ISSUER:"+provider.Issuer, "--var", "FWR_OIDC_CLIENT_ID:"+ClientID,
		"--var", "FWR_OIDC_CLIENT_SECRET:"+ClientSecret, "--var", "FWR_PUBLIC_URL:"+servers["worker"])
	if err != nil {
		return fail(err)
	}
	defer stopWorker()

	var stop func()
	if browser, stop, err = browsertest.Start(); err != nil {
		return fail(err)
	}
	defer stop()
	return m.Run()
}

// stormAfterExpiry makes n concurrent calls in the tab once its access
// token has expired at the API: all succeed, and p saw exactly one
// refresh and no reuse.
func stormAfterExpiry(t *testing.T, ctx context.Context, p *Provider, n int) {
	t.Helper()
	before, err := p.Stats(ctx)
	require.NoError(t, err)
	statuses, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](fmt.Sprintf(`Promise.all(Array.from({ length: %d },
		() => fetchWithRefresh("/api/departments").then((r) => r.status)))`, n), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Len(t, statuses, n)
	for i, s := range statuses {
		assert.Equal(t, 200, s, "call %d", i)
	}
	after, err := p.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, after.Refresh-before.Refresh, "the provider saw exactly one refresh")
	assert.Equal(t, before.RefreshError, after.RefreshError, "and no reuse")
}

// serveNative serves the native BFF in OIDC mode at p on ln, in front of
// the API at apiURL, asking for scopes (nil: the default), until stop.
func serveNative(ln net.Listener, p *Provider, apiURL string, scopes []string) (stop func(), err error) {
	upstream, _ := url.Parse(apiURL)
	public, _ := url.Parse("http://" + ln.Addr().String())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := bff.New(bff.Config{
		Upstream: upstream, Logger: log, Cookies: codec,
		OIDC: &bff.OIDC{Issuer: p.Issuer, ClientID: ClientID, ClientSecret: ClientSecret, PublicURL: public, Scopes: scopes},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Discover(ctx); err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: site.New(h, nil, site.Files{WWW: os.DirFS(filepath.Join(root, "www")), JS: os.DirFS(filepath.Join(root, "js")), CSP: static.CSP})}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// Log in through the provider from the demo page's button and land back on
// the demo; 50 concurrent calls after the access token has gone all
// succeed with exactly one refresh at the provider; logout revokes the
// grant at the provider, and the old refresh cookie is refused.
func TestLoginStormLogout(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		ctx := browsertest.NewTab(t, browser)
		_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(server+"/")))
		browsertest.WaitFor(t, ctx, "the page", `document.body.dataset.ready === "true"`)
		browsertest.WaitFor(t, ctx, "the login button alone", `!document.getElementById("login").hidden &&
			!document.querySelector("#login input, #login .hint") && !!document.querySelector("#login-form button")`)

		// The demo page is marked as seen: passProvider's "done" is a page
		// of the server's origin after the provider's, not this one before
		// the click's navigation has begun.
		require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.fwrSeen = true`)))
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#login-form button"))))
		passProvider(t, ctx, `location.origin === `+jsString(server))
		browsertest.WaitFor(t, ctx, "the departments", `!document.getElementById("app").hidden &&
			document.querySelectorAll("#departments li").length === 5`)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		assert.Equal(t, server+"/", loc)

		access, refresh := browserTokens(t, ctx, server)
		active, err := provider.Active(ctx, refresh)
		require.NoError(t, err)
		require.True(t, active, "the provider issued a live refresh token")

		api.Expire(access) // the API now answers 401 to it, as to an expired one
		stormAfterExpiry(t, ctx, provider, 50)

		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(root, "test-artifacts"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, "test-artifacts", "oidc-demo-"+strings.TrimPrefix(t.Name(), "TestLoginStormLogout/")+".png"), shot, 0o644))

		access, rotated := browserTokens(t, ctx, server)
		assert.NotEqual(t, refresh, rotated, "the provider rotated the refresh token")

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout"))))
		browsertest.WaitFor(t, ctx, "the login form after logout", `!document.getElementById("login").hidden`)
		for name, token := range map[string]string{"refresh": rotated, "access": access} {
			active, err := provider.Active(ctx, token)
			require.NoError(t, err)
			assert.False(t, active, "the %s token is inactive after logout", name)
		}
		res := post(t, server, "/api/auth/refresh", sealed(t, rotated)...)
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "the old refresh cookie no longer refreshes")
	})
}

// Two tabs start logins before either finishes (each is at the provider's
// login page): each login has its own flow cookie, so both end logged in,
// the first started (whose cookie a shared one would have lost) first;
// each callback spends its own flow cookie.
func TestTwoTabsLogIn(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		tabs := []context.Context{browsertest.NewTab(t, browser), browsertest.NewTab(t, browser)}
		_, err := chromedp.Call(tabs[0], network.ClearBrowserCookies, cdp.Empty{})
		require.NoError(t, err)
		for i, tab := range tabs {
			require.NoError(t, chromedp.Do(tab, chromedp.Navigate(server+"/")))
			browsertest.WaitFor(t, tab, "the login button", `document.body.dataset.ready === "true" &&
				!document.getElementById("login").hidden && !!document.querySelector("#login-form button")`)
			require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.CSS("#login-form button"))))
			browsertest.WaitFor(t, tab, fmt.Sprintf("tab %d at the provider's login page", i),
				`location.origin === `+jsString(provider.Issuer)+` && !!document.querySelector("input[name=login]")`)
		}
		require.Equal(t, 2, len(flowCookies(t, tabs[0], server)), "a flow cookie per login")

		for i, tab := range tabs {
			passProvider(t, tab, `location.origin === `+jsString(server))
			browsertest.WaitFor(t, tab, fmt.Sprintf("tab %d's departments", i), `!document.getElementById("app").hidden &&
				document.querySelectorAll("#departments li").length === 5`)
			assert.Len(t, flowCookies(t, tab, server), 1-i, "the callback spent its own flow cookie only")
		}
		for i, tab := range tabs {
			status, err := chromedp.Run(tab, chromedp.Evaluate[int](`fetchWithRefresh("/api/departments").then((r) => r.status)`, chromedp.EvalAwaitPromise))
			require.NoError(t, err)
			assert.Equal(t, 200, status, "tab %d is logged in", i)
		}
	})
}

// flowCookies returns the names of the browser's OIDC flow cookies for
// server.
func flowCookies(t *testing.T, ctx context.Context, server string) []string {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{server + "/"}})
	require.NoError(t, err)
	var names []string
	for _, c := range res.Cookies {
		if strings.HasPrefix(c.Name, "__Host-fwr-oidc-flow-") {
			names = append(names, c.Name)
		}
	}
	return names
}

// Callbacks that must not log anyone in: each answers 400 and sets no
// session cookie.
func TestCallbackRefusals(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		tests := []struct {
			name string
			// authorize, when set, changes the authorization request.
			authorize func(q url.Values)
			// callback changes the callback's query and flow cookie.
			callback func(q url.Values, flow *http.Cookie) *http.Cookie
			// replay first completes the login, then replays the callback.
			replay bool
			// reason is in the 400 page.
			reason string
		}{
			{name: "tampered state", callback: func(q url.Values, flow *http.Cookie) *http.Cookie {
				q.Set("state", q.Get("state")+"x")
				return flow
			}, reason: "state does not match"},
			{name: "tampered flow cookie", callback: func(q url.Values, flow *http.Cookie) *http.Cookie {
				v := []byte(flow.Value)
				v[len(v)/2] ^= 1
				return &http.Cookie{Name: flow.Name, Value: string(v)}
			}, reason: "invalid or has expired"},
			{name: "no flow cookie", callback: func(q url.Values, flow *http.Cookie) *http.Cookie { return nil }, reason: "no login in progress"},
			{name: "error from the provider", callback: func(q url.Values, flow *http.Cookie) *http.Cookie {
				q.Del("code")
				q.Set("error", "access_denied")
				return flow
			}, reason: "refused the login: access_denied"},
			{name: "wrong nonce", authorize: func(q url.Values) { q.Set("nonce", "not-the-one-in-the-cookie") }, reason: "nonce does not match"},
			{name: "replayed code", replay: true, reason: "did not accept the authorization code"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				flow, authURL := startLogin(t, server, "/departments")
				if tt.authorize != nil {
					q := authURL.Query()
					tt.authorize(q)
					authURL.RawQuery = q.Encode()
				}
				cb := authorize(t, server, authURL.String())
				if tt.replay {
					res := get(t, cb.String(), flow)
					require.Equal(t, http.StatusSeeOther, res.StatusCode, "the first use logs in")
					assert.Equal(t, "/departments", res.Header.Get("Location"))
					assert.NotEmpty(t, sessionCookies(res))
				}
				if tt.callback != nil {
					q := cb.Query()
					flow = tt.callback(q, flow)
					cb.RawQuery = q.Encode()
				}
				before, err := provider.Stats(context.Background())
				require.NoError(t, err)
				res := get(t, cb.String(), flow)
				body, _ := io.ReadAll(res.Body)
				assert.Equal(t, http.StatusBadRequest, res.StatusCode, string(body))
				assert.Contains(t, string(body), "Login failed")
				assert.Contains(t, string(body), tt.reason)
				assert.Empty(t, sessionCookies(res), "no session cookie")
				if tt.replay {
					after, err := provider.Stats(context.Background())
					require.NoError(t, err)
					assert.Equal(t, before.CodeError+1, after.CodeError, "the provider refused the code again")
				}
			})
		}
	})
}

// GET /auth/logout revokes at the provider, clears the cookies and sends
// the browser to the provider's end_session_endpoint.
func TestLogoutPage(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		flow, authURL := startLogin(t, server, "/")
		res := get(t, authorize(t, server, authURL.String()).String(), flow)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		s := open(res.Cookies())
		require.NotNil(t, s, "the callback sets the session")
		refresh := s.RefreshToken
		require.NotEmpty(t, refresh)

		res = get(t, server+"/auth/logout", res.Cookies()...)
		require.Equal(t, http.StatusSeeOther, res.StatusCode)
		end, err := url.Parse(res.Header.Get("Location"))
		require.NoError(t, err)
		assert.Equal(t, provider.Issuer+"/session/end", end.Scheme+"://"+end.Host+end.Path)
		assert.Equal(t, ClientID, end.Query().Get("client_id"))
		assert.Equal(t, server+"/", end.Query().Get("post_logout_redirect_uri"))
		cleared := map[string]bool{}
		for _, c := range res.Cookies() {
			cleared[c.Name] = c.MaxAge < 0
		}
		assert.True(t, cleared[wire(cookies.SessionCookie+".0")], "the session cleared")
		assert.True(t, cleared[wire(cookies.ExpiresCookie)], "its expiry too")
		active, err := provider.Active(context.Background(), refresh)
		require.NoError(t, err)
		assert.False(t, active)
	})
}

func TestPasswordLoginPointsToTheProvider(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		res := post(t, server, "/api/auth/login", nil)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode)
		var body struct{ Error, LoginURL string }
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		assert.Equal(t, "password_login_disabled", body.Error)
		assert.Equal(t, "/auth/login", body.LoginURL)
	})
}

// forEachServer runs test against each host of the handler.
func forEachServer(t *testing.T, test func(t *testing.T, server string)) {
	for _, name := range []string{"native", "worker"} {
		t.Run(name, func(t *testing.T) { test(t, servers[name]) })
	}
}

// passProvider signs in and consents on the provider's development pages
// until done (a JavaScript expression) holds in the tab.
func passProvider(t *testing.T, ctx context.Context, done string) {
	t.Helper()
	for range 10 {
		// A page not yet marked is a new page: the previous action has
		// navigated away.
		state := pageState(t, ctx, `!window.fwrSeen && document.readyState === "complete" && (
			(`+done+`) ? "done" :
			document.querySelector("input[name=login]") ? "login" :
			document.querySelector("form button[type=submit]") ? "consent" : "")`)
		switch state {
		case "done":
			return
		case "login":
			require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.fwrSeen = true;
				document.querySelector("input[name=login]").value = "alice";
				document.querySelector("input[name=password]").value = "any";
				document.querySelector("form").submit();`)))
		case "consent":
			require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.fwrSeen = true;
				document.querySelector("form").submit();`)))
		}
	}
	t.Fatal("the provider's pages did not lead back")
}

// pageState polls expr in the tab until it gives a non-empty string. Unlike
// chromedp.Poll it goes on through navigations, which end an evaluation.
func pageState(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err == nil && state != "" {
			return state
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for the provider's pages: %v (last error: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// authorize runs an authorization request in a new tab, through the
// provider's pages, and returns the callback URL the provider redirected
// to, without letting the server see it.
func authorize(t *testing.T, server, authURL string) *url.URL {
	t.Helper()
	ctx := browsertest.NewTab(t, browser)
	var mu sync.Mutex
	var callback string
	paused := make(chan *fetch.EventRequestPaused, 1)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*fetch.EventRequestPaused); ok {
			select {
			case paused <- ev:
			default:
			}
		}
	}))
	go func() {
		for ev := range paused {
			mu.Lock()
			callback = ev.Request.URL
			mu.Unlock()
			_, _ = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/plain"}},
				Body:            []byte("intercepted"),
			})
		}
	}()
	t.Cleanup(func() { close(paused) })
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: server + "/auth/callback*"}},
	})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(authURL)))
	passProvider(t, ctx, `location.pathname === "/auth/callback" && document.body.textContent === "intercepted"`)
	mu.Lock()
	defer mu.Unlock()
	u, err := url.Parse(callback)
	require.NoError(t, err)
	return u
}

// browserTokens returns the tab's access and refresh cookies.
func browserTokens(t *testing.T, ctx context.Context, server string) (access, refresh string) {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{server + "/"}})
	require.NoError(t, err)
	var jar []*http.Cookie
	for _, c := range res.Cookies {
		jar = append(jar, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	s := open(jar)
	require.NotNil(t, s, "the browser holds a session")
	for _, c := range jar {
		assert.NotContains(t, c.Value, s.AccessToken, "no token in a cookie")
		assert.NotContains(t, c.Value, s.RefreshToken, "no token in a cookie")
	}
	return s.AccessToken, s.RefreshToken
}

// startLogin starts a login without a browser: the flow cookie and the
// authorization URL it redirects to.
func startLogin(t *testing.T, server, next string) (*http.Cookie, *url.URL) {
	t.Helper()
	res := get(t, server+"/auth/login?next="+url.QueryEscape(next), nil)
	require.Equal(t, http.StatusFound, res.StatusCode)
	cookies := res.Cookies()
	require.Len(t, cookies, 1)
	u, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u.String(), provider.Issuer+"/"))
	q := u.Query()
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.NotEmpty(t, q.Get("state"))
	assert.NotEmpty(t, q.Get("nonce"))
	assert.Equal(t, "openid offline_access", q.Get("scope"))
	return &http.Cookie{Name: cookies[0].Name, Value: cookies[0].Value}, u
}

// sessionKey seals the sessions of both servers (the native one and the
// Worker, FWR_SESSION_KEYS), so that the tests open them too.
const sessionKey = "b2lkY3Rlc3Qtc2Vzc2lvbi1rZXktMzItYnl0ZXMhISE="

// codec is the servers' session codec.
var codec = func() cookies.Codec {
	keys, err := cookies.ParseKeys(sessionKey)
	if err != nil {
		panic(err)
	}
	return cookies.Codec{Keys: keys}
}()

// open returns the session jar holds, or nil.
func open(jar []*http.Cookie) *cookies.Session {
	s, _ := codec.Open(jar)
	return s
}

// sealed returns the cookies of a session holding refresh.
func sealed(t *testing.T, refresh string) []*http.Cookie {
	t.Helper()
	jar, err := codec.Seal(codec.NewSession(authclient.Tokens{RefreshToken: refresh}, ""))
	require.NoError(t, err)
	return jar
}

// wire is a session cookie's name on the wire: the servers run in secure
// mode (__Host- names).
var wire = cookies.Codec{}.Name

// noRedirects is a client that returns redirects as they are.
// A server that does not answer fails its test within the timeout rather
// than hold the suite.
var noRedirects = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	return do(t, http.MethodGet, u, nil, cookies...)
}

// post POSTs a login body with the CSRF header to path.
func post(t *testing.T, server, path string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	return do(t, http.MethodPost, server+path, strings.NewReader(`{"username":"demo","password":"demo"}`), cookies...)
}

func do(t *testing.T, method, u string, body io.Reader, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("X-CSRF", "1")
		req.Header.Set("Content-Type", "application/json")
	}
	for _, c := range cookies {
		if c != nil && c.MaxAge >= 0 {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	res, err := noRedirects.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// sessionCookies returns the session cookies a response sets with a value.
func sessionCookies(res *http.Response) []string {
	var names []string
	for _, c := range res.Cookies() {
		if (strings.HasPrefix(c.Name, wire(cookies.SessionCookie+".")) || c.Name == wire(cookies.ExpiresCookie)) && c.Value != "" {
			names = append(names, c.Name)
		}
	}
	return names
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// A provider whose JWT access tokens carry 7 KB of claims (an Entra ID or
// Keycloak token with many groups): in Chromium, the login keeps its
// session (sealed, chunked), the session endpoint shows the configured
// claims of the ID token, calls go through, an expiry costs one refresh at
// the provider, and the logout ends it all.
func TestLargeProviderTokens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	server := "http://" + ln.Addr().String()
	p, err := StartProvider(Config{Dir: "provider", Servers: []string{server}, AccessTTL: time.Minute, JWTClaimsBytes: 7000})
	require.NoError(t, err)
	defer p.Close()
	papi := p.API()
	apiServer := httptest.NewServer(papi)
	defer apiServer.Close()
	stopNative, err := serveNative(ln, p, apiServer.URL, []string{"openid", "offline_access", "profile", "email"})
	require.NoError(t, err)
	defer stopNative()

	ctx := browsertest.NewTab(t, browser)
	_, err = chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(server+"/")))
	browsertest.WaitFor(t, ctx, "the login button", `document.body.dataset.ready === "true" && !!document.querySelector("#login-form button")`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.fwrSeen = true`)))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#login-form button"))))
	passProvider(t, ctx, `location.origin === `+jsString(server))
	browsertest.WaitFor(t, ctx, "the departments", `!document.getElementById("app").hidden &&
		document.querySelectorAll("#departments li").length === 5`)

	s := browsertest.Session(t, ctx, server, codec)
	require.NotNil(t, s, "Chromium kept the session")
	assert.Greater(t, len(s.AccessToken), 6000, "a JWT access token of over 6 KB")
	assert.NotEmpty(t, s.ID, "the ID token's sid, or a random one")
	who, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`fetch("/api/auth/session").then((r) => r.json())`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.Equal(t, true, who["authenticated"])
	user, _ := who["user"].(map[string]any)
	require.NotNil(t, user, "the configured claims: %v", who)
	assert.NotEmpty(t, user["sub"])
	assert.Equal(t, "Test User "+user["sub"].(string), user["name"])
	assert.Equal(t, user["sub"].(string)+"@example.test", user["email"])
	assert.NotContains(t, user, "groups", "only the configured claims")
	browsertest.WaitFor(t, ctx, "the name in the page", `document.getElementById("user").textContent.startsWith("Test User")`)

	papi.Expire(s.AccessToken)
	stormAfterExpiry(t, ctx, p, 20)
	rotated := browsertest.Session(t, ctx, server, codec)
	require.NotNil(t, rotated)
	assert.Greater(t, len(rotated.AccessToken), 6000)
	assert.Equal(t, s.ID, rotated.ID, "the same session")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout"))))
	browsertest.WaitFor(t, ctx, "the login form after logout", `!document.getElementById("login").hidden`)
	active, err := p.Active(ctx, rotated.RefreshToken)
	require.NoError(t, err)
	assert.False(t, active, "the refresh token is revoked")
	assert.Nil(t, browsertest.Session(t, ctx, server, codec), "no session in the browser")
}

// Security round 3, finding 1: after the provider's login, the callback
// sends the browser to next only as a path of this origin, resolved as the
// browser resolves it: dot segments before the slashes, encoded forms and
// backslashes end on "/", natively and on the Worker.
func TestCallbackNextStaysOnTheOrigin(t *testing.T) {
	forEachServer(t, func(t *testing.T, server string) {
		for _, tt := range []struct{ next, want string }{
			{"/departments?x=1", "/departments?x=1"},
			{"/.//evil.example", "/"},
			{"/..///evil.example", "/"},
			{"/%2e//evil.example", "/"},
			{"/%2F/evil.example", "/"},
			{"/\\evil.example", "/"},
			{"//evil.example", "/"},
		} {
			flow, authURL := startLogin(t, server, tt.next)
			res := get(t, authorize(t, server, authURL.String()).String(), flow)
			require.Equal(t, http.StatusSeeOther, res.StatusCode, tt.next)
			assert.Equal(t, tt.want, res.Header.Get("Location"), tt.next)
		}
	})
}
