package authclient

import (
	"context"
	"encoding/json"
	"net/url"
)

// Client authentication methods at the token and revocation endpoints
// (OpenID Connect Discovery's token_endpoint_auth_methods_supported).
const (
	AuthBasic = "client_secret_basic"
	AuthPost  = "client_secret_post"
	AuthNone  = "none" // a public client: client_id only
)

// OAuth is the OAuth 2.0 / OpenID Connect dialect: the token endpoint and
// the revocation endpoint of a provider, with a client's credentials.
type OAuth struct {
	HTTP
	// TokenURL is the token endpoint.
	TokenURL string
	// RevocationURL is the RFC 7009 revocation endpoint; if empty, Revoke
	// does nothing (the provider has none).
	RevocationURL string
	// ClientID and ClientSecret authenticate the client.
	ClientID, ClientSecret string
	// AuthMethod is AuthBasic, AuthPost or AuthNone. If empty, AuthBasic
	// with a secret and AuthNone without.
	AuthMethod string
}

// oauthTokens is the token endpoint's answer (RFC 6749 §5.1).
type oauthTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	IDToken      string `json:"id_token"`
}

// Refresh implements Client with grant_type=refresh_token.
func (c *OAuth) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	t, _, err := c.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
	if err == nil && t.RefreshToken == "" {
		t.RefreshToken = refreshToken // no rotation: the token stays valid
	}
	return t, err
}

// Exchange redeems an authorization code with its PKCE verifier, and
// returns the pair and the ID token. A pair without a refresh token is an
// error: the session could not outlive its first access token (ask for
// the offline_access scope, or enable refresh tokens for the client).
func (c *OAuth) Exchange(ctx context.Context, code, verifier, redirectURI string) (Tokens, string, error) {
	t, idToken, err := c.token(ctx, url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {redirectURI},
	})
	if err == nil && t.RefreshToken == "" {
		return Tokens{}, "", &Error{Kind: unavailableKind, Status: 200, Err: ErrNoRefreshToken}
	}
	return t, idToken, err
}

// Revoke implements Client with RFC 7009 (token_type_hint=refresh_token).
// Revoking a refresh token also ends the access tokens of its grant at
// providers that implement §2.1's "SHOULD".
func (c *OAuth) Revoke(ctx context.Context, refreshToken string) error {
	if c.RevocationURL == "" {
		return nil
	}
	a, err := c.form(ctx, c.RevocationURL, url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}})
	if err != nil {
		return err
	}
	if a.status/100 != 2 {
		return Classify(a.status, a.body)
	}
	return nil
}

func (c *OAuth) token(ctx context.Context, form url.Values) (Tokens, string, error) {
	a, err := c.form(ctx, c.TokenURL, form)
	if err != nil {
		return Tokens{}, "", err
	}
	if a.status/100 != 2 {
		return Tokens{}, "", Classify(a.status, a.body)
	}
	var t oauthTokens
	if err := json.Unmarshal(a.body, &t); err != nil || t.AccessToken == "" {
		return Tokens{}, "", &Error{Kind: unavailableKind, Status: a.status, Err: ErrNoTokens}
	}
	return Tokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expires: c.expires(t.ExpiresIn)}, t.IDToken, nil
}

// form POSTs form to u with the client's authentication.
func (c *OAuth) form(ctx context.Context, u string, form url.Values) (answer, error) {
	method := c.AuthMethod
	if method == "" {
		method = AuthBasic
		if c.ClientSecret == "" {
			method = AuthNone
		}
	}
	var user, pass string
	switch method {
	case AuthBasic:
		// RFC 6749 §2.3.1: both are form-encoded before Basic encoding.
		user, pass = url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret)
	case AuthPost:
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.ClientSecret)
	default:
		form.Set("client_id", c.ClientID)
	}
	return c.post(ctx, u, "application/x-www-form-urlencoded", []byte(form.Encode()), user, pass)
}
