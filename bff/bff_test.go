package bff

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/internal/proxy"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The HTTP contract (README, "HTTP endpoints"), row by row, against the real handler in
// front of the demo upstream (or a hand-written failing one).

type env struct {
	handler  http.Handler
	upstream *demo.Server
}

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	up := demo.New(demo.Config{})
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return &env{handler: newHandler(t, srv.URL, mutate...), upstream: up}
}

func newHandler(t *testing.T, upstreamURL string, mutate ...func(*Config)) http.Handler {
	t.Helper()
	u, err := url.Parse(upstreamURL)
	require.NoError(t, err)
	cfg := Config{Upstream: u, Transport: http.DefaultTransport, AuthTimeout: 2 * time.Second, ProxyTimeout: 2 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	h, err := New(cfg)
	require.NoError(t, err)
	return h
}

// request builds an /api request with the CSRF header and the given cookies.
func request(method, path, body string, cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(method, "http://app.test"+path, strings.NewReader(body))
	r.Header.Set("X-CSRF", "1")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// jarOf returns the response's cookies by their plain names (without
// cookies.HostPrefix); each keeps its name on the wire, to be sent back.
func jarOf(res *http.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range res.Cookies() {
		m[strings.TrimPrefix(c.Name, cookies.HostPrefix)] = c
	}
	return m
}

// wire is a session cookie's name on the wire in secure mode (the default).
func wire(name string) string { return cookies.Codec{}.Name(name) }

// chunk0 is the first chunk of the sealed session, by its plain name.
const chunk0 = cookies.SessionCookie + ".0"

// live returns the cookies of res that a browser keeps (not the
// deletions), to send back.
func live(res *http.Response) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range res.Cookies() {
		if c.MaxAge >= 0 {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return out
}

// login logs in and returns the session's cookies.
func login(t *testing.T, h http.Handler) []*http.Cookie {
	t.Helper()
	res := serve(h, request("POST", "/api/auth/login", `{"username":"demo","password":"demo"}`))
	require.Equal(t, http.StatusOK, res.StatusCode)
	jar := live(res)
	require.NotNil(t, open(t, jar), "the answer sets a session")
	return jar
}

// open returns the session that jar holds (the tests' handlers seal with
// their process's key, as the zero cookies.Codec does), or nil.
func open(t *testing.T, jar []*http.Cookie, codec ...cookies.Codec) *cookies.Session {
	t.Helper()
	c := cookies.Codec{}
	if len(codec) > 0 {
		c = codec[0]
	}
	s, _ := c.Open(jar)
	return s
}

// sealed returns the cookies of a session holding access and refresh (and
// expiring at expires, if not zero), as the handler would have set them.
func sealed(t *testing.T, access, refresh string, expires time.Time) []*http.Cookie {
	t.Helper()
	c := cookies.Codec{}
	jar, err := c.Seal(c.NewSession(authclient.Tokens{AccessToken: access, RefreshToken: refresh, Expires: expires}, ""))
	require.NoError(t, err)
	return jar
}

func jsonError(t *testing.T, res *http.Response) string {
	t.Helper()
	assert.Equal(t, "application/json; charset=utf-8", res.Header.Get("Content-Type"))
	var body struct{ Error, Message string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	assert.NotEmpty(t, body.Message)
	return body.Error
}

func TestAuthEndpointsAllowOnlyPOST(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/auth/login", "/api/auth/refresh", "/api/auth/logout"} {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			res := serve(e.handler, request(method, path, ""))
			assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, method+" "+path)
			assert.Equal(t, "POST", res.Header.Get("Allow"))
			assert.Equal(t, "method_not_allowed", jsonError(t, res))
		}
	}
	res := serve(e.handler, request("POST", "/api/auth/nope", ""))
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Equal(t, "not_found", jsonError(t, res))
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		header string
		origin string
		want   int
	}{
		{"no header", "", "", http.StatusForbidden},
		{"wrong value", "yes", "", http.StatusForbidden},
		{"foreign origin", "1", "http://evil.test", http.StatusForbidden},
		{"origin with another port", "1", "http://app.test:8443", http.StatusForbidden},
		{"malformed origin", "1", "http://[::1", http.StatusForbidden},
		{"same origin", "1", "http://app.test", http.StatusUnauthorized},
		{"no origin", "1", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("POST", "/api/auth/refresh", "")
			r.Header.Del("X-CSRF")
			if tt.header != "" {
				r.Header.Set("X-CSRF", tt.header)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			res := serve(e.handler, r)
			assert.Equal(t, tt.want, res.StatusCode)
			if tt.want == http.StatusForbidden {
				assert.Equal(t, "csrf", jsonError(t, res))
			}
		})
	}
}

