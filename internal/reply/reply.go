// Package reply writes the JSON bodies of the server's answers, errors
// above all: every failure of an /api call is a JSON object with an error
// code and a message, never an HTML page or a redirect.
package reply

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// MaxBody bounds the request bodies the server reads (64 KiB).
const MaxBody = 64 << 10

// ErrorBody is the JSON body of an error answer.
type ErrorBody struct {
	// Error is a stable, machine-readable code such as "csrf" or "no_session".
	Error string `json:"error"`
	// Message explains the error to a person.
	Message string `json:"message"`
}

// Error answers with status and {"error": code, "message": message}.
func Error(w http.ResponseWriter, status int, code, message string) {
	JSON(w, status, ErrorBody{Error: code, Message: message})
}

// JSON answers with status and v encoded as JSON. The answer is never
// cached: it may describe a session.
func JSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is out; a failed write has no one to tell
}

// MethodNotAllowed answers 405 with the Allow header.
func MethodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	Error(w, http.StatusMethodNotAllowed, "method_not_allowed", "this endpoint accepts "+allow+" only")
}

// Decode reads a JSON body of at most MaxBody bytes into v, or answers 400
// or 413 and returns false. The whole body is read first: any body over
// MaxBody is 413, and anything after the JSON value (but white space) is
// 400.
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength > MaxBody {
		BodyError(w, &http.MaxBytesError{Limit: MaxBody}, "")
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err == nil {
		err = json.Unmarshal(data, v) // refuses trailing data
	}
	if err != nil {
		BodyError(w, err, "the body must be one JSON object")
	}
	return err == nil
}

// BodyError answers a failure to read a request body: 413 when it was
// larger than its http.MaxBytesReader allowed, else 400 with message.
func BodyError(w http.ResponseWriter, err error, message string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		Error(w, http.StatusRequestEntityTooLarge, "too_large", "the body is larger than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
		return
	}
	Error(w, http.StatusBadRequest, "invalid_request", message)
}
