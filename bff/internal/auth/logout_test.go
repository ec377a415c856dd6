package auth

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clearsCookies asserts that w deletes the session's cookies.
func clearsCookies(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	deleted := map[string]bool{}
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			deleted[c.Name] = true
		}
	}
	assert.True(t, deleted[cookies.SessionCookie+".0"], "the session is deleted")
	assert.True(t, deleted[cookies.ExpiresCookie], "its expiry too")
}

// After logout the old refresh cookie no longer refreshes: the upstream
// revoked its family before the cookies were cleared.
func TestLogoutRevokesUpstream(t *testing.T) {
	up := &countingUpstream{Server: demo.New(demo.Config{})}
	h := newBFF(t, up, -1)
	cookie := loginCookies(t, h)

	w := send(h, "/api/auth/logout", "", cookie...)
	assert.Equal(t, http.StatusNoContent, w.Code)
	clearsCookies(t, w)
	assert.Equal(t, 1, up.Stats().Logouts)

	w = send(h, "/api/auth/refresh", "", cookie...) // a copy kept by an attacker
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Contains(t, w.Body.String(), "refresh_rejected")
}

// A logout without a session, or with an upstream that is down or
// failing, still clears the cookies, and the failure is logged without
// the token.
func TestLogoutClearsCookiesWhateverTheUpstream(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	tests := []struct {
		name     string
		upstream string
		cookie   bool
		wantLog  string
	}{
		{"no session", failing.URL, false, ""},
		{"upstream down", dead.URL, true, "status=0"},
		{"upstream failing", failing.URL, true, "status=503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			u, _ := url.Parse(tt.upstream)
			h := New(Config{Upstream: u, Transport: http.DefaultTransport, Cookies: cookies.Codec{Insecure: true},
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			var jar []*http.Cookie
			if tt.cookie {
				jar = append(jar, sealedCookies(t, "secret-refresh-token")...)
			}
			w := send(h, "/api/auth/logout", "", jar...)
			assert.Equal(t, http.StatusNoContent, w.Code)
			clearsCookies(t, w)
			if tt.wantLog == "" {
				assert.Empty(t, logs.String())
				return
			}
			assert.Contains(t, logs.String(), "cookies are cleared anyway")
			assert.Contains(t, logs.String(), tt.wantLog)
			assert.NotContains(t, logs.String(), "secret-refresh-token")
		})
	}
}

// refreshOnly is a Client without password login, as an OpenID provider is.
type refreshOnly struct{ authclient.Client }

func TestPasswordLoginWithoutPasswordLogin(t *testing.T) {
	h := New(Config{Client: refreshOnly{}})
	w := send(h, "/api/auth/login", `{"username":"demo","password":"demo"}`)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Empty(t, w.Header().Values("Set-Cookie"))
	var body struct{ Error, Message, LoginURL string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, "password_login_disabled", body.Error)
	assert.Equal(t, "/auth/login", body.LoginURL)
	assert.Contains(t, body.Message, "/auth/login")
}

func TestAuthConfig(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	tests := []struct {
		name string
		h    *Handler
		want string
	}{
		{"password", New(Config{Upstream: u, Transport: http.DefaultTransport}), `{"mode":"password"}`},
		{"oidc", New(Config{Client: refreshOnly{}}), `{"mode":"oidc","loginURL":"/auth/login"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, httptest.NewRequest("GET", "/api/auth/config", nil))
			assert.Equal(t, 200, w.Code)
			assert.JSONEq(t, tt.want, w.Body.String())
			assert.Equal(t, 405, send(tt.h, "/api/auth/config", "").Code)
		})
	}
}

// The classification of failed refreshes reaches the browser as the
// contract says: rejections end the session, the rest keeps it.
func TestRefreshFailureStatuses(t *testing.T) {
	tests := []struct {
		status  int
		body    string
		want    int
		cleared bool
	}{
		{400, `{"error":"invalid_grant"}`, 401, true},
		{401, ``, 401, true},
		{401, `{"error":"invalid_client"}`, 502, false},
		{400, `{"error":"invalid_request","error_description":"bad"}`, 400, false},
		{500, ``, 503, false},
		{429, ``, 503, false},
		{404, ``, 502, false},
		{200, `{}`, 502, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+tt.body, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			u, _ := url.Parse(srv.URL)
			h := New(Config{Upstream: u, Transport: http.DefaultTransport, Cookies: cookies.Codec{Insecure: true}}) // plain names, as behind Guard
			w := send(h, "/api/auth/refresh", "", sealedCookies(t, "r")...)
			assert.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.cleared {
				clearsCookies(t, w)
			} else {
				assert.Empty(t, w.Header().Values("Set-Cookie"))
			}
		})
	}
}