func TestLoginSetsCookiesWithEveryAttribute(t *testing.T) {
	tests := []struct {
		name          string
		cookies       cookies.Codec
		accessMaxAge  int
		refreshMaxAge int
	}{
		{"defaults", cookies.Codec{}, 3600, 604800},
		{"flags", cookies.Codec{RefreshMaxAge: 48 * time.Hour, Insecure: true}, 7200, 172800},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Cookies = tt.cookies })
			res := serve(e.handler, request("POST", "/api/auth/login", `{"username":"demo","password":"demo"}`))
			require.Equal(t, http.StatusOK, res.StatusCode)
			var body struct {
				Success   bool
				ExpiresAt int64
			}
			require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
			assert.True(t, body.Success)
			assert.InDelta(t, time.Now().Add(time.Minute).UnixMilli(), body.ExpiresAt, 5000)
			assert.NotEmpty(t, res.Header.Get(cookies.ExpiresHeader))

			c := map[string]*http.Cookie{}
			for _, ck := range res.Cookies() {
				if ck.MaxAge >= 0 {
					c[ck.Name] = ck
				}
			}
			session, binding, expiry := tt.cookies.Name(chunk0), tt.cookies.Name(cookies.BindCookie), tt.cookies.Name(cookies.ExpiresCookie)
			require.Len(t, c, 3, "one sealed cookie, the binding and the expiry")
			for _, name := range []string{session, binding, expiry} {
				require.Contains(t, c, name)
				ck := c[name]
				assert.NotEmpty(t, ck.Value)
				assert.Equal(t, !tt.cookies.Insecure, ck.Secure, name)
				assert.Equal(t, http.SameSiteStrictMode, ck.SameSite, name)
				assert.Equal(t, "/", ck.Path, name)
				assert.Equal(t, tt.refreshMaxAge, ck.MaxAge, name)
			}
			for _, name := range []string{session, binding} {
				assert.True(t, c[name].HttpOnly, name)
				assert.Equal(t, !tt.cookies.Insecure, strings.HasPrefix(name, cookies.HTTPOnlyPrefix), name)
			}
			assert.False(t, c[expiry].HttpOnly, "the expiry is readable by the page")
			s := open(t, live(res), tt.cookies)
			require.NotNil(t, s)
			for _, ck := range c {
				assert.NotContains(t, ck.Value, s.AccessToken, "no token in a cookie")
				assert.NotContains(t, ck.Value, s.RefreshToken, "no token in a cookie")
			}
		})
	}
}

func TestLoginBadInput(t *testing.T) {
	tests := []struct {
		name, body string
		want       int
		code       string
	}{
		{"wrong password", `{"username":"demo","password":"nope"}`, 401, "invalid_credentials"},
		{"malformed JSON", `{"username":"demo",`, 400, "invalid_request"},
		{"not JSON", `username=demo`, 400, "invalid_request"},
		{"missing password", `{"username":"demo"}`, 400, "invalid_request"},
		{"empty body", ``, 400, "invalid_request"},
		{"wrong types", `{"username":1,"password":true}`, 400, "invalid_request"},
		{"too large", `{"username":"` + strings.Repeat("x", 80<<10) + `"}`, 413, "too_large"},
		{"junk after the JSON", `{"username":"demo","password":"demo"} junk`, 400, "invalid_request"},
		{"a second value", `{"username":"demo","password":"demo"}{}`, 400, "invalid_request"},
		{"valid JSON, then 70 KiB of junk", `{"username":"demo","password":"demo"}` + strings.Repeat("x", 70<<10), 413, "too_large"},
		{"valid JSON, then 70 KiB of spaces", `{"username":"demo","password":"demo"}` + strings.Repeat(" ", 70<<10), 413, "too_large"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := serve(e.handler, request("POST", "/api/auth/login", tt.body))
			assert.Equal(t, tt.want, res.StatusCode)
			assert.Equal(t, tt.code, jsonError(t, res))
			assert.Empty(t, res.Cookies())
		})
	}
}

