package refresh

import (
	"errors"
	"strconv"
)

// Sentinels for the two ways a refresh can fail. Callers branch on them with
// errors.Is; every error the Policy returns for a failed refresh is an *Error
// that wraps exactly one of them.
var (
	// ErrRejected means the refresh endpoint definitely refused the session
	// (it answered 401). The session is over until a new login.
	ErrRejected = errors.New("refresh: rejected")

	// ErrUnavailable means the refresh could not be done right now (no answer,
	// a timeout, or any other status, 403 included: the server answers 403
	// only when its CSRF check refuses the call, a configuration error, and
	// says 401 whenever the session is over). The session is kept; the call
	// may be retried later.
	ErrUnavailable = errors.New("refresh: unavailable")

	// ErrLoggedOut is the Cause of the ErrRejected error that calls meet
	// after Policy.Logout.
	ErrLoggedOut = errors.New("refresh: logged out")

	// ErrFailedElsewhere is the Cause of the ErrUnavailable error of a
	// refresh that another tab's failure stood for (Shared.Failed).
	ErrFailedElsewhere = errors.New("refresh: another tab's refresh of this token failed just now")

	// ErrGoexit is the Cause of the ErrUnavailable error of a refresh whose
	// RefreshFunc called runtime.Goexit.
	ErrGoexit = errors.New("refresh: RefreshFunc called runtime.Goexit")
)

// PanicError is the Cause of the ErrUnavailable error of a refresh whose
// RefreshFunc panicked: Value is what it panicked with.
type PanicError struct {
	Value any
}

// Error implements error.
func (e *PanicError) Error() string { return "refresh: RefreshFunc panicked" }

// Error describes one failed refresh.
type Error struct {
	// Status is the HTTP status the refresh endpoint answered, or 0 when no
	// answer arrived.
	Status int
	// Kind is ErrRejected or ErrUnavailable.
	Kind error
	// Cause is the transport error or context error behind a missing
	// answer, or the RefreshFunc's detail of a failing answer
	// (Result.Cause); nil when there is none.
	Cause error
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Status != 0 {
		msg += ": status " + strconv.Itoa(e.Status)
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns Kind and, when set, Cause, so that errors.Is matches both
// ErrUnavailable and, say, context.DeadlineExceeded.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// classify turns the outcome of one refresh call into nil (success) or an
// *Error. Only 401 is definite; everything else keeps the session.
func classify(res Result, err error) error {
	switch status := res.Status; {
	case err != nil:
		return &Error{Kind: ErrUnavailable, Cause: err}
	case status >= 200 && status < 300:
		return nil
	case status == 401:
		return &Error{Status: status, Kind: ErrRejected, Cause: res.Cause}
	default:
		return &Error{Status: status, Kind: ErrUnavailable, Cause: res.Cause}
	}
}

// isLoggedOut reports whether err, as the policy produced it, is the error
// of a logout.
func isLoggedOut(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Cause == ErrLoggedOut
}

// isUnavailable reports whether err, as the policy produced it (not
// wrapped), is a transient refresh failure. It avoids errors.Is, whose
// reflection costs 30 KB in the browser module.
func isUnavailable(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Kind == ErrUnavailable
}
