package oidclogin

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// provider is what discovery found: the endpoints, and the verifier of
// the provider's ID tokens.
type provider struct {
	oauth      oauth2.Config // for the authorization URL only
	client     *authclient.OAuth
	verifier   *oidc.IDTokenVerifier
	endSession string // end_session_endpoint, or ""
	issuer     string // as the provider states it
	issParam   bool   // it puts iss in its authorization responses (RFC 9207)
}

// document is the part of the discovery document (OpenID Connect
// Discovery 1.0 §3) that the mode uses.
type document struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
	IssParameter          bool     `json:"authorization_response_iss_parameter_supported"`
}

// signingAlgs are the ID token algorithms go-oidc verifies.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// discover reads the discovery document through the configured transport.
// go-oidc's NewProvider would do the same through an http.Client, whose
// fallback to net/http's default client costs a Worker 1.3 MB of gzip;
// the ID tokens are still verified by go-oidc (oidc.NewVerifier).
func (h *Handler) discover(ctx context.Context) (*provider, error) {
	var doc document
	issuer := strings.TrimSuffix(h.cfg.Issuer, "/") // Auth0's ends with one: both forms are the issuer
	if err := h.getJSON(ctx, issuer+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, fmt.Errorf("oidclogin: discovery at %s: %w", h.cfg.Issuer, err)
	}
	switch {
	case strings.TrimSuffix(doc.Issuer, "/") != issuer: // the ID tokens are then checked against doc.Issuer, exactly
		return nil, fmt.Errorf("oidclogin: discovery at %s names the issuer %q", h.cfg.Issuer, doc.Issuer)
	case doc.AuthorizationEndpoint == "" || doc.TokenEndpoint == "" || doc.JWKSURI == "":
		return nil, errors.New("oidclogin: the discovery document lacks an authorization, token or jwks_uri endpoint")
	case len(doc.CodeChallengeMethods) > 0 && !slices.Contains(doc.CodeChallengeMethods, "S256"):
		return nil, errors.New("oidclogin: the provider does not support PKCE with S256")
	}
	method, err := authMethod(h.cfg.ClientSecret, doc.TokenAuthMethods)
	if err != nil {
		return nil, err
	}
	algs := slices.DeleteFunc(slices.Clone(doc.SigningAlgs), func(a string) bool { return !slices.Contains(signingAlgs, a) })
	keys := &keySet{fetch: func(ctx context.Context) (set jose.JSONWebKeySet, err error) {
		return set, h.getJSON(ctx, doc.JWKSURI, &set)
	}}
	return &provider{
		oauth: oauth2.Config{
			ClientID: h.cfg.ClientID, Scopes: h.cfg.Scopes,
			Endpoint:    oauth2.Endpoint{AuthURL: doc.AuthorizationEndpoint, TokenURL: doc.TokenEndpoint},
			RedirectURL: h.redirectURI,
		},
		client: &authclient.OAuth{
			HTTP:     authclient.HTTP{Transport: h.cfg.Transport, Timeout: h.cfg.Timeout, Now: h.cfg.Now, Observe: h.cfg.Observe},
			TokenURL: doc.TokenEndpoint, RevocationURL: doc.RevocationEndpoint,
			ClientID: h.cfg.ClientID, ClientSecret: h.cfg.ClientSecret, AuthMethod: method,
		},
		verifier:   oidc.NewVerifier(doc.Issuer, keys, &oidc.Config{ClientID: h.cfg.ClientID, SupportedSigningAlgs: algs, Now: h.cfg.Now}),
		endSession: doc.EndSessionEndpoint,
		issuer:     doc.Issuer,
		issParam:   doc.IssParameter,
	}, nil
}

// maxDocument bounds the discovery document and the key set.
const maxDocument = 1 << 20

// getJSON GETs u through the configured transport into v.
func (h *Handler) getJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := h.cfg.Transport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxDocument))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// keySet is an oidc.KeySet over the provider's jwks_uri, read through the
// configured transport. The keys are fetched at first use, and again when
// a token's signature matches none of them (the provider rotated them).
type keySet struct {
	fetch func(context.Context) (jose.JSONWebKeySet, error)

	mu   sync.Mutex // protects keys
	keys []crypto.PublicKey
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	if keys != nil {
		if payload, err := (&oidc.StaticKeySet{PublicKeys: keys}).VerifySignature(ctx, jwt); err == nil {
			return payload, nil
		}
	}
	set, err := k.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("oidclogin: fetching the provider's keys: %w", err)
	}
	keys = make([]crypto.PublicKey, 0, len(set.Keys))
	for _, key := range set.Keys {
		if key.Use == "" || key.Use == "sig" {
			keys = append(keys, key.Key)
		}
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return (&oidc.StaticKeySet{PublicKeys: keys}).VerifySignature(ctx, jwt)
}