func TestLoginWhiteSpaceAfterTheJSONIsFine(t *testing.T) {
	res := serve(newEnv(t).handler, request("POST", "/api/auth/login", "{\"username\":\"demo\",\"password\":\"demo\"}\r\n"))
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

// Finding 6: a session cookie sent twice (a sibling subdomain planted one)
// is refused on every route, rather than the first one taken.
func TestDuplicateSessionCookieIs400(t *testing.T) {
	e := newEnv(t)
	jar := login(t, e.handler)
	planted := &http.Cookie{Name: wire(chunk0), Value: "planted"}
	for _, tt := range []struct{ method, path string }{
		{"POST", "/api/auth/refresh"}, {"GET", "/api/departments"}, {"POST", "/api/auth/logout"},
	} {
		for _, order := range [][]*http.Cookie{append([]*http.Cookie{planted}, jar...), append(append([]*http.Cookie{}, jar...), planted)} {
			res := serve(e.handler, request(tt.method, tt.path, "", order...))
			assert.Equal(t, http.StatusBadRequest, res.StatusCode, tt.path)
			assert.Equal(t, "duplicate_cookie", jsonError(t, res))
			assert.Empty(t, res.Cookies(), "the session is left alone")
		}
	}
	assert.Zero(t, e.upstream.Stats().Refreshes, "no refresh with either")

	// A plain-named look-alike beside the real one is ignored.
	res := serve(e.handler, request("POST", "/api/auth/refresh", "", append([]*http.Cookie{{Name: chunk0, Value: "planted"}}, jar...)...))
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

func TestRefresh(t *testing.T) {
	e := newEnv(t)
	jar := login(t, e.handler)
	before := open(t, jar)

	res := serve(e.handler, request("POST", "/api/auth/refresh", ""))
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "no cookie")
	assert.Equal(t, "no_session", jsonError(t, res))

	res = serve(e.handler, request("POST", "/api/auth/refresh", "", jar...))
	require.Equal(t, http.StatusOK, res.StatusCode)
	after := open(t, live(res))
	require.NotNil(t, after)
	assert.NotEqual(t, before.AccessToken, after.AccessToken, "rotated")
	assert.NotEqual(t, before.RefreshToken, after.RefreshToken, "rotated")
	assert.Equal(t, before.ID, after.ID, "the same session")
	assert.Equal(t, before.Started, after.Started)
	assert.Equal(t, 1, e.upstream.Stats().Refreshes)
}

// Reuse of an old refresh cookie after the absorption window: 401, cookies
// cleared, and the upstream revoked the family (the new pair is dead too).
func TestRefreshReuseEndsTheSession(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AbsorbWindow = -1 })
	jar := login(t, e.handler)
	res := serve(e.handler, request("POST", "/api/auth/refresh", "", jar...))
	require.Equal(t, http.StatusOK, res.StatusCode)
	next := live(res)

	res = serve(e.handler, request("POST", "/api/auth/refresh", "", jar...))
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	assert.Equal(t, "refresh_rejected", jsonError(t, res))
	cleared := jarOf(res)
	for _, name := range []string{chunk0, cookies.ExpiresCookie} {
		require.Contains(t, cleared, strings.TrimPrefix(wire(name), cookies.HostPrefix))
		assert.Equal(t, -1, cleared[strings.TrimPrefix(wire(name), cookies.HostPrefix)].MaxAge, name+" cleared")
	}
	assert.Equal(t, 1, e.upstream.Stats().Reuses)
	res = serve(e.handler, request("POST", "/api/auth/refresh", "", next...))
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "the family is revoked")
}

func TestRefreshWithMalformedCookies(t *testing.T) {
	e := newEnv(t)
	for _, header := range []string{"__Host-Http-fwr-session.0=", "__Host-Http-fwr-session.0", "__Host-Http-fwr-session.0=\"unterminated",
		"=x; ;;", "__Host-Http-fwr-session.0=a b", "__Host-Http-fwr-session.9=x", "__Host-Http-fwr-session.01=x", "__Host-Http-fwr-session.-1=x",
		"__Host-Http-fwr-session.0=" + strings.Repeat("A", 3800) + "; __Host-Http-fwr-session.1=AAAA"} {
		r := request("POST", "/api/auth/refresh", "")
		r.Header.Set("Cookie", header)
		res := serve(e.handler, r)
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode, header)
		jsonError(t, res)
	}
}

