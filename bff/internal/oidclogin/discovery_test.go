package oidclogin

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The keys are fetched at first use and again when a token is signed by a
// key the set does not have yet (a rotation), not on every token.
func TestKeySetRefetchesOnRotation(t *testing.T) {
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	current := k1
	fetches := 0
	ks := &keySet{fetch: func(context.Context) (jose.JSONWebKeySet, error) {
		fetches++
		return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: current.Public(), KeyID: "k", Algorithm: "RS256", Use: "sig"}}}, nil
	}}
	ctx := context.Background()
	token := func(k *rsa.PrivateKey) string { return oidctest.SignIDToken(k, "k", "RS256", `{"sub":"a"}`) }

	_, err = ks.VerifySignature(ctx, token(k1))
	require.NoError(t, err)
	_, err = ks.VerifySignature(ctx, token(k1))
	require.NoError(t, err)
	assert.Equal(t, 1, fetches, "cached")

	current = k2
	_, err = ks.VerifySignature(ctx, token(k2))
	require.NoError(t, err)
	assert.Equal(t, 2, fetches, "refetched for the new key")

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, err = ks.VerifySignature(ctx, token(other))
	assert.Error(t, err, "a key the provider never published")
}

// New does not call the provider; until it answers, logins are a 502 page
// and refreshes are transient failures that keep the session.
func TestLazyDiscovery(t *testing.T) {
	var up atomic.Bool
	f := newFakeProvider(t)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		f.Config.Handler.ServeHTTP(w, r)
	}))
	defer gate.Close()
	f.Close() // only through the gate from now on
	h, err := New(Config{Issuer: f.URL, ClientID: "app", ClientSecret: "secret", PublicURL: public, Transport: gateTransport{gate.URL},
		Timeout: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)

	assert.Equal(t, http.StatusBadGateway, serve(h, "/auth/login").StatusCode)
	_, err = h.Client().Refresh(context.Background(), "r")
	require.ErrorIs(t, err, refresh.ErrUnavailable)
	require.ErrorIs(t, h.Client().Revoke(context.Background(), "r"), refresh.ErrUnavailable)

	up.Store(true)
	assert.Equal(t, http.StatusFound, serve(h, "/auth/login").StatusCode, "discovered once the provider answers")
}

// gateTransport sends every request to the gate server, whatever its host.
type gateTransport struct{ gate string }

func (g gateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	u := *r.URL
	u.Scheme, u.Host = "http", g.gate[len("http://"):]
	out.URL, out.Host = &u, ""
	return http.DefaultTransport.RoundTrip(out)
}

func TestDiscoveryChecks(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"another issuer", `{"issuer":"https://evil.example","authorization_endpoint":"a","token_endpoint":"t","jwks_uri":"j"}`, "names the issuer"},
		{"no token endpoint", `{"issuer":"ISSUER","authorization_endpoint":"a","jwks_uri":"j"}`, "lacks"},
		{"no S256", `{"issuer":"ISSUER","authorization_endpoint":"a","token_endpoint":"t","jwks_uri":"j","code_challenge_methods_supported":["plain"]}`, "S256"},
		{"no usable client authentication", `{"issuer":"ISSUER","authorization_endpoint":"a","token_endpoint":"t","jwks_uri":"j","token_endpoint_auth_methods_supported":["private_key_jwt"]}`, "client_secret_basic"},
		{"not JSON", `<html>`, "discovery"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(strings.ReplaceAll(tt.doc, "ISSUER", srv.URL)))
			}))
			defer srv.Close()
			_, err := discover(Config{Issuer: srv.URL, ClientID: "app", ClientSecret: "s", PublicURL: public, Transport: http.DefaultTransport})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// An issuer configured with or without the trailing slash its provider
// states (Auth0's ends with one) is discovered at one well-known URL, and
// its ID tokens are held to the issuer as the provider states it.
func TestIssuerWithATrailingSlash(t *testing.T) {
	for _, stated := range []string{"", "/"} {
		for _, configured := range []string{"", "/"} {
			var srv *httptest.Server
			var paths []string
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				paths = append(paths, r.URL.Path)
				_, _ = w.Write([]byte(`{"issuer":"` + srv.URL + stated + `","authorization_endpoint":"a","token_endpoint":"t","jwks_uri":"j"}`))
			}))
			h, err := discover(Config{Issuer: srv.URL + configured, ClientID: "app", ClientSecret: "s", PublicURL: public, Transport: http.DefaultTransport})
			srv.Close()
			require.NoError(t, err, "stated %q, configured %q", stated, configured)
			assert.Equal(t, []string{"/.well-known/openid-configuration"}, paths)
			require.NotNil(t, h)
		}
	}
}

// discover is New, then Discover: the Handler, or the first error.
func discover(cfg Config) (*Handler, error) {
	h, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := h.Discover(context.Background()); err != nil {
		return nil, err
	}
	return h, nil
}
