//go:build multi

package multitest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// authTimeout is the server's default -auth-timeout: the store's share of
// a refresh is half of it.
const authTimeout = 8 * time.Second

// A store that is down costs a refresh milliseconds: with Redis refusing
// connections, every refresh answers about as fast as the upstream; with
// Redis hung (it accepts and never answers), the first refresh of the
// outage waits for the store's timeout and the next ones do not. Once
// Redis is back, /readyz says so and refreshes use it again. (The figures
// go to the log; the bounds are orders of magnitude, far from what a
// busy machine needs: the fault used to cost every refresh 4 s.)
func TestStoreFaultsCostMilliseconds(t *testing.T) {
	logs := processLogs(t)
	up := demo.New(demo.Config{})
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	redis, err := StartRedis(logs)
	require.NoError(t, err)
	t.Cleanup(redis.Kill)
	relay, err := NewRelay(redis.Addr)
	require.NoError(t, err)
	t.Cleanup(relay.Close)
	in, err := StartInstance(serverBin, logs, "-upstream", srv.URL, "-redis", relay.URL())
	require.NoError(t, err)
	t.Cleanup(in.Stop)
	s, err := Login(context.Background(), in.Base)
	require.NoError(t, err)

	refresh := func() time.Duration {
		t.Helper()
		start := time.Now()
		r, err := s.Do(context.Background(), in.Base, "POST", "/api/auth/refresh", "")
		took := time.Since(start)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		return took
	}
	back := func() {
		t.Helper()
		require.NoError(t, relay.Set(Pass))
		require.Eventually(t, func() bool {
			status, _ := readyz(t, in.Base)
			return status == http.StatusOK
		}, 10*time.Second, 20*time.Millisecond, "readyz: the refreshes use the store again")
	}
	t.Logf("store works: refresh %s", refresh())

	for _, tt := range []struct {
		mode  Mode
		first time.Duration // at most, for the first refresh of the outage
	}{
		{Refuse, authTimeout / 4},
		{Hang, authTimeout/2 + time.Second}, // the store's share, and a margin
	} {
		require.NoError(t, relay.Set(tt.mode))
		var took []time.Duration
		for range 5 {
			took = append(took, refresh())
		}
		t.Logf("Redis %s: refreshes took %v", tt.mode, took)
		assert.Less(t, took[0], tt.first, "the first refresh of the outage")
		for i, d := range took[1:] {
			assert.Less(t, d, authTimeout/4, "refresh %d: the store is known to be down", i+1)
		}
		status, body := readyz(t, in.Base)
		assert.Equal(t, http.StatusServiceUnavailable, status)
		assert.Equal(t, unreachableStore, body["store"])
		back()
	}

	before := up.Stats()
	c := &cluster{up: up, instances: []*Instance{in}, lb: NewBalancer(in.Base)}
	allOK(t, c.burst(s, 4, s.Cookies(), ""))
	assert.Equal(t, before.Refreshes+1, up.Stats().Refreshes, "absorbed through the store again")
	assert.Zero(t, up.Stats().Reuses)
}

// unreachableStore is what /readyz says of a store that is down.
const unreachableStore = "unreachable"