// failingUpstream answers the auth endpoints with status after delay.
func failingUpstream(t *testing.T, status int, delay time.Duration) string {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-done:
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv.URL
}

// A transient upstream failure during refresh is never a logout: the BFF
// answers 502/503/504 JSON and sets no cookie.
func TestRefreshTransientFailuresKeepCookies(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name     string
		upstream string
		want     int
		code     string
	}{
		{"unreachable", closed.URL, 502, "upstream_unreachable"},
		{"500", failingUpstream(t, 500, 0), 503, "upstream_error"},
		{"503", failingUpstream(t, 503, 0), 503, "upstream_error"},
		{"unexpected 302", failingUpstream(t, 302, 0), 502, "upstream_invalid"},
		{"200 without tokens", failingUpstream(t, 200, 0), 502, "upstream_invalid"},
		// Answers only when the test ends: the 504 itself shows that the
		// auth timeout ended the call (without it, the test would hang).
		{"hanging", failingUpstream(t, 200, 24*time.Hour), 504, "upstream_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, tt.upstream, func(c *Config) { c.AuthTimeout = 200 * time.Millisecond })
			res := serve(h, request("POST", "/api/auth/refresh", "", sealed(t, "", "tok", time.Time{})...))
			assert.Equal(t, tt.want, res.StatusCode)
			assert.Equal(t, tt.code, jsonError(t, res))
			assert.Empty(t, res.Header.Values("Set-Cookie"), "cookies untouched")
		})
	}
}

func TestLogoutClearsCookies(t *testing.T) {
	e := newEnv(t)
	res := serve(e.handler, request("POST", "/api/auth/logout", ""))
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
	c := map[string]*http.Cookie{}
	for _, ck := range res.Cookies() {
		c[ck.Name] = ck
	}
	for i := range cookies.MaxChunks {
		name := wire(cookies.SessionCookie + "." + strconv.Itoa(i))
		require.Contains(t, c, name)
		assert.Equal(t, -1, c[name].MaxAge)
		assert.True(t, c[name].HttpOnly)
	}
	require.Contains(t, c, wire(cookies.ExpiresCookie))
	assert.Equal(t, -1, c[wire(cookies.ExpiresCookie)].MaxAge)
}

// recordingUpstream records the last request it got and answers with a
// cookie of its own.
type recordingUpstream struct {
	mu   sync.Mutex
	last *http.Request
	body string
}

func (u *recordingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.last, u.body = r, string(b)
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "upstream", Value: "x"})
	w.WriteHeader(http.StatusCreated)
}

func TestProxy(t *testing.T) {
	rec := &recordingUpstream{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	h := newHandler(t, srv.URL+"/v1")

	r := request("PATCH", "/api/items/42?q=a%20b&x=1", `{"name":"n"}`, sealed(t, "tok123", "secret", time.Time{})...)
	r.Header.Set("Authorization", "Bearer forged")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Connection", "X-Hop")
	r.Header.Set("X-Hop", "dropped")
	r.Header.Set("Keep-Alive", "timeout=5")
	r.Header.Set("X-Forwarded-For", "6.6.6.6")
	res := serve(h, r)
	assert.Equal(t, http.StatusCreated, res.StatusCode)
	assert.Empty(t, res.Header.Values("Set-Cookie"), "upstream cookies do not reach the browser")

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotNil(t, rec.last)
	assert.Equal(t, "PATCH", rec.last.Method)
	assert.Equal(t, "/v1/items/42", rec.last.URL.Path)
	assert.Equal(t, "q=a%20b&x=1", rec.last.URL.RawQuery)
	assert.Equal(t, `{"name":"n"}`, rec.body)
	assert.Equal(t, "application/json", rec.last.Header.Get("Content-Type"))
	assert.Equal(t, "Bearer tok123", rec.last.Header.Get("Authorization"))
	assert.Empty(t, rec.last.Header.Get("Cookie"), "browser cookies stay here")
	assert.Empty(t, rec.last.Header.Get("X-CSRF"))
	assert.Empty(t, rec.last.Header.Get("X-Hop"), "headers named by Connection are hop-by-hop")
	assert.Empty(t, rec.last.Header.Get("Keep-Alive"))
	assert.Equal(t, "192.0.2.1", rec.last.Header.Get("X-Forwarded-For"), "a forged X-Forwarded-For is replaced")
	assert.Equal(t, "app.test", rec.last.Header.Get("X-Forwarded-Host"))
	assert.Equal(t, "http", rec.last.Header.Get("X-Forwarded-Proto"))
}

func TestProxyBodyLimit(t *testing.T) {
	rec := &recordingUpstream{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	res := serve(newHandler(t, srv.URL), request("POST", "/api/echo", strings.Repeat("x", 11<<20), sealed(t, "tok", "", time.Time{})...))
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Equal(t, "too_large", jsonError(t, res))
	assert.Nil(t, rec.last, "nothing was sent upstream")
}

func TestProxyPassesUpstream401AndMapsFailures(t *testing.T) {
	e := newEnv(t)
	res := serve(e.handler, request("GET", "/api/departments", ""))
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "no token: the upstream's 401 passes through")
	res = serve(e.handler, request("POST", "/api/echo", "{}"))
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "no token and a body: 401 from the proxy")
	assert.Equal(t, "no_session", jsonError(t, res))
	res = serve(e.handler, request("GET", "/api/departments", "", sealed(t, "unknown", "", time.Time{})...))
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "an unknown token: the upstream's 401 passes through")
	access := login(t, e.handler)
	res = serve(e.handler, request("GET", "/api/departments", "", access...))
	assert.Equal(t, http.StatusOK, res.StatusCode)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	res = serve(newHandler(t, closed.URL), request("GET", "/api/departments", "", access...))
	assert.Equal(t, http.StatusBadGateway, res.StatusCode)
	assert.Equal(t, "upstream_unreachable", jsonError(t, res))

	slow := newHandler(t, failingUpstream(t, 200, 5*time.Second), func(c *Config) { c.ProxyTimeout = 200 * time.Millisecond })
	res = serve(slow, request("GET", "/api/departments", "", access...))
	assert.Equal(t, http.StatusGatewayTimeout, res.StatusCode)
	assert.Equal(t, "upstream_timeout", jsonError(t, res))
}

