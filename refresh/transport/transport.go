// Package transport is the native adapter of the refresh policy: an
// http.RoundTripper that a Go server uses to call the upstream API on
// behalf of a browser user. Like golang.org/x/oauth2's Transport it adds the
// bearer token, and beyond it, it refreshes on 401 and ahead of expiry with
// the policy of package refresh (single flight, epochs, replay once), and
// hands the rotated tokens back so that the handler can set them on its
// response — otherwise the browser keeps a refresh token that rotation has
// already spent.
//
// A Session holds one user's tokens; make one per incoming request from its
// cookies, or keep one per user and share it between concurrent calls.
package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Config configures Sessions. Base is required, and RefreshURL or Exchange.
type Config struct {
	// Base sends the requests, the refreshes to RefreshURL included.
	Base http.RoundTripper
	// RefreshURL is the upstream's refresh endpoint in the JSON contract:
	// POST {"refreshToken"} -> {accessToken, refreshToken, expiresIn}.
	RefreshURL string
	// Exchange, if set, refreshes instead of a POST to RefreshURL: given
	// the current pair's refresh and access tokens, it returns the new
	// pair, or an error that wraps refresh.ErrRejected when the refresh
	// token is refused for good. A BFF passes its own (bff.BFF.Exchange),
	// so that the server's refreshes and the browser's share one.
	Exchange func(ctx context.Context, refreshToken, accessToken string) (authclient.Tokens, error)
	// Ahead is how long before expiry a call refreshes first. If zero, only
	// on 401.
	Ahead time.Duration
	// Timeout bounds a refresh. If zero, refresh.DefaultTimeout.
	Timeout time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Session is one user's tokens and refresh policy. It is an
// http.RoundTripper, safe for concurrent use.
type Session struct {
	cfg    Config
	policy *refresh.Policy

	mu      sync.Mutex // protects tokens and rotated
	tokens  authclient.Tokens
	rotated bool
}

// New returns a Session for tokens.
func New(cfg Config, tokens authclient.Tokens) *Session {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Exchange == nil {
		timeout := cfg.Timeout
		if timeout <= 0 {
			timeout = refresh.DefaultTimeout
		}
		client := &authclient.JSON{
			HTTP:       authclient.HTTP{Transport: cfg.Base, Timeout: timeout, Now: cfg.Now},
			RefreshURL: cfg.RefreshURL,
		}
		cfg.Exchange = func(ctx context.Context, refreshToken, _ string) (authclient.Tokens, error) {
			return client.Refresh(ctx, refreshToken)
		}
	}
	s := &Session{cfg: cfg, tokens: tokens}
	s.policy = refresh.New(refresh.Config{
		Refresh: s.refresh,
		Timeout: cfg.Timeout,
		Ahead:   cfg.Ahead,
		Now:     cfg.Now,
	})
	s.policy.Reset(tokens.Expires, lifetime(cfg.Now(), tokens.Expires))
	return s
}

// Tokens returns the current tokens, and whether a refresh has replaced the
// ones the Session was made with (then set them on the response).
func (s *Session) Tokens() (t authclient.Tokens, rotated bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens, s.rotated
}

// RoundTrip sends r with the current access token, refreshing first when
// it is about to expire, and once more after a refresh when the answer is
// 401. The answer to the last attempt is returned; a failed refresh is an
// error that wraps refresh.ErrRejected or refresh.ErrUnavailable.
func (s *Session) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := replayable(r)
	if err != nil {
		return nil, err
	}
	var res *http.Response
	err = s.policy.Do(refresh.FromContext(r.Context()), func() (int, error) {
		if res != nil { // the 401 before the replay
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		out := r.Clone(r.Context()) // never change the caller's request
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
		}
		t, _ := s.Tokens()
		out.Header.Set("Authorization", "Bearer "+t.AccessToken)
		var err error
		if res, err = s.cfg.Base.RoundTrip(out); err != nil {
			return 0, err
		}
		return res.StatusCode, nil
	})
	if err != nil {
		if res != nil {
			res.Body.Close()
		}
		return nil, err
	}
	return res, nil
}

// replayable reads r's body, so that it can be sent twice; nil if none.
func replayable(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	defer r.Body.Close()
	return io.ReadAll(r.Body)
}

// refresh is the policy's RefreshFunc: it exchanges the current refresh
// token upstream and stores the new pair.
func (s *Session) refresh(ctx refresh.Context) (refresh.Result, error) {
	std, cancel := refresh.StdContext(ctx)
	defer cancel()
	t, _ := s.Tokens()
	next, err := s.cfg.Exchange(std, t.RefreshToken, t.AccessToken)
	if errors.Is(err, refresh.ErrRejected) { // the upstream's detail (an *authclient.Error) kept as the cause
		return refresh.Result{Status: http.StatusUnauthorized, Cause: err}, nil
	}
	if err != nil {
		return refresh.Result{}, err
	}
	s.store(next)
	return refresh.Result{Status: http.StatusOK, Expiry: next.Expires, Lifetime: lifetime(s.cfg.Now(), next.Expires)}, nil
}

// store keeps a rotated pair.
func (s *Session) store(t authclient.Tokens) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens, s.rotated = t, true
}

// lifetime is what the policy takes for a token's lifetime, which
// authclient.Tokens does not carry: the time it has left (all of it, for a
// token just issued). Ahead is capped by it (refresh.Window): a 3 s token
// is not refreshed before every call when Ahead is 30 s.
func lifetime(now, expires time.Time) time.Duration {
	if expires.IsZero() {
		return 0
	}
	return max(expires.Sub(now), 0)
}
