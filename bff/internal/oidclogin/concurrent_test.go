package oidclogin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browser is h behind TLS, reached by a client with a cookie jar that
// keeps, sends and deletes the cookies as a browser does, and that does
// not follow redirects.
type browser struct {
	srv    *httptest.Server
	client *http.Client
	jar    http.CookieJar
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := srv.Client()
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{srv, client, jar}
}

func (b *browser) get(t *testing.T, path string) *http.Response {
	t.Helper()
	res, err := b.client.Get(b.srv.URL + path)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// login starts a login whose authorization code will be code.
func (b *browser) login(t *testing.T, f *fakeProvider, next, code string) url.Values {
	t.Helper()
	res := b.get(t, "/auth/login?next="+url.QueryEscape(next))
	require.Equal(t, http.StatusFound, res.StatusCode)
	return f.authorize(t, code, res)
}

// cookies returns the jar's cookies for the server, by name.
func (b *browser) cookies() map[string]string {
	u, _ := url.Parse(b.srv.URL)
	out := map[string]string{}
	for _, c := range b.jar.Cookies(u) {
		out[c.Name] = c.Value
	}
	return out
}

// session opens the session the jar holds; nil when none.
func (b *browser) session() *cookies.Session {
	u, _ := url.Parse(b.srv.URL)
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range b.jar.Cookies(u) {
		r.AddCookie(c)
	}
	s, err := cookies.Codec{}.Read(r)
	if err != nil {
		return nil
	}
	return s
}

// flows counts the jar's flow cookies.
func (b *browser) flows() int {
	n := 0
	for name := range b.cookies() {
		if strings.HasPrefix(name, "__Host-"+flowPrefix) {
			n++
		}
	}
	return n
}

// Two logins started in one browser (two tabs, a double click) both end
// logged in, whichever comes back first, and spend their own flow cookie.
func TestConcurrentLogins(t *testing.T) {
	for _, tt := range []struct {
		name  string
		order []int // which login's callback comes back first
	}{
		{"first started, first back", []int{0, 1}},
		{"last started, first back", []int{1, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeProvider(t)
			b := newBrowser(t, newHandler(t, f))
			logins := []struct{ next, code string }{{"/departments", "cA"}, {"/people?x=1", "cB"}}
			states := make([]string, len(logins))
			for i, l := range logins {
				states[i] = b.login(t, f, l.next, l.code).Get("state")
			}
			require.NotEqual(t, states[0], states[1])
			require.Equal(t, 2, b.flows(), "one flow cookie per login")

			for n, i := range tt.order {
				res := b.get(t, "/auth/callback?code="+logins[i].code+"&state="+url.QueryEscape(states[i]))
				body, _ := io.ReadAll(res.Body)
				require.Equal(t, http.StatusSeeOther, res.StatusCode, string(body))
				assert.Equal(t, logins[i].next, res.Header.Get("Location"))
				assert.Equal(t, "refresh-"+logins[i].code, b.session().RefreshToken)
				assert.Equal(t, len(logins)-n-1, b.flows(), "the callback spends its own flow cookie only")
			}
		})
	}
}

// A login beyond maxFlows drops the oldest flow cookie, and any that does
// not open; the dropped login's callback fails, the others still succeed.
func TestFlowCap(t *testing.T) {
	f := newFakeProvider(t)
	var mu sync.Mutex
	now := time.Now()
	h, err := discover(Config{
		Issuer: f.URL, ClientID: "app", ClientSecret: "secret", PublicURL: public,
		Transport: http.DefaultTransport, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { // a second later at each call: the logins' order is plain
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Second)
			return now
		},
	})
	require.NoError(t, err)
	b := newBrowser(t, h)
	u, _ := url.Parse(b.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: "__Host-" + flowPrefix + "forged", Value: "x", Path: "/", Secure: true}})

	codes := []string{"c0", "c1", "c2", "c3", "c4", "c5"}
	states := make([]string, len(codes))
	for i, code := range codes {
		states[i] = b.login(t, f, "/", code).Get("state")
		assert.LessOrEqual(t, b.flows(), maxFlows, "after login %d", i)
	}
	assert.Equal(t, maxFlows, b.flows())
	assert.NotContains(t, b.cookies(), "__Host-"+flowPrefix+"forged")

	res := b.get(t, "/auth/callback?code=c0&state="+url.QueryEscape(states[0]))
	body, _ := io.ReadAll(res.Body)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, string(body), "the state does not match any login in progress")
	assert.Nil(t, b.session())
	for i := len(codes) - 1; i > 0; i-- {
		res := b.get(t, "/auth/callback?code="+codes[i]+"&state="+url.QueryEscape(states[i]))
		assert.Equal(t, http.StatusSeeOther, res.StatusCode, "login %d", i)
	}
	assert.Zero(t, b.flows())
}

// A callback whose state names no flow cookie fails without touching the
// logins in progress.
func TestCallbackWithUnknownState(t *testing.T) {
	f := newFakeProvider(t)
	b := newBrowser(t, newHandler(t, f))
	q := b.login(t, f, "/", "c1")
	for _, state := range []string{q.Get("state") + "x", ""} {
		res := b.get(t, "/auth/callback?code=c1&state="+url.QueryEscape(state))
		body, _ := io.ReadAll(res.Body)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode)
		assert.Contains(t, string(body), "state does not match")
		assert.Empty(t, res.Cookies(), "no session cookie, and the login in progress is kept")
	}
	res := b.get(t, "/auth/callback?code=c1&state="+url.QueryEscape(q.Get("state")))
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
}

func TestAudienceAndInsecureCookies(t *testing.T) {
	f := newFakeProvider(t)
	h, err := discover(Config{
		Issuer: f.URL, ClientID: "app", ClientSecret: "secret", PublicURL: public, Audience: "https://api.example/",
		Transport: http.DefaultTransport, Cookies: cookies.Codec{Insecure: true}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	res := serve(h, "/auth/login")
	require.Equal(t, http.StatusFound, res.StatusCode)
	q := f.authorize(t, "c1", res)
	assert.Equal(t, "https://api.example/", q.Get("audience"))
	assert.Equal(t, "openid offline_access", q.Get("scope"))
	require.Len(t, res.Cookies(), 1)
	flow := res.Cookies()[0]
	assert.Equal(t, flowName(flowPrefix, q.Get("state")), flow.Name, "no __Host- prefix")
	assert.False(t, flow.Secure)
	assert.Equal(t, http.SameSiteLaxMode, flow.SameSite)

	res = serve(h, "/auth/callback?code=c1&state="+url.QueryEscape(q.Get("state")), flow)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
}
