package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testclock"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestServer(grace time.Duration) (*Server, *testclock.Clock) {
	c := testclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	return New(Config{AccessTTL: time.Minute, Grace: grace, Now: c.Now}), c
}

// do sends a request to h and returns the recorder.
func do(h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func login(t *testing.T, h http.Handler) authclient.JSONAnswer {
	t.Helper()
	w := do(h, "POST", "/auth/login", "", `{"username":"demo","password":"demo"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var tok authclient.JSONAnswer
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &tok))
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)
	assert.EqualValues(t, 60, tok.ExpiresIn)
	return tok
}

func refresh(h http.Handler, token string) *httptest.ResponseRecorder {
	return do(h, "POST", "/auth/refresh", "", fmt.Sprintf(`{"refreshToken":%q}`, token))
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name, body string
		want       int
	}{
		{"good", `{"username":"demo","password":"demo"}`, 200},
		{"wrong password", `{"username":"demo","password":"x"}`, 401},
		{"unknown user", `{"username":"eve","password":"demo"}`, 401},
		{"missing fields", `{}`, 401},
		{"malformed JSON", `{"username":`, 400},
		{"not an object", `[1,2]`, 400},
		{"too large", `{"username":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(0)
			w := do(s, "POST", "/auth/login", "", tt.body)
			assert.Equal(t, tt.want, w.Code, w.Body.String())
			assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
		})
	}
}

func TestResourcesNeedAValidAccessToken(t *testing.T) {
	s, c := newTestServer(0)
	tok := login(t, s)
	assert.Equal(t, 200, do(s, "GET", "/departments", tok.AccessToken, "").Code)
	assert.Equal(t, 401, do(s, "GET", "/departments", "", "").Code)
	assert.Equal(t, 401, do(s, "GET", "/departments", "nonsense", "").Code)
	c.Advance(time.Minute)
	w := do(s, "GET", "/departments", tok.AccessToken, "")
	assert.Equal(t, 401, w.Code)
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), "invalid_token")
}

func TestEcho(t *testing.T) {
	s, _ := newTestServer(0)
	tok := login(t, s)
	r := httptest.NewRequest("POST", "/echo", strings.NewReader(`{"a":1}`))
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, `{"a":1}`, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, 413, do(s, "POST", "/echo", tok.AccessToken, strings.Repeat("x", 70<<10)).Code)
}

func TestRefreshRotates(t *testing.T) {
	s, c := newTestServer(0)
	tok := login(t, s)
	c.Advance(2 * time.Minute) // the access token has expired
	w := refresh(s, tok.RefreshToken)
	require.Equal(t, 200, w.Code, w.Body.String())
	var next authclient.JSONAnswer
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &next))
	assert.NotEqual(t, tok.RefreshToken, next.RefreshToken)
	assert.NotEqual(t, tok.AccessToken, next.AccessToken)
	assert.Equal(t, 200, do(s, "GET", "/departments", next.AccessToken, "").Code)
	assert.Equal(t, 1, s.Stats().Refreshes)
}

// A reused refresh token revokes its whole family: the newest tokens too.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	s, _ := newTestServer(0)
	tok := login(t, s)
	w := refresh(s, tok.RefreshToken)
	require.Equal(t, 200, w.Code)
	var next authclient.JSONAnswer
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &next))

	w = refresh(s, tok.RefreshToken) // the reuse
	assert.Equal(t, 401, w.Code)
	assert.Contains(t, w.Body.String(), "invalid_grant")
	assert.Equal(t, 401, refresh(s, next.RefreshToken).Code, "the family is revoked")
	assert.Equal(t, 401, do(s, "GET", "/departments", next.AccessToken, "").Code)
	assert.Equal(t, 1, s.Stats().Reuses)

	other := login(t, s) // other sessions are untouched
	assert.Equal(t, 200, refresh(s, other.RefreshToken).Code)
}

// Logout revokes the family of the presented refresh token, spent or not:
// the newest access and refresh tokens stop working; other sessions and
// unknown tokens are untouched, and the answer is the same for all.
func TestLogoutRevokesFamily(t *testing.T) {
	tests := []struct {
		name  string
		spent bool // log out with the token the last refresh spent
	}{
		{"current token", false},
		{"spent token", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(0)
			first := login(t, s)
			w := refresh(s, first.RefreshToken)
			require.Equal(t, 200, w.Code)
			var current authclient.JSONAnswer
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &current))
			other := login(t, s)

			presented := current.RefreshToken
			if tt.spent {
				presented = first.RefreshToken
			}
			w = do(s, "POST", "/auth/logout", "", fmt.Sprintf(`{"refreshToken":%q}`, presented))
			assert.Equal(t, 204, w.Code)
			assert.Equal(t, 401, refresh(s, current.RefreshToken).Code)
			assert.Equal(t, 401, do(s, "GET", "/departments", current.AccessToken, "").Code)
			assert.Equal(t, 1, s.Stats().Logouts)
			assert.Equal(t, 200, do(s, "GET", "/departments", other.AccessToken, "").Code, "other sessions are untouched")

			assert.Equal(t, 204, do(s, "POST", "/auth/logout", "", `{"refreshToken":"unknown"}`).Code)
			assert.Equal(t, 1, s.Stats().Logouts)
			assert.Equal(t, 400, do(s, "POST", "/auth/logout", "", `{"refreshToken":`).Code)
		})
	}
}