// The refresh-ahead step on the proxy: a call whose access token is about
// to expire (per the sealed session; the readable cookie is the page's and
// changes nothing) is refreshed first and its answer carries the new
// cookies; the browser sees no 401.
func TestProxyRefreshesAhead(t *testing.T) {
	e := newEnv(t)
	jar := login(t, e.handler)
	res := serve(e.handler, request("POST", "/api/demo/expire", "", jar...))
	require.Equal(t, http.StatusNoContent, res.StatusCode)

	require.Equal(t, wire(chunk0), jar[0].Name)
	forged := []*http.Cookie{jar[0], {Name: wire(cookies.ExpiresCookie), Value: "1"}} // long past
	res = serve(e.handler, request("GET", "/api/departments", "", forged...))
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "a forged expiry cookie makes no refresh ahead")
	assert.Zero(t, e.upstream.Stats().Refreshes)

	s := open(t, jar)
	due := sealed(t, s.AccessToken, s.RefreshToken, time.Now().Add(-time.Second)) // the sealed expiry is past
	res = serve(e.handler, request("GET", "/api/departments", "", due...))
	assert.Equal(t, http.StatusOK, res.StatusCode, "no 401 reached the browser")
	next := live(res)
	require.NotNil(t, open(t, next), "the rotated session is on the answer")
	assert.Equal(t, 1, e.upstream.Stats().Refreshes)

	res = serve(e.handler, request("GET", "/api/departments", "", next...))
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Empty(t, res.Cookies(), "not due: no refresh")
	assert.Equal(t, 1, e.upstream.Stats().Refreshes)
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	res := serve(e.handler, httptest.NewRequest("GET", "/healthz", nil))
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

// benchHandler is the handler in front of a demo upstream on loopback, and
// a logged-in session's cookies.
func benchHandler(b *testing.B) (http.Handler, []*http.Cookie) {
	srv := httptest.NewServer(demo.New(demo.Config{AccessTTL: time.Hour}))
	b.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	h, err := New(Config{Upstream: u, Transport: http.DefaultTransport})
	require.NoError(b, err)
	return h, live(serve(h, request("POST", "/api/auth/login", `{"username":"demo","password":"demo"}`)))
}

// BenchmarkProxyGET is one proxied GET through the whole handler (CSRF,
// cookie, bearer, upstream on loopback).
func BenchmarkProxyGET(b *testing.B) {
	h, c := benchHandler(b)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request("GET", "/api/departments", "", c...))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkRefresh is one refresh through the BFF, rotating each time.
