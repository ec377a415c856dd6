package bff

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newSizedEnv is newEnv in front of a demo upstream whose tokens have the
// given sizes, logging to logs.
func newSizedEnv(t *testing.T, access, refresh int, logs *bytes.Buffer) *env {
	t.Helper()
	up := demo.New(demo.Config{AccessTokenBytes: access, RefreshTokenBytes: refresh})
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return &env{handler: newHandler(t, srv.URL, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) }), upstream: up}
}

// Tokens of any identity provider's size fit: an 8 KB access token and a
// 2 KB refresh token log in, call, refresh and call again, and no cookie
// holds either token.
func TestLargeTokens(t *testing.T) {
	var logs bytes.Buffer
	e := newSizedEnv(t, 8<<10, 2<<10, &logs)
	jar := login(t, e.handler)
	s := open(t, jar)
	require.Len(t, s.AccessToken, 8<<10)
	require.Len(t, s.RefreshToken, 2<<10)
	for _, ck := range jar {
		assert.Less(t, len(ck.Name)+len(ck.Value), 4096-200, "%s fits in a browser's cookie with its attributes", ck.Name)
		assert.NotContains(t, ck.Value, s.AccessToken[:64])
		assert.NotContains(t, ck.Value, s.RefreshToken[:64])
	}
	res := serve(e.handler, request("GET", "/api/departments", "", jar...))
	assert.Equal(t, http.StatusOK, res.StatusCode)
	res = serve(e.handler, request("POST", "/api/auth/refresh", "", jar...))
	require.Equal(t, http.StatusOK, res.StatusCode)
	next := live(res)
	assert.NotEqual(t, s.RefreshToken, open(t, next).RefreshToken)
	res = serve(e.handler, request("GET", "/api/departments", "", next...))
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.NotContains(t, logs.String(), s.AccessToken[:64], "no token in the log")
}

// Tokens over the budget are a clear 502 that names the large token's
// size in the log (never its value), not a silent loss.
func TestTokensTooLargeForTheSession(t *testing.T) {
	var logs bytes.Buffer
	e := newSizedEnv(t, 20<<10, 64, &logs)
	res := serve(e.handler, request("POST", "/api/auth/login", `{"username":"demo","password":"demo"}`))
	assert.Equal(t, http.StatusBadGateway, res.StatusCode)
	assert.Equal(t, "session_too_large", jsonError(t, res))
	assert.Empty(t, live(res), "nothing set")
	assert.Contains(t, logs.String(), "access_token_bytes=20480")
	assert.NotContains(t, logs.String(), strings.Repeat("A", 32))
}

// GET /api/auth/session says who is logged in, without the CSRF header,
// never a token, and 200 {"authenticated": false} without a session.
func TestSessionEndpoint(t *testing.T) {
	e := newEnv(t)
	get := func(jar ...*http.Cookie) (*http.Response, map[string]any) {
		r := request("GET", "/api/auth/session", "", jar...)
		r.Header.Del("X-CSRF") // a page's plain fetch: no header needed for a GET
		res := serve(e.handler, r)
		var body map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		return res, body
	}
	res, body := get()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, map[string]any{"authenticated": false}, body)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))

	jar := login(t, e.handler)
	s := open(t, jar)
	res, body = get(jar...)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, true, body["authenticated"])
	assert.Equal(t, map[string]any{"sub": "demo", "name": "Demo User (demo)", "email": "demo@example.com"}, body["user"])
	assert.InDelta(t, float64(s.Expires.UnixMilli()), body["expiresAt"], 1)
	assert.InDelta(t, float64(time.Minute.Milliseconds()), body["lifetimeMs"], 2000)
	assert.InDelta(t, float64(time.Now().Add(7*24*time.Hour).UnixMilli()), body["sessionExpiresAt"], 5000)
	raw, _ := json.Marshal(body)
	assert.NotContains(t, string(raw), s.AccessToken)
	assert.NotContains(t, string(raw), s.RefreshToken)

	r := request("GET", "/api/auth/session", "", jar...)
	r.Header.Set("Origin", "http://evil.test")
	assert.Equal(t, http.StatusForbidden, serve(e.handler, r).StatusCode, "the Origin check stays")
	r = request("POST", "/api/auth/session", "", jar...)
	r.Header.Del("X-CSRF")
	assert.Equal(t, http.StatusForbidden, serve(e.handler, r).StatusCode, "only a GET goes without the header")
}

// An upgrade logs nobody out: a browser that holds the previous format's
// cookies (the raw tokens) gets the sealed session on its next call, the
// old cookies deleted, and goes on with it.
func TestLegacyCookiesKeepTheirSession(t *testing.T) {
	e := newEnv(t)
	jar := login(t, e.handler)
	s := open(t, jar)
	legacy := []*http.Cookie{
		{Name: cookies.HostPrefix + cookies.LegacyAccessCookie, Value: s.AccessToken},
		{Name: cookies.HostPrefix + cookies.LegacyRefreshCookie, Value: s.RefreshToken},
		{Name: cookies.HostPrefix + cookies.ExpiresCookie, Value: cookies.FormatExpires(s.Expires, s.Lifetime)},
	}
	res := serve(e.handler, request("GET", "/api/departments", "", legacy...))
	assert.Equal(t, http.StatusOK, res.StatusCode, "the old cookies still work once")
	deleted := map[string]bool{}
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 {
			deleted[ck.Name] = true
		}
	}
	assert.True(t, deleted[legacy[0].Name] && deleted[legacy[1].Name], "the old cookies are deleted")
	upgraded := live(res)
	require.Equal(t, s.RefreshToken, open(t, upgraded).RefreshToken, "the same session, sealed")

	res = serve(e.handler, request("POST", "/api/auth/refresh", "", upgraded...))
	assert.Equal(t, http.StatusOK, res.StatusCode, "and it refreshes")
	assert.Zero(t, e.upstream.Stats().Reuses)
}
