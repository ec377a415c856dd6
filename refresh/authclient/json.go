package authclient

import (
	"context"
	"encoding/json"
	"net/url"
)

// JSON is the seed's JSON contract (README, "Upstream contract"), which the
// embedded demo upstream implements. Create one with NewJSON, or set the
// endpoints that a caller uses.
type JSON struct {
	HTTP
	// LoginURL is POST {username, password} -> {accessToken, refreshToken, expiresIn}.
	LoginURL string
	// RefreshURL is POST {refreshToken} -> the same answer.
	RefreshURL string
	// LogoutURL is POST {refreshToken} -> 204, revoking the token's family.
	LogoutURL string
}

// NewJSON returns the JSON dialect of the upstream at base: its
// /auth/login, /auth/refresh and /auth/logout.
func NewJSON(base *url.URL, h HTTP) *JSON {
	return &JSON{
		HTTP:       h,
		LoginURL:   base.JoinPath("auth/login").String(),
		RefreshURL: base.JoinPath("auth/refresh").String(),
		LogoutURL:  base.JoinPath("auth/logout").String(),
	}
}

// JSONAnswer is the JSON dialect's answer to login and refresh, on the
// wire: the demo upstream writes it, JSON reads it.
type JSONAnswer struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int64  `json:"expiresIn"` // seconds until AccessToken expires
	// User, optional, describes the user: {"sub": ..., "name": ...}.
	User map[string]any `json:"user,omitempty"`
}

// Login implements PasswordLogin.
func (c *JSON) Login(ctx context.Context, username, password string) (Tokens, error) {
	return c.tokens(ctx, c.LoginURL, map[string]string{"username": username, "password": password})
}

// Refresh implements Client.
func (c *JSON) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	return c.tokens(ctx, c.RefreshURL, map[string]string{"refreshToken": refreshToken})
}

// Revoke implements Client: POST /auth/logout.
func (c *JSON) Revoke(ctx context.Context, refreshToken string) error {
	a, err := c.postJSON(ctx, c.LogoutURL, map[string]string{"refreshToken": refreshToken})
	if err != nil {
		return err
	}
	if a.status/100 != 2 {
		return Classify(a.status, a.body)
	}
	return nil
}

func (c *JSON) tokens(ctx context.Context, u string, in any) (Tokens, error) {
	a, err := c.postJSON(ctx, u, in)
	if err != nil {
		return Tokens{}, err
	}
	if a.status/100 != 2 {
		return Tokens{}, Classify(a.status, a.body)
	}
	var t JSONAnswer
	if err := json.Unmarshal(a.body, &t); err != nil || t.AccessToken == "" || t.RefreshToken == "" {
		return Tokens{}, &Error{Kind: unavailableKind, Status: a.status, Err: ErrNoTokens}
	}
	return Tokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expires: c.expires(t.ExpiresIn), User: t.User}, nil
}
