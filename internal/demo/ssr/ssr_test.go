package ssr

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type env struct {
	api, pages http.Handler
	up         *demo.Server
	front      *httptest.Server // the upstream, switchable to failing
	fail       bool
}

func newEnv(t *testing.T) *env {
	e := &env{up: demo.New(demo.Config{})}
	e.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		e.up.ServeHTTP(w, r)
	}))
	t.Cleanup(e.front.Close)
	u, _ := url.Parse(e.front.URL)
	api, err := bff.New(bff.Config{Upstream: u, Transport: http.DefaultTransport})
	require.NoError(t, err)
	e.api, e.pages = api, New(Config{Upstream: u, Transport: http.DefaultTransport, Auth: api})
	return e
}

// login returns the session cookies.
func (e *env) login(t *testing.T) []*http.Cookie {
	r := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(`{"username":"demo","password":"demo"}`))
	r.Header.Set("X-CSRF", "1")
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	require.Equal(t, 200, w.Code)
	return live(w.Result().Cookies())
}

// live returns the cookies a browser keeps of set (not the deletions).
func live(set []*http.Cookie) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range set {
		if c.MaxAge >= 0 {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return out
}

// session opens the session jar holds (nil: none), as the BFF does.
func session(jar []*http.Cookie) *cookies.Session {
	s, _ := cookies.Codec{}.Open(jar)
	return s
}

func (e *env) expire(t *testing.T, jar []*http.Cookie) {
	r := httptest.NewRequest("POST", "/api/demo/expire", nil)
	r.Header.Set("X-CSRF", "1")
	for _, c := range jar {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	require.Equal(t, 204, w.Code)
}

func (e *env) page(jar []*http.Cookie) *http.Response {
	r := httptest.NewRequest("GET", "/departments", nil)
	for _, c := range jar {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.pages.ServeHTTP(w, r)
	return w.Result()
}

func byName(jar []*http.Cookie) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range jar {
		m[strings.TrimPrefix(strings.TrimPrefix(c.Name, cookies.HTTPOnlyPrefix), cookies.HostPrefix)] = c
	}
	return m
}

func TestPageRefreshesOnTheServerAndHandsBackTheCookies(t *testing.T) {
	e := newEnv(t)
	jar := e.login(t)
	e.expire(t, jar)

	res := e.page(jar)
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(body), "<li>Engineering</li>")
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	rotated, old := session(live(res.Cookies())), session(jar)
	require.NotNil(t, rotated, "the HTML answer carries the rotated cookies")
	assert.NotEqual(t, old.AccessToken, rotated.AccessToken)
	assert.NotEqual(t, old.RefreshToken, rotated.RefreshToken)
	assert.Equal(t, old.ID, rotated.ID, "the same session")
	assert.True(t, byName(res.Cookies())[cookies.SessionCookie+".0"].HttpOnly)
	assert.Equal(t, 1, e.up.Stats().Refreshes)

	res = e.page(live(res.Cookies())) // the new cookies work without a refresh
	assert.Equal(t, 200, res.StatusCode)
	assert.Empty(t, res.Cookies())
	assert.Equal(t, 1, e.up.Stats().Refreshes)
}

func TestPageFailures(t *testing.T) {
	tests := []struct {
		name     string
		prepare  func(t *testing.T, e *env) []*http.Cookie
		status   int
		location string
		cleared  bool
	}{
		{"no session", func(*testing.T, *env) []*http.Cookie { return nil }, 303, "/login?next=/departments", false},
		{"revoked", func(t *testing.T, e *env) []*http.Cookie {
			c := e.login(t)
			r := httptest.NewRequest("POST", "/api/demo/revoke", nil)
			r.Header.Set("X-CSRF", "1")
			for _, ck := range c {
				r.AddCookie(ck)
			}
			e.api.ServeHTTP(httptest.NewRecorder(), r)
			return c
		}, 303, "/login?next=/departments", true},
		{"upstream down", func(t *testing.T, e *env) []*http.Cookie {
			c := e.login(t)
			e.fail = true
			return c
		}, 503, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.page(tt.prepare(t, e))
			assert.Equal(t, tt.status, res.StatusCode)
			assert.Equal(t, tt.location, res.Header.Get("Location"))
			if tt.status == 503 {
				body, _ := io.ReadAll(res.Body)
				assert.Contains(t, string(body), `href="/departments"`, "a retry link")
				assert.Empty(t, res.Cookies(), "a transient failure keeps the session")
			}
			if tt.cleared {
				assert.Equal(t, -1, byName(res.Cookies())[cookies.SessionCookie+".0"].MaxAge)
			}
		})
	}
}

// /login passes on a next that stays on this origin, and drops any other:
// the variants that once led the browser away after the login.
func TestLoginRedirect(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct{ query, want string }{
		{"next=/departments", "/?next=%2Fdepartments"},
		{"next=%2Fdepartments%3Fa%3D1%23top", "/?next=%2Fdepartments%3Fa%3D1%23top"},
		{"", "/"},
		{"next=%2F%5Cevil.example%2Fx", "/"},  // /\evil.example/x
		{"next=%2F%09%2Fevil.example", "/"},   // a tab between the slashes
		{"next=%2F%0A%2Fevil.example", "/"},   // a newline
		{"next=//evil.example", "/"},          // protocol-relative
		{"next=%2F%2Fevil.example", "/"},      // the same, encoded
		{"next=https://evil.example/", "/"},   // absolute
		{"next=javascript:alert(1)", "/"},     // a scheme
		{"next=evil.example", "/"},            // relative
		{"next=%5C%5Cevil.example", "/"},      // \\evil.example
		{"next=/%20/evil.example", "/"},       // white space
		{"next=%2F%2F%2Fevil.example", "/"},   // three slashes
		{"next=/%00/evil.example", "/"},       // NUL
		{"next=%E2%80%8B//evil.example", "/"}, // a zero-width space first
	} {
		t.Run(tt.query, func(t *testing.T) {
			w := httptest.NewRecorder()
			e.pages.ServeHTTP(w, httptest.NewRequest("GET", "/login?"+tt.query, nil))
			assert.Equal(t, 303, w.Code)
			assert.Equal(t, tt.want, w.Header().Get("Location"))
		})
	}
}