func BenchmarkRefresh(b *testing.B) {
	h, c := benchHandler(b)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request("POST", "/api/auth/refresh", "", c...))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
		c = live(w.Result())
	}
}

// Security round 3, finding 5: only an allowlist of the browser's request
// headers goes upstream (plus the app's own, named in ForwardHeaders): the
// identity and auth headers an upstream may trust from its proxy stay here.
func TestProxyForwardsAnAllowlist(t *testing.T) {
	rec := &recordingUpstream{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	h := newHandler(t, srv.URL, func(c *Config) { c.ForwardHeaders = []string{"x-tenant"} })
	r := request("GET", "/api/items", "", sealed(t, "tok", "", time.Time{})...)
	dropped := []string{"CF-Connecting-IP", "Fastly-Client-IP", "X-Originating-IP", "X-Remote-IP", "X-Remote-User", "Remote-User",
		"X-Authenticated-User", "X-Auth-Request-Email", "X-Auth-Request-User", "X-Forwarded-User", "X-Forwarded-Email",
		"X-User", "X-Client-IP", "True-Client-IP", "X-Real-IP", "Forwarded", "X-Original-URL", "X-Api-Key", "X-Unlisted"}
	for _, name := range dropped {
		r.Header.Set(name, "forged")
	}
	kept := map[string]string{"Accept": "application/json", "Accept-Language": "fr", "If-None-Match": `"v1"`, "Range": "bytes=0-9",
		"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "X-Request-Id": "r1", "Idempotency-Key": "k1", "X-Tenant": "acme"}
	for name, v := range kept {
		r.Header.Set(name, v)
	}
	serve(h, r)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotNil(t, rec.last)
	for _, name := range dropped {
		assert.Empty(t, rec.last.Header.Get(name), "%s reached the upstream", name)
	}
	for name, v := range kept {
		assert.Equal(t, v, rec.last.Header.Get(name), "%s", name)
	}
	assert.Equal(t, "Bearer tok", rec.last.Header.Get("Authorization"))
	assert.Equal(t, "192.0.2.1", rec.last.Header.Get("X-Forwarded-For"), "set by the BFF")
}

// A body's metadata goes upstream with it; the BFF's own headers (the
// session's cookies, the CSRF header) and those that Connection names do
// not.
func TestProxyForwardsABodysHeaders(t *testing.T) {
	rec := &recordingUpstream{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	h := newHandler(t, srv.URL, func(c *Config) { c.ForwardHeaders = []string{"X-Tenant"} })
	r := request("POST", "/api/files", "0123456789", sealed(t, "tok", "", time.Time{})...)
	kept := map[string]string{"Content-Type": "text/plain", "Content-Disposition": `attachment; filename="a.txt"`,
		"Content-Digest": "sha-256=:abc=:", "Last-Event-ID": "42", "X-Requested-With": "XMLHttpRequest"}
	for name, v := range kept {
		r.Header.Set(name, v)
	}
	r.Header.Set("X-Tenant", "acme")
	r.Header.Set("Connection", "X-Tenant")
	serve(h, r)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotNil(t, rec.last)
	for name, v := range kept {
		assert.Equal(t, v, rec.last.Header.Get(name), "%s", name)
	}
	for _, name := range []string{"Cookie", "X-CSRF", "X-Tenant"} {
		assert.Empty(t, rec.last.Header.Get(name), "%s reached the upstream", name)
	}
}

// ForwardHeaders cannot name a header the BFF owns, nor something that
// is not a header name: New says so.
func TestForwardHeadersRefused(t *testing.T) {
	u, err := url.Parse("http://upstream.test")
	require.NoError(t, err)
	for _, name := range []string{"cookie", "Authorization", "Host", "Forwarded", "X-Forwarded-For", "x-forwarded-user",
		"X-Real-IP", "X-CSRF", "Connection", "Transfer-Encoding", "Proxy-Authorization", "", "X Tenant", "X-Tenant:", "é"} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Upstream: u, Transport: http.DefaultTransport, ForwardHeaders: []string{"X-Tenant", name}})
			require.ErrorIs(t, err, ErrConfig)
			assert.ErrorIs(t, err, proxy.ErrForwardHeader)
		})
	}
	_, err = New(Config{Upstream: u, Transport: http.DefaultTransport, ForwardHeaders: []string{"X-Tenant", "x-app-version"}})
	assert.NoError(t, err)
}
