// Package authclient owns the upstream's auth contract: the one Tokens
// type, the refresh call, the revocation call, and the one classification
// of their outcomes into the refresh policy's refresh.ErrRejected (the
// session is over) and refresh.ErrUnavailable (try again later; keep the
// session). The BFF (bff/internal/auth), the server-side transport
// (refresh/transport) and the server-rendered page all go through it.
//
// Two dialects implement Client:
//
//   - JSON, the seed's contract, which the embedded demo upstream speaks:
//     POST /auth/login {username, password}, POST /auth/refresh
//     {refreshToken} and POST /auth/logout {refreshToken}, answered with
//     {accessToken, refreshToken, expiresIn}.
//   - OAuth, OAuth 2.0 / OpenID Connect: the token endpoint with
//     grant_type=refresh_token (RFC 6749 §6) or authorization_code with a
//     PKCE verifier, and revocation (RFC 7009), with the client
//     authentication method the provider announces.
//
// Both are a form or JSON POST and a small parser; the package uses no
// OAuth library, so that the Workers build stays small.
package authclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// Tokens is a pair the upstream handed out.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	// Expires is when AccessToken expires; zero when the upstream did not
	// say (then refreshes happen only on 401).
	Expires time.Time
	// User, if not nil, is what the auth server said of the user with
	// these tokens: the JSON contract's optional "user" object, or the
	// verified ID token's claims. Never a token.
	User map[string]any
}

// Client is an upstream's auth endpoints, in either dialect.
type Client interface {
	// Refresh exchanges a refresh token for a new pair. A provider that
	// does not rotate refresh tokens answers without one: the returned
	// pair then carries refreshToken again. Errors are *Error.
	Refresh(ctx context.Context, refreshToken string) (Tokens, error)
	// Revoke ends the session of a refresh token upstream (its whole
	// family, where the upstream rotates). Errors are *Error.
	Revoke(ctx context.Context, refreshToken string) error
}

// PasswordLogin is a Client that also logs in with a user name and a
// password (the JSON dialect; an OpenID provider does not).
type PasswordLogin interface {
	Client
	Login(ctx context.Context, username, password string) (Tokens, error)
}

// HTTP is how a Client reaches the upstream. Transport is required.
type HTTP struct {
	// Transport sends the calls. Required: a default would link net/http's
	// whole client into the Workers build, which brings its own. Redirects
	// are not followed.
	Transport http.RoundTripper
	// Timeout bounds each call. If zero, 10 seconds.
	Timeout time.Duration
	// Now returns the current time, for Tokens.Expires. If nil, time.Now.
	Now func() time.Time
	// Observe, if not nil, is told how long each call took.
	Observe func(time.Duration)
}

// maxAnswer bounds the answers read from the upstream.
const maxAnswer = 1 << 20

// answer is a response read in full.
type answer struct {
	status int
	body   []byte
}

// post sends body with contentType to u and reads the answer. basicUser,
// when not empty, is sent with basicPass as HTTP Basic credentials. A call
// that got no answer returns an *Error of kind refresh.ErrUnavailable.
func (h HTTP) post(ctx context.Context, u, contentType string, body []byte, basicUser, basicPass string) (answer, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return answer{}, unavailable(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	start := time.Now()
	res, err := h.Transport.RoundTrip(req)
	if h.Observe != nil {
		h.Observe(time.Since(start))
	}
	if err != nil {
		return answer{}, unavailable(contextCause(ctx, err))
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return answer{}, unavailable(contextCause(ctx, err))
	}
	return answer{res.StatusCode, data}, nil
}

// postJSON POSTs v as JSON.
func (h HTTP) postJSON(ctx context.Context, u string, v any) (answer, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return answer{}, unavailable(err)
	}
	return h.post(ctx, u, "application/json", payload, "", "")
}

// expires turns an expires_in in seconds into a time; zero stays zero.
func (h HTTP) expires(seconds int64) time.Time {
	if seconds <= 0 {
		return time.Time{}
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	return now().Add(time.Duration(seconds) * time.Second)
}

// contextCause adds ctx's error to err when ctx has ended, so that a
// timeout is told by errors.Is(err, context.DeadlineExceeded) whatever the
// transport wrapped.
func contextCause(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return errors.Join(ctx.Err(), err)
	}
	return err
}
