//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/scenario"
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

// run runs harness.name(args...) and decodes its result into out.
func run(t *testing.T, out any, name string, args ...any) {
	t.Helper()
	harnessOnce.Do(func() { harness, harnessErr = loadHarness() })
	require.NoError(t, harnessErr)
	p, err := harness.Call(name, args...)
	require.NoError(t, err)
	v, err := await(p)
	require.NoError(t, err, "scenario %s", name)
	s, err := global("JSON").Call("stringify", v)
	require.NoError(t, err)
	text, err := s.String()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(text), out))
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

func TestStormOneRefreshAllSucceed(t *testing.T)            { scenario.Storm(t, run) }
func TestLate401IsReplayedWithoutRefresh(t *testing.T)      { scenario.Late401(t, run) }
func TestRejectedRefreshFailsEveryCallOnce(t *testing.T)    { scenario.Rejected(t, run) }
func TestUnavailableRefreshKeepsTheSession(t *testing.T)    { scenario.Unavailable(t, run) }
func TestRefreshURLAndOptOutAreNotIntercepted(t *testing.T) { scenario.Exempt(t, run) }
func TestAbortedCallRejectsAlone(t *testing.T)              { scenario.Abort(t, run) }
func TestRefusedTokenWithdrawsIdempotentCalls(t *testing.T) { scenario.Withdraw(t, run, 8) }
func TestCallsBeforeTheModuleRuns(t *testing.T)             { scenario.BeforeModule(t, run) }
func TestCallsWhileTheModuleDownloads(t *testing.T)         { scenario.ModuleHeld(t, run) }
func TestValidTokenCallsDoNotAskTheModule(t *testing.T)     { scenario.Leased(t, run) }
func TestWrongPasswordIsAResponse(t *testing.T)             { scenario.WrongPassword(t, run) }

func TestServerErrorIsAResponse(t *testing.T) {
	var got struct {
		First        scenario.Outcome
		RefreshCalls int
	}
	run(t, &got, "serverError")
	assert.Equal(t, scenario.Outcome{Status: 500}, got.First)
	assert.Zero(t, got.RefreshCalls)
}

func TestExitOfTheModuleRejectsReadyAndCalls(t *testing.T) {
	var got struct {
		Message, Missing   string
		NeedsModule, Plain scenario.Outcome
	}
	run(t, &got, "exit")
	assert.Contains(t, got.Message, "exited")
	assert.Equal(t, "Error", got.NeedsModule.Error, "a 401 after the module ended")
	assert.Equal(t, scenario.Outcome{Status: 200}, got.Plain, "a call that needs no module")
	assert.Contains(t, got.Missing, "HTTP 404", "load() rejects when the module cannot be fetched")
}
