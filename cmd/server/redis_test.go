package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -redis builds the Redis store: /readyz reports it, and reports it down
// (503) when Redis goes away, while /healthz stays 200.
func TestRunWithRedis(t *testing.T) {
	mr := miniredis.RunT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncbuf.Buffer
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "", "-www", t.TempDir(), "-js", t.TempDir()},
			env(map[string]string{"FWR_REDIS": "redis://" + mr.Addr() + "/0", "FWR_SESSION_KEYS": "c2Vzc2lvbi1rZXktZm9yLXRoZS1leGFtcGxlLTMyYiE="}), &logs, ready)
	}()
	var base string
	select {
	case at := <-ready:
		base = at.base
	case err := <-done:
		t.Fatal(err)
	}
	readyz := func() (int, map[string]any) {
		res, err := http.Get(base + "/readyz")
		require.NoError(t, err)
		defer res.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		return res.StatusCode, body
	}
	status, body := readyz()
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"ready": true, "upstream": "ok", "store": "ok"}, body)

	mr.Close()
	status, body = readyz()
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, false, body["ready"])
	assert.NotEqual(t, "ok", body["store"])
	res, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "liveness does not depend on Redis")

	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, logs.String(), "absorbed through Redis")
}