func TestRefreshGraceWindow(t *testing.T) {
	s, c := newTestServer(10 * time.Second)
	tok := login(t, s)
	first := refresh(s, tok.RefreshToken)
	require.Equal(t, 200, first.Code)
	c.Advance(5 * time.Second)
	again := refresh(s, tok.RefreshToken)
	require.Equal(t, 200, again.Code, "within the grace window")
	assert.JSONEq(t, first.Body.String(), again.Body.String(), "the same successor pair")
	c.Advance(6 * time.Second)
	assert.Equal(t, 401, refresh(s, tok.RefreshToken).Code, "after the grace window: reuse")
	assert.Equal(t, Stats{Logins: 1, Refreshes: 1, Graces: 1, Reuses: 1, Rejected: 1}, s.Stats())
}

func TestRefreshRejects(t *testing.T) {
	tests := []struct {
		name  string
		token func(s *Server, c *testclock.Clock, tok authclient.JSONAnswer) string
	}{
		{"unknown", func(*Server, *testclock.Clock, authclient.JSONAnswer) string { return "nope" }},
		{"empty", func(*Server, *testclock.Clock, authclient.JSONAnswer) string { return "" }},
		{"expired", func(_ *Server, c *testclock.Clock, tok authclient.JSONAnswer) string {
			c.Advance(25 * time.Hour)
			return tok.RefreshToken
		}},
		{"revoked", func(s *Server, _ *testclock.Clock, tok authclient.JSONAnswer) string {
			do(s, "POST", "/demo/revoke", tok.AccessToken, "")
			return tok.RefreshToken
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newTestServer(0)
			tok := login(t, s)
			w := refresh(s, tt.token(s, c, tok))
			assert.Equal(t, 401, w.Code)
			assert.Contains(t, w.Body.String(), "invalid_grant")
		})
	}
}

func TestDemoExpire(t *testing.T) {
	s, _ := newTestServer(0)
	tok := login(t, s)
	assert.Equal(t, 204, do(s, "POST", "/demo/expire", tok.AccessToken, "").Code)
	assert.Equal(t, 401, do(s, "GET", "/departments", tok.AccessToken, "").Code)
	assert.Equal(t, 200, refresh(s, tok.RefreshToken).Code, "expiry is not revocation")
	assert.Equal(t, 401, do(s, "POST", "/demo/expire", "nope", "").Code)
}

// Many sessions refreshed from many goroutines: each rotation succeeds once.
func TestConcurrentSessions(t *testing.T) {
	s, _ := newTestServer(0)
	const sessions, rounds = 50, 20
	var wg sync.WaitGroup
	for range sessions {
		tok := login(t, s)
		wg.Go(func() {
			for range rounds {
				w := refresh(s, tok.RefreshToken)
				if !assert.Equal(t, 200, w.Code) {
					return
				}
				assert.NoError(t, json.Unmarshal(w.Body.Bytes(), &tok))
				assert.Equal(t, 200, do(s, "GET", "/departments", tok.AccessToken, "").Code)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, sessions*rounds, s.Stats().Refreshes)
	assert.Zero(t, s.Stats().Reuses)
}

// Without rotation, refresh hands the same refresh token back with a new
// access token, any number of times, and detects no reuse.
func TestNoRotate(t *testing.T) {
	h := New(Config{NoRotate: true})
	tok := login(t, h)
	seen := map[string]bool{tok.AccessToken: true}
	for range 3 {
		w := refresh(h, tok.RefreshToken)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var next authclient.JSONAnswer
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &next))
		assert.Equal(t, tok.RefreshToken, next.RefreshToken)
		assert.False(t, seen[next.AccessToken], "a new access token")
		seen[next.AccessToken] = true
		assert.Equal(t, http.StatusOK, do(h, "GET", "/departments", next.AccessToken, "").Code)
	}
	s := h.Stats()
	assert.Equal(t, 3, s.Refreshes)
	assert.Zero(t, s.Reuses)
}
