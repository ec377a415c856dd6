// Package scenario holds the expectations of the scenarios in
// wasm/testdata/harness.mjs, so that the same checks run wherever the
// scenarios do: under Node (wasm/node_test.go) and in Chromium
// (internal/testing/e2e). It is test support: each function drives one
// scenario through a Run and asserts on its result.
package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Run runs harness[name](args...) in some runtime and decodes its JSON
// result into out.
type Run func(t *testing.T, out any, name string, args ...any)

// Outcome is how one call ended: a status, or the name of the error.
type Outcome struct {
	Status int
	Error  string
}

// CallResult is one call of the storm scenario.
type CallResult struct {
	Kind   string
	Status int
	Intact bool // the answer, and the body the upstream echoed, are right
	Error  string
}

// Storm: 50 concurrent calls after expiry, every input and body kind: one
// refresh, 50 successes, bodies intact on the replay, and the session still
// usable after the next expiry.
func Storm(t *testing.T, run Run) {
	var got struct {
		Results                                 []CallResult
		RefreshCalls, UpstreamRefreshes, Reuses int
		Stats                                   map[string]float64
	}
	run(t, &got, "storm", 50)
	require.Len(t, got.Results, 50)
	for i, r := range got.Results {
		assert.Empty(t, r.Error, "call %d (%s)", i, r.Kind)
		assert.Equal(t, 200, r.Status, "call %d (%s)", i, r.Kind)
		assert.True(t, r.Intact, "call %d (%s): the answer or the replayed body is wrong", i, r.Kind)
	}
	assert.Equal(t, 1, got.RefreshCalls, "calls to /api/auth/refresh")
	assert.Equal(t, 1, got.UpstreamRefreshes)
	assert.Zero(t, got.Reuses)
	assert.EqualValues(t, 50, got.Stats["replays"])

	var next struct{ Status, RefreshCalls int }
	run(t, &next, "nextExpiry")
	assert.Equal(t, 200, next.Status, "the session survives the next expiry")
	assert.Equal(t, 1, next.RefreshCalls)
}

// Late401: a call whose 401 arrives after another call's refresh finished
// is replayed without a second refresh.
func Late401(t *testing.T, run Run) {
	var got struct{ Fast, Late, RefreshCalls, LateCalls int }
	run(t, &got, "late401")
	assert.Equal(t, 200, got.Fast)
	assert.Equal(t, 200, got.Late)
	assert.Equal(t, 1, got.RefreshCalls)
	assert.Equal(t, 2, got.LateCalls, "the late call was replayed once")
}

// Withdraw: when one attempt's token is refused, the other pending
// idempotent attempts sent with it after it are withdrawn and sent again
// after the one refresh, without their own 401s. Those sent before it are
// spared (each waits for its own answer), as are POSTs and a call sent
// while no other was out. A withdrawn call aborted while it waits for the
// refresh rejects alone. n+2 GETs and a POST are held by the server at
// once (a browser has six connections per host, and the scenario needs
// more).
func Withdraw(t *testing.T, run Run, n int) {
	var got struct {
		Aborted, Trigger                    Outcome
		Spared, Withdrawn                   []Outcome
		RefreshCalls, Unauthorized, Replays int
	}
	run(t, &got, "withdraw", n)
	assert.Equal(t, "AbortError", got.Aborted.Error, "aborted while waiting for the refresh")
	assert.Equal(t, Outcome{Status: 200}, got.Trigger)
	assert.Equal(t, []Outcome{{Status: 200}, {Status: 200}}, got.Spared)
	require.Len(t, got.Withdrawn, n-1)
	for i, o := range got.Withdrawn {
		assert.Equal(t, Outcome{Status: 200}, o, "GET %d after the POST", i)
	}
	assert.Equal(t, 1, got.RefreshCalls)
	assert.Equal(t, 3, got.Unauthorized, "only the POST and the two GETs sent before it were answered 401")
	assert.Equal(t, 3+n-1, got.Replays, "every call but the aborted one")
}

// ModuleHeld: calls made while the module's file is still downloading go
// out at once; an abort rejects a call that waits for the module at once;
// the module refreshes once for all of them, and a late 401 of a call sent
// before it ran is replayed without a second refresh.
func ModuleHeld(t *testing.T, run Run) {
	var got struct {
		Aborted, Waiting, Late Outcome
		RefreshCalls           int
		Stats                  map[string]float64
	}
	run(t, &got, "moduleHeld")
	assert.Equal(t, "AbortError", got.Aborted.Error, "aborted while waiting for the module")
	assert.Equal(t, Outcome{Status: 200}, got.Waiting)
	assert.Equal(t, Outcome{Status: 200}, got.Late)
	assert.Equal(t, 1, got.RefreshCalls, "the late 401 is replayed without a second refresh")
	assert.EqualValues(t, 3, got.Stats["leased"], "all three were sent before the module ran")
}

