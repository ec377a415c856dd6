package auth

import (
	"context"
	"errors"
	"net/http"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// failure is how the BFF answers an upstream auth call that failed without
// a definite rejection: the status and JSON error code for the browser.
// Transient failures never end a session.
func failure(err error) (status int, code, message string) {
	var e *authclient.Error
	switch {
	case errors.Is(err, absorb.ErrBudget):
		return http.StatusServiceUnavailable, "refresh_pending", "another refresh of this session has not finished; try again"
	case errors.Is(err, absorb.ErrClosed):
		return http.StatusServiceUnavailable, "refresh_pending", "the server is shutting down; try again"
	case !errors.As(err, &e) && errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "upstream_timeout", "the refresh did not finish in time; try again"
	}
	if !errors.As(err, &e) {
		return http.StatusBadGateway, "upstream_invalid", "the auth call failed"
	}
	switch {
	case e.Timeout():
		return http.StatusGatewayTimeout, "upstream_timeout", "the auth server did not answer in time; try again"
	case errors.Is(err, authclient.ErrNoTokens) || errors.Is(err, authclient.ErrNoRefreshToken):
		return http.StatusBadGateway, "upstream_invalid", "the auth server answered without tokens"
	case e.Status == 0:
		return http.StatusBadGateway, "upstream_unreachable", "the auth server could not be reached; try again"
	case e.Status == http.StatusBadRequest && !e.Misconfigured():
		msg := e.Description
		if msg == "" {
			msg = "the auth server refused the request"
		}
		return http.StatusBadRequest, "invalid_request", msg
	case e.Status >= 500 || e.Status == http.StatusTooManyRequests:
		return http.StatusServiceUnavailable, "upstream_error", "the auth server could not be reached; try again"
	default:
		return http.StatusBadGateway, "upstream_invalid", "the auth server answered unexpectedly"
	}
}
