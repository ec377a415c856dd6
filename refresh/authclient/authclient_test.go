package authclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   error
		code   string
	}{
		{400, `{"error":"invalid_grant","error_description":"grant request is invalid"}`, refresh.ErrRejected, "invalid_grant"},
		{401, `{"error":"invalid_grant","message":"upstream: refresh token reused"}`, refresh.ErrRejected, "invalid_grant"},
		{401, ``, refresh.ErrRejected, ""},
		{401, `<html>login</html>`, refresh.ErrRejected, ""},
		{403, `{"error":"access_denied"}`, refresh.ErrRejected, "access_denied"},
		{401, `{"error":"invalid_client"}`, refresh.ErrUnavailable, "invalid_client"},
		{400, `{"error":"invalid_client"}`, refresh.ErrUnavailable, "invalid_client"},
		{400, `{"error":"unauthorized_client"}`, refresh.ErrUnavailable, "unauthorized_client"},
		{400, `{"error":"unsupported_grant_type"}`, refresh.ErrUnavailable, "unsupported_grant_type"},
		{400, `{"error":"invalid_scope"}`, refresh.ErrUnavailable, "invalid_scope"},
		{400, `{"error":"invalid_request"}`, refresh.ErrUnavailable, "invalid_request"},
		{400, `not json`, refresh.ErrUnavailable, ""},
		{404, ``, refresh.ErrUnavailable, ""},
		{408, ``, refresh.ErrUnavailable, ""},
		{429, `{"error":"slow_down"}`, refresh.ErrUnavailable, "slow_down"},
		{500, `{"error":"server_error"}`, refresh.ErrUnavailable, "server_error"},
		{502, `bad gateway`, refresh.ErrUnavailable, ""},
		{503, `{"error":"invalid_grant"}`, refresh.ErrUnavailable, "invalid_grant"},
		{429, `{"error":"invalid_grant"}`, refresh.ErrUnavailable, "invalid_grant"},
		{503, `{"error":"temporarily_unavailable"}`, refresh.ErrUnavailable, "temporarily_unavailable"},
		{504, ``, refresh.ErrUnavailable, ""},
		{302, ``, refresh.ErrUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+" "+tt.code, func(t *testing.T) {
			err := Classify(tt.status, []byte(tt.body))
			require.ErrorIs(t, err, tt.want)
			other := refresh.ErrRejected
			if tt.want == refresh.ErrRejected {
				other = refresh.ErrUnavailable
			}
			assert.NotErrorIs(t, err, other)
			assert.Equal(t, tt.status, err.Status)
			assert.Equal(t, tt.code, err.Code)
			assert.Equal(t, tt.body, err.Body)
			assert.False(t, err.Timeout())
			misconfigured := tt.code == "invalid_client" || tt.code == "unauthorized_client" ||
				tt.code == "unsupported_grant_type" || tt.code == "invalid_scope"
			assert.Equal(t, misconfigured, err.Misconfigured())
		})
	}
}

func TestClassifyKeepsAnExcerpt(t *testing.T) {
	err := Classify(500, []byte(strings.Repeat("x", 2000)))
	assert.Len(t, err.Body, bodyExcerpt)
	assert.Contains(t, err.Error(), "500")
}

// fakeUpstream answers every call with status and body, and keeps the last
// request's form or JSON body and headers.
type fakeUpstream struct {
	status int
	body   string
	hold   chan struct{} // when not nil, answers wait for it
	last   *http.Request
	form   url.Values
	json   map[string]string
}

func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.hold != nil {
		<-f.hold
	}
	data, _ := io.ReadAll(r.Body)
	f.last = r
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.json = map[string]string{}
		_ = json.Unmarshal(data, &f.json)
	} else {
		f.form, _ = url.ParseQuery(string(data))
	}
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.body)
}

