package bff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"github.com/fetch-with-refresh/fetch-with-refresh/wasm/refresh"
)

// ErrRejected means the upstream refused the credentials or the refresh
// token for good (401, or 400 invalid_grant). It wraps refresh.ErrRejected,
// the policy's name for the same fact.
var ErrRejected = fmt.Errorf("bff: rejected by the upstream: %w", refresh.ErrRejected)

// UpstreamError is a failure to get an answer that decides anything: the
// upstream was unreachable, slow, failing or answered nonsense. It never
// ends a session.
type UpstreamError struct {
	// Status is what the BFF answers: 502, 503 or 504.
	Status int
	// Code is the JSON error code: "upstream_unreachable",
	// "upstream_timeout", "upstream_error" or "upstream_invalid".
	Code string
	// Err is the cause.
	Err error
}

func (e *UpstreamError) Error() string { return "bff: " + e.Code + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *UpstreamError) Unwrap() error { return e.Err }

// BadRequestError is a 400 from the upstream for something other than a
// grant, such as a malformed login: the BFF passes it on as 400.
type BadRequestError struct{ Message string }

func (e *BadRequestError) Error() string { return "bff: bad request: " + e.Message }

// exchanger calls the upstream's auth endpoints.
type exchanger struct {
	base      *url.URL
	transport http.RoundTripper // no http.Client: see proxy's package comment
	timeout   time.Duration
	now       func() time.Time
	observe   func(d time.Duration)
}

// upstreamTokens is the upstream's answer to login and refresh.
type upstreamTokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int64  `json:"expiresIn"`
}

// upstreamError is the body of an upstream error answer.
type upstreamError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// exchange POSTs body as JSON to the upstream path and returns the new
// tokens, ErrRejected, a *BadRequestError or an *UpstreamError.
func (x *exchanger) exchange(ctx context.Context, path string, body any) (session.Tokens, error) {
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	payload, err := json.Marshal(body)
	if err != nil {
		return session.Tokens{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.base.JoinPath(path).String(), bytes.NewReader(payload))
	if err != nil {
		return session.Tokens{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	res, err := x.transport.RoundTrip(req)
	x.observe(time.Since(start))
	if err != nil {
		return session.Tokens{}, transportError(ctx, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return session.Tokens{}, transportError(ctx, err)
	}

	switch {
	case res.StatusCode == http.StatusOK:
		var t upstreamTokens
		if err := json.Unmarshal(data, &t); err != nil || t.AccessToken == "" || t.RefreshToken == "" {
			return session.Tokens{}, &UpstreamError{http.StatusBadGateway, "upstream_invalid", errors.New("login or refresh answer without tokens")}
		}
		return session.Tokens{
			AccessToken:  t.AccessToken,
			RefreshToken: t.RefreshToken,
			Expires:      x.now().Add(time.Duration(t.ExpiresIn) * time.Second),
		}, nil
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return session.Tokens{}, ErrRejected
	case res.StatusCode == http.StatusBadRequest:
		var e upstreamError
		_ = json.Unmarshal(data, &e) // a body that is not JSON is a plain bad request
		if e.Error == "invalid_grant" {
			return session.Tokens{}, ErrRejected
		}
		return session.Tokens{}, &BadRequestError{Message: e.Message}
	case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
		return session.Tokens{}, &UpstreamError{http.StatusServiceUnavailable, "upstream_error", errors.New(res.Status)}
	default:
		return session.Tokens{}, &UpstreamError{http.StatusBadGateway, "upstream_invalid", errors.New("unexpected " + res.Status)}
	}
}

// transportError classifies an error that left no answer: 504 for a
// timeout, 502 for anything else.
func transportError(ctx context.Context, err error) *UpstreamError {
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &netErr) && netErr.Timeout()) {
		return &UpstreamError{http.StatusGatewayTimeout, "upstream_timeout", err}
	}
	return &UpstreamError{http.StatusBadGateway, "upstream_unreachable", err}
}
