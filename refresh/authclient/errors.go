package authclient

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
)

// Error is a failed upstream auth call, shaped like x/oauth2's
// RetrieveError: the status, the `error` code and description of the
// answer's body, and an excerpt of that body. It wraps Kind, and Err when
// set, so callers branch with errors.Is(err, refresh.ErrRejected).
type Error struct {
	// Kind is refresh.ErrRejected (the session is over) or
	// refresh.ErrUnavailable (it is kept; try again later).
	Kind error
	// Status is the upstream's HTTP status; 0 when no answer arrived.
	Status int
	// Code is the body's "error" field ("invalid_grant", ...); "" if none.
	Code string
	// Description is the body's "error_description", or the JSON
	// dialect's "message".
	Description string
	// Body is the start of the answer's body, for logs. It is never taken
	// from a successful answer, which carries tokens.
	Body string
	// Err is why no usable answer arrived (a transport error, a timeout,
	// a 200 without tokens); nil otherwise.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Status != 0 {
		msg += ": upstream answered " + strconv.Itoa(e.Status)
	}
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns Kind and, when set, Err.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Timeout reports whether the call ran out of time without an answer.
func (e *Error) Timeout() bool {
	var netErr net.Error
	return e.Status == 0 && e.Err != nil &&
		(errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &netErr) && netErr.Timeout()))
}

// Misconfigured reports whether the upstream said that the server itself
// is misconfigured (its client credentials, grant type or scopes), not
// that the user's grant has ended.
func (e *Error) Misconfigured() bool { return configErrors[e.Code] }

// ErrNoTokens is the cause of an *Error for a successful answer that
// carried no usable tokens.
var ErrNoTokens = errors.New("authclient: answer without tokens")

// ErrNoRefreshToken is the cause of an *Error for a login whose answer
// carried no refresh token.
var ErrNoRefreshToken = errors.New("authclient: the provider issued no refresh token (ask for offline_access, or allow refresh tokens for the client)")

// unavailableKind is refresh.ErrUnavailable, named for the composite
// literals of this package.
var unavailableKind = refresh.ErrUnavailable

// bodyExcerpt is how much of an error body Error.Body keeps.
const bodyExcerpt = 512

// OAuth error codes (RFC 6749 §5.2) that say the server itself is
// misconfigured, not that the user's grant has ended: a session survives
// them, so they are never a rejection.
var configErrors = map[string]bool{
	"invalid_client":         true,
	"unauthorized_client":    true,
	"unsupported_grant_type": true,
	"invalid_scope":          true,
}

// Classify turns an upstream auth answer that is not a success (status
// outside 2xx) into an *Error, in both dialects:
//
//   - 5xx and 429: unavailable, whatever the body says;
//   - "invalid_grant" at any other status: rejected (the grant is unknown,
//     expired, revoked or reused: RFC 6749 §5.2);
//   - "invalid_client", "unauthorized_client", "unsupported_grant_type",
//     "invalid_scope": unavailable (the server's configuration is wrong,
//     the user's session may be fine);
//   - any other 401 or 403: rejected (the seed's contract);
//   - 400, 408 and anything else: unavailable.
func Classify(status int, body []byte) *Error {
	var fields struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Message     string `json:"message"`
	}
	_ = json.Unmarshal(body, &fields) // a body that is not JSON has no code
	e := &Error{Kind: refresh.ErrUnavailable, Status: status, Code: fields.Error, Description: fields.Description}
	if e.Description == "" {
		e.Description = fields.Message
	}
	if len(body) > bodyExcerpt {
		body = body[:bodyExcerpt]
	}
	e.Body = string(body)
	switch {
	case status >= 500 || status == http.StatusTooManyRequests:
	case fields.Error == "invalid_grant":
		e.Kind = refresh.ErrRejected
	case configErrors[fields.Error]:
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = refresh.ErrRejected
	}
	return e
}

// unavailable is an *Error for a call that got no usable answer.
func unavailable(err error) *Error {
	return &Error{Kind: refresh.ErrUnavailable, Err: err}
}