func serve(t *testing.T, f *fakeUpstream) *url.URL {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

var fixedNow = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

func TestJSONDialect(t *testing.T) {
	f := &fakeUpstream{status: 200, body: `{"accessToken":"a1","refreshToken":"r1","expiresIn":60}`}
	c := NewJSON(serve(t, f), HTTP{Transport: http.DefaultTransport, Now: func() time.Time { return fixedNow }})

	got, err := c.Refresh(context.Background(), "r0")
	require.NoError(t, err)
	assert.Equal(t, Tokens{AccessToken: "a1", RefreshToken: "r1", Expires: fixedNow.Add(time.Minute)}, got)
	assert.Equal(t, "/auth/refresh", f.last.URL.Path)
	assert.Equal(t, map[string]string{"refreshToken": "r0"}, f.json)

	_, err = c.Login(context.Background(), "demo", "pw")
	require.NoError(t, err)
	assert.Equal(t, "/auth/login", f.last.URL.Path)
	assert.Equal(t, map[string]string{"username": "demo", "password": "pw"}, f.json)

	f.status, f.body = 204, ""
	require.NoError(t, c.Revoke(context.Background(), "r1"))
	assert.Equal(t, "/auth/logout", f.last.URL.Path)
	assert.Equal(t, map[string]string{"refreshToken": "r1"}, f.json)

	f.status, f.body = 200, `{"accessToken":"a2"}`
	_, err = c.Refresh(context.Background(), "r1")
	require.ErrorIs(t, err, refresh.ErrUnavailable)
	require.ErrorIs(t, err, ErrNoTokens)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Empty(t, e.Body, "a successful answer is never copied into an error")

	f.status, f.body = 401, `{"error":"invalid_grant"}`
	_, err = c.Refresh(context.Background(), "r1")
	require.ErrorIs(t, err, refresh.ErrRejected)
}

func TestOAuthDialect(t *testing.T) {
	tests := []struct {
		method     string
		secret     string
		wantBasic  bool
		wantSecret string // in the form
	}{
		{AuthBasic, "s3cr:et", true, ""},
		{"", "s3cr:et", true, ""},
		{AuthPost, "s3cr:et", false, "s3cr:et"},
		{AuthNone, "", false, ""},
		{"", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.secret, func(t *testing.T) {
			f := &fakeUpstream{status: 200, body: `{"access_token":"a1","refresh_token":"r1","expires_in":30,"id_token":"id","token_type":"Bearer"}`}
			base := serve(t, f)
			c := &OAuth{
				HTTP:     HTTP{Transport: http.DefaultTransport, Now: func() time.Time { return fixedNow }},
				TokenURL: base.JoinPath("token").String(), RevocationURL: base.JoinPath("revoke").String(),
				ClientID: "fwr app", ClientSecret: tt.secret, AuthMethod: tt.method,
			}
			got, err := c.Refresh(context.Background(), "r0")
			require.NoError(t, err)
			assert.Equal(t, Tokens{AccessToken: "a1", RefreshToken: "r1", Expires: fixedNow.Add(30 * time.Second)}, got)
			assert.Equal(t, "refresh_token", f.form.Get("grant_type"))
			assert.Equal(t, "r0", f.form.Get("refresh_token"))
			user, pass, basic := f.last.BasicAuth()
			assert.Equal(t, tt.wantBasic, basic)
			if basic {
				assert.Equal(t, url.QueryEscape("fwr app"), user)
				assert.Equal(t, url.QueryEscape(tt.secret), pass)
				assert.Empty(t, f.form.Get("client_id"))
			} else {
				assert.Equal(t, "fwr app", f.form.Get("client_id"))
			}
			assert.Equal(t, tt.wantSecret, f.form.Get("client_secret"))

			tokens, idToken, err := c.Exchange(context.Background(), "code1", "verifier1", "http://app/auth/callback")
			require.NoError(t, err)
			assert.Equal(t, "id", idToken)
			assert.Equal(t, "r1", tokens.RefreshToken)
			assert.Equal(t, "authorization_code", f.form.Get("grant_type"))
			assert.Equal(t, "code1", f.form.Get("code"))
			assert.Equal(t, "verifier1", f.form.Get("code_verifier"))
			assert.Equal(t, "http://app/auth/callback", f.form.Get("redirect_uri"))

			f.status, f.body = 200, ""
			require.NoError(t, c.Revoke(context.Background(), "r1"))
			assert.Equal(t, "/revoke", f.last.URL.Path)
			assert.Equal(t, "r1", f.form.Get("token"))
			assert.Equal(t, "refresh_token", f.form.Get("token_type_hint"))
		})
	}
}

func TestOAuthWithoutRotationKeepsTheRefreshToken(t *testing.T) {
	f := &fakeUpstream{status: 200, body: `{"access_token":"a1","expires_in":30}`}
	c := &OAuth{HTTP: HTTP{Transport: http.DefaultTransport}, TokenURL: serve(t, f).String(), ClientID: "app"}
	got, err := c.Refresh(context.Background(), "r0")
	require.NoError(t, err)
	assert.Equal(t, "r0", got.RefreshToken)

	_, _, err = c.Exchange(context.Background(), "code", "v", "http://app/cb")
	require.ErrorIs(t, err, ErrNoRefreshToken, "a login without a refresh token cannot last")
}

func TestOAuthWithoutRevocationEndpoint(t *testing.T) {
	c := &OAuth{HTTP: HTTP{Transport: http.DefaultTransport}, TokenURL: "http://127.0.0.1:1/token", ClientID: "app"}
	require.NoError(t, c.Revoke(context.Background(), "r0"))
}

func TestNoAnswer(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	u, _ := url.Parse(dead.URL)
	_, err := NewJSON(u, HTTP{Transport: http.DefaultTransport}).Refresh(context.Background(), "r0")
	require.ErrorIs(t, err, refresh.ErrUnavailable)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Zero(t, e.Status)
	assert.False(t, e.Timeout())

	f := &fakeUpstream{status: 200, hold: make(chan struct{})}
	defer close(f.hold) // before the server's Close, which waits for the handler
	c := NewJSON(serve(t, f), HTTP{Transport: http.DefaultTransport, Timeout: time.Millisecond})
	err = c.Revoke(context.Background(), "r0")
	require.ErrorIs(t, err, refresh.ErrUnavailable)
	require.ErrorAs(t, err, &e)
	assert.True(t, e.Timeout())
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
}