// Leased: with a valid token, calls are sent under the module's lease,
// without asking it (the fast path).
func Leased(t *testing.T, run Run) {
	var got struct{ Calls, Leased int }
	run(t, &got, "leased", 10)
	assert.Equal(t, 10, got.Calls)
	assert.Equal(t, 10, got.Leased, "every call under the lease")
}

// BeforeModule: calls made before the module runs go out at once; one
// answered 401 waits for the module, which refreshes once.
func BeforeModule(t *testing.T, run Run) {
	var got struct {
		Results      []Outcome
		RefreshCalls int
		Stats        map[string]float64
	}
	run(t, &got, "beforeModule")
	assert.Equal(t, []Outcome{{Status: 200}, {Status: 200}}, got.Results)
	assert.Equal(t, 1, got.RefreshCalls)
	assert.EqualValues(t, 2, got.Stats["calls"])
	assert.EqualValues(t, 2, got.Stats["leased"], "both were sent before the module ran")
	assert.EqualValues(t, 2, got.Stats["replays"])
}

// Rejected: a revoked session fails every waiting call and a later one with
// AuthError after one refresh; onAuthFailure fires once; no request loop.
func Rejected(t *testing.T, run Run) {
	var got struct {
		Waiting          []Outcome
		Later            Outcome
		RefreshCalls     int
		DepartmentsCalls int
		AuthFailures     []string
	}
	run(t, &got, "rejected", 10)
	require.Len(t, got.Waiting, 10)
	for _, o := range got.Waiting {
		assert.Equal(t, Outcome{Error: "AuthError", Status: 401}, o)
	}
	assert.Equal(t, Outcome{Error: "AuthError", Status: 401}, got.Later, "the failure is sticky")
	assert.Equal(t, 1, got.RefreshCalls, "no second refresh")
	// Each call is sent once at most (the later one included): those still
	// waiting when the first 401 came are withdrawn, not sent again.
	assert.LessOrEqual(t, got.DepartmentsCalls, 11, "no replay after a rejected refresh: no request loop")
	assert.GreaterOrEqual(t, got.DepartmentsCalls, 2)
	assert.Equal(t, []string{"AuthError"}, got.AuthFailures, "onAuthFailure fires once")
}

// Unavailable: the refresh endpoint answers 503 once; the waiting calls get
// RefreshUnavailableError, the session survives, the next call succeeds.
func Unavailable(t *testing.T, run Run) {
	var got struct {
		Waiting      []Outcome
		Next         Outcome
		RefreshCalls int
		AuthFailures []string
	}
	run(t, &got, "unavailable", 5)
	for _, o := range got.Waiting {
		assert.Equal(t, Outcome{Error: "RefreshUnavailableError", Status: 503}, o)
	}
	assert.Equal(t, Outcome{Status: 200}, got.Next, "the session survived")
	assert.Equal(t, 2, got.RefreshCalls)
	assert.Empty(t, got.AuthFailures)
}

// Exempt: the refresh URL itself and calls with refresh: false are sent
// once, as they are.
func Exempt(t *testing.T, run Run) {
	var got struct{ OptOut, Direct, RefreshCalls, DepartmentsCalls int }
	run(t, &got, "exempt")
	assert.Equal(t, 401, got.OptOut)
	assert.Equal(t, 401, got.Direct)
	assert.Equal(t, 1, got.RefreshCalls, "only the direct call")
	assert.Equal(t, 1, got.DepartmentsCalls, "the opted-out call is not replayed")
}

// Abort: an aborted call rejects alone, in each phase (before it is sent,
// while its attempt is out, while it waits for a refresh), while the
// others succeed after one refresh.
func Abort(t *testing.T, run Run) {
	var got struct {
		PreAborted, WhileSent, Aborted, Other Outcome
		RefreshCalls                          int
	}
	run(t, &got, "abort")
	assert.Equal(t, "AbortError", got.PreAborted.Error, "aborted before it was sent")
	assert.Equal(t, "AbortError", got.WhileSent.Error, "aborted while its attempt was out")
	assert.Equal(t, "AbortError", got.Aborted.Error, "aborted while waiting for the refresh")
	assert.Equal(t, Outcome{Status: 200}, got.Other)
	assert.Equal(t, 1, got.RefreshCalls)
}

// Event is a session event as the harness records it.
type Event struct {
	Type     string
	OtherTab bool
	Error    string
	Status   int
}

// WrongPassword: a login with a wrong password resolves to its 401 Response:
// no refresh, no failure, no event.
func WrongPassword(t *testing.T, run Run) {
	var got struct {
		Status, RefreshCalls, Failures int
		Events                         []Event
	}
	run(t, &got, "wrongPassword")
	assert.Equal(t, 401, got.Status)
	assert.Zero(t, got.RefreshCalls, "the login's 401 is not intercepted")
	assert.Zero(t, got.Failures)
	assert.Empty(t, got.Events)
}
