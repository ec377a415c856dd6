//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/hack-pad/safejs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run under Node (GOOS=js GOARCH=wasm go test -exec
// go_js_wasm_exec) against the real test server, which `make test-js`
// starts and names in FWR_TEST_URL. They load the real loader and the real
// module (js/, built by `make wasm`) and drive the scenarios of
// testdata/harness.mjs.

var (
	harnessOnce sync.Once
	harness     safejs.Value
	harnessErr  error
)

// scenario runs harness.name(args...) and decodes its result into out.
func scenario(t *testing.T, out any, name string, args ...any) {
	t.Helper()
	harnessOnce.Do(func() { harness, harnessErr = loadHarness() })
	require.NoError(t, harnessErr)
	p, err := harness.Call(name, args...)
	require.NoError(t, err)
	v, err := await(p)
	require.NoError(t, err, "scenario %s", name)
	s, err := global("JSON").Call("stringify", v)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(str(s)), out))
}

func loadHarness() (safejs.Value, error) {
	base, root := os.Getenv("FWR_TEST_URL"), os.Getenv("FWR_TEST_ROOT")
	if base == "" || root == "" {
		return safejs.Undefined(), errNoServer
	}
	p, err := global("eval").Invoke("import('file://" + root + "/wasm/testdata/harness.mjs')")
	if err != nil {
		return safejs.Undefined(), err
	}
	h, err := await(p)
	if err != nil {
		return h, err
	}
	p, err = h.Call("setup", base, "file://"+root+"/js/fetch-with-refresh.mjs")
	if err != nil {
		return h, err
	}
	v, err := await(p)
	if err != nil {
		return h, err
	}
	if n, _ := get(v, "earlyStatus").Int(); n != 200 {
		return h, errEarlyCall
	}
	return h, nil
}

var (
	errNoServer  = errors.New("FWR_TEST_URL and FWR_TEST_ROOT are not set: run `make test-js`")
	errEarlyCall = errors.New("a call made before the module was ready did not succeed")
)

type callResult struct {
	Kind   string
	Status int
	Intact bool
	Error  string
}

type outcome struct {
	Status int
	Error  string
}

func TestStormOneRefreshAllSucceed(t *testing.T) {
	var got struct {
		Results           []callResult
		RefreshCalls      int
		UpstreamRefreshes int
		Reuses            int
		Stats             map[string]float64
	}
	scenario(t, &got, "storm", 50)
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
	scenario(t, &next, "nextExpiry")
	assert.Equal(t, 200, next.Status, "the session survives the next expiry")
	assert.Equal(t, 1, next.RefreshCalls)
}

func TestLate401IsReplayedWithoutRefresh(t *testing.T) {
	var got struct{ Fast, Late, RefreshCalls, DepartmentsCalls int }
	scenario(t, &got, "late401")
	assert.Equal(t, 200, got.Fast)
	assert.Equal(t, 200, got.Late)
	assert.Equal(t, 1, got.RefreshCalls)
	assert.Equal(t, 2, got.DepartmentsCalls, "the late call was replayed once")
}

func TestRejectedRefreshFailsEveryCallOnce(t *testing.T) {
	var got struct {
		Waiting          []outcome
		Later            outcome
		RefreshCalls     int
		DepartmentsCalls int
		AuthFailures     []string
	}
	scenario(t, &got, "rejected", 10)
	for _, o := range got.Waiting {
		assert.Equal(t, outcome{Error: "AuthError", Status: 401}, o)
	}
	assert.Equal(t, outcome{Error: "AuthError", Status: 401}, got.Later, "the failure is sticky")
	assert.Equal(t, 1, got.RefreshCalls, "no second refresh")
	assert.Equal(t, 11, got.DepartmentsCalls, "no replay after a rejected refresh")
	assert.Equal(t, []string{"AuthError"}, got.AuthFailures, "onAuthFailure fires once")
}

func TestUnavailableRefreshKeepsTheSession(t *testing.T) {
	var got struct {
		Waiting      []outcome
		Next         outcome
		RefreshCalls int
		AuthFailures []string
	}
	scenario(t, &got, "unavailable", 5)
	for _, o := range got.Waiting {
		assert.Equal(t, outcome{Error: "RefreshUnavailableError", Status: 503}, o)
	}
	assert.Equal(t, outcome{Status: 200}, got.Next, "the session survived")
	assert.Equal(t, 2, got.RefreshCalls)
	assert.Empty(t, got.AuthFailures)
}

func TestServerErrorIsAResponse(t *testing.T) {
	var got struct {
		First        outcome
		RefreshCalls int
	}
	scenario(t, &got, "serverError")
	assert.Equal(t, outcome{Status: 500}, got.First)
	assert.Zero(t, got.RefreshCalls)
}

func TestRefreshURLAndOptOutAreNotIntercepted(t *testing.T) {
	var got struct {
		OptOut, Direct, RefreshCalls, DepartmentsCalls int
	}
	scenario(t, &got, "exempt")
	assert.Equal(t, 401, got.OptOut)
	assert.Equal(t, 401, got.Direct)
	assert.Equal(t, 1, got.RefreshCalls, "only the direct call")
	assert.Equal(t, 1, got.DepartmentsCalls, "the opted-out call is not replayed")
}

func TestAbortedCallRejectsAlone(t *testing.T) {
	var got struct {
		Aborted, Other, PreAborted outcome
	}
	scenario(t, &got, "abort")
	assert.Equal(t, "AbortError", got.Aborted.Error)
	assert.Equal(t, outcome{Status: 200}, got.Other)
	assert.Equal(t, "AbortError", got.PreAborted.Error)
}

func TestExitOfTheModuleRejectsLoad(t *testing.T) {
	var got struct {
		Rejected bool
		Message  string
	}
	scenario(t, &got, "exit")
	assert.True(t, got.Rejected)
	assert.Contains(t, got.Message, "exited")
}
