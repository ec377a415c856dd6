package oidclogin

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/localpath"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSafeNext(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/departments", "/departments"},
		{"/a/b?x=1#frag", "/a/b?x=1#frag"},
		{"/", "/"},
		{"", "/"},
		{"//evil.example/x", "/"},
		{`/\evil.example/x`, "/"},
		{`\\evil.example`, "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/ /evil.example", "/"},
		{"/%2F/evil.example", "/"}, // decodes to //evil.example
		{"/%2f%2fevil.example", "/"},
		{"%2F%5Cevil.example", "/"},
		{"https://evil.example/", "/"},
		{"https://app.example/x", "/"}, // absolute URLs are refused even on the origin
		{"javascript:alert(1)", "/"},
		{"data:text/html,x", "/"},
		{"evil.example", "/"},
		{"/../../etc", "/etc"},
		{"/" + strings.Repeat("a", localpath.MaxLen), "/"},
		{"/.//evil.example", "/"}, // finding 1: the dot segment resolved, then checked
		{"/..///evil.example", "/"},
		{"/%2e//evil.example", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			assert.Equal(t, tt.want, safeNext(tt.next))
		})
	}
}

func TestFlowCookie(t *testing.T) {
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	s, err := newSealer("secret")
	require.NoError(t, err)
	f := flow{State: "the-state-value", Nonce: "no", Verifier: "ve", Next: "/x", Expires: now.Add(flowTTL).Unix()}
	value := s.seal("name", f)
	plain := base64.RawURLEncoding.EncodeToString([]byte(`{"s":"the-state-value"`))
	assert.NotContains(t, value, plain[:16], "sealed, not just signed")

	got, err := s.open("name", value, now)
	require.NoError(t, err)
	assert.Equal(t, f, got)

	same, err := newSealer("secret")
	require.NoError(t, err)
	_, err = same.open("name", value, now)
	require.NoError(t, err, "another instance with the same client secret opens it")

	other, err := newSealer("other secret")
	require.NoError(t, err)
	tampered := []byte(value)
	tampered[len(tampered)/2] ^= 1
	tests := []struct {
		name  string
		s     *sealer
		cname string
		value string
		at    time.Time
	}{
		{"expired", s, "name", value, now.Add(flowTTL)},
		{"another cookie's name", s, "other", value, now},
		{"another key", other, "name", value, now},
		{"tampered", s, "name", string(tampered), now},
		{"not base64", s, "name", "!!!", now},
		{"too short", s, "name", "AAAA", now},
		{"empty", s, "name", "", now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.open(tt.cname, tt.value, tt.at)
			assert.ErrorIs(t, err, errBadFlow)
		})
	}
}

func TestAuthMethod(t *testing.T) {
	tests := []struct {
		secret    string
		supported []string
		want      string
		err       bool
	}{
		{"s", nil, "client_secret_basic", false},
		{"s", []string{"client_secret_post"}, "client_secret_post", false},
		{"s", []string{"client_secret_post", "client_secret_basic"}, "client_secret_basic", false},
		{"s", []string{"private_key_jwt"}, "", true},
		{"", []string{"client_secret_basic"}, "none", false},
	}
	for _, tt := range tests {
		got, err := authMethod(tt.secret, tt.supported)
		if tt.err {
			assert.Error(t, err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
}
