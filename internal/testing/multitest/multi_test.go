//go:build multi

package multitest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The multi-instance cases (make test-multi): real redis-server, two or
// three cmd/server processes sharing it, one demo upstream with strict
// rotation (any reuse revokes the session), a round-robin client. Each
// case asserts one upstream refresh per expiry, no reuse, every call
// answered and the session usable afterwards.

var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fwr-multi-")
	if err != nil {
		panic(err)
	}
	serverBin, err = BuildServer(dir)
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type cluster struct {
	up        *demo.Server
	redis     *Redis
	instances []*Instance
	lb        *Balancer
}

// newCluster starts a Redis, an upstream with cfg and n instances.
func newCluster(t *testing.T, cfg demo.Config, n int) *cluster {
	t.Helper()
	logs := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs:\n%s", logs.String())
		}
	})
	c := &cluster{up: demo.New(cfg)}
	srv := httptest.NewServer(c.up)
	t.Cleanup(srv.Close)
	var err error
	c.redis, err = StartRedis(logs)
	require.NoError(t, err)
	t.Cleanup(c.redis.Kill)
	var bases []string
	for range n {
		in, err := StartInstance(serverBin, logs, "-upstream", srv.URL, "-redis", c.redis.URL(), "-auth-timeout", "3s")
		require.NoError(t, err)
		t.Cleanup(in.Stop)
		c.instances = append(c.instances, in)
		bases = append(bases, in.Base)
	}
	c.lb = NewBalancer(bases...)
	return c
}

// burst sends n refreshes at once with cookies (what n tabs without Web
// Locks send after a 401), each to the next instance (or all to base, when
// not empty), and returns their answers.
func (c *cluster) burst(s *Session, n int, jar map[string]string, base string) []Result {
	return c.send(s, n, "POST", "/api/auth/refresh", jar, base)
}

// send sends n calls at once with cookies, each to the next instance (or
// all to base, when not empty), and returns their answers.
func (c *cluster) send(s *Session, n int, method, path string, jar map[string]string, base string) []Result {
	out := make([]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		b := base
		if b == "" {
			b = c.lb.Next()
		}
		wg.Go(func() { out[i], errs[i] = s.DoWith(context.Background(), b, method, path, "", jar) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			out[i] = Result{Status: -1, Body: err.Error()}
		}
	}
	return out
}

// allOK asserts that every call was answered 200.
func allOK(t *testing.T, rs []Result) {
	t.Helper()
	for i, r := range rs {
		assert.Equal(t, http.StatusOK, r.Status, "call %d: %s", i, r.Body)
	}
}

// usable asserts that the session still works: a call and a refresh,
// through different instances.
func (c *cluster) usable(t *testing.T, s *Session) {
	t.Helper()
	r, err := s.Do(context.Background(), c.lb.Next(), "GET", "/api/departments", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.Status, r.Body)
	r, err = s.Do(context.Background(), c.lb.Next(), "POST", "/api/auth/refresh", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, r.Status, r.Body)
	assert.True(t, s.LoggedIn())
}

// A burst of 8 proxied calls near expiry, spread over three instances:
// each instance refreshes ahead of the call (the session's sealed expiry
// says when), and they share one upstream refresh. Three expiries in a
// row, each a real deadline of a real process's token.
func TestBurstNearExpiry(t *testing.T) {
	const ttl = 3 * time.Second // refreshed ahead from 375 ms before expiry (an eighth)
	c := newCluster(t, demo.Config{AccessTTL: ttl}, 3)
	s, err := Login(context.Background(), c.lb.Next())
	require.NoError(t, err)
	for expiry := 1; expiry <= 3; expiry++ {
		time.Sleep(time.Until(s.Expires()) - 200*time.Millisecond)
		rs := c.send(s, 8, "GET", "/api/departments", s.Cookies(), "")
		allOK(t, rs)
		for _, r := range rs {
			assert.Equal(t, rs[0].Tokens().RefreshToken, r.Tokens().RefreshToken, "one new pair for all")
			assert.NotEmpty(t, r.Tokens().RefreshToken, "each answer renews the session")
		}
		st := c.up.Stats()
		assert.Equal(t, expiry, st.Refreshes, "one upstream refresh per expiry")
		assert.Zero(t, st.Reuses)
	}
	c.usable(t, s)
	assert.Zero(t, c.up.Stats().Reuses)
}

// Two refreshes of one session (two tabs without Web Locks) sent at once
// to two instances: one upstream refresh, the same pair for both.
func TestTwoRefreshesTwoInstances(t *testing.T) {
	c := newCluster(t, demo.Config{}, 2)
	s, err := Login(context.Background(), c.lb.Next())
	require.NoError(t, err)
	for expiry := 1; expiry <= 3; expiry++ {
		jar := s.Cookies()
		var rs [2]Result
		var errs [2]error
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				rs[i], errs[i] = s.DoWith(context.Background(), c.instances[i].Base, "POST", "/api/auth/refresh", "", jar)
			})
		}
		wg.Wait()
		for i := range 2 {
			require.NoError(t, errs[i])
			assert.Equal(t, http.StatusOK, rs[i].Status, rs[i].Body)
		}
		assert.Equal(t, rs[0].Tokens().RefreshToken, rs[1].Tokens().RefreshToken)
		assert.Equal(t, rs[0].Tokens().AccessToken, rs[1].Tokens().AccessToken)
		st := c.up.Stats()
		assert.Equal(t, expiry, st.Refreshes)
		assert.Zero(t, st.Reuses)
	}
	c.usable(t, s)
}

// An upstream that does not rotate, with an access TTL shorter than the
// absorption window: a duplicate that comes after the shared pair's
// access token expired gets a fresh pair from the upstream, not the
// expired one (which would make every call 401 until the window passed).
func TestNonRotatingUpstream(t *testing.T) {
	c := newCluster(t, demo.Config{NoRotate: true, AccessTTL: 3 * time.Second}, 2)
	s, err := Login(context.Background(), c.lb.Next())
	require.NoError(t, err)
	old := s.Cookies() // a tab whose call is still in flight keeps these

	rs := c.burst(s, 8, s.Cookies(), "")
	allOK(t, rs)
	assert.Equal(t, 1, c.up.Stats().Refreshes)
	assert.Equal(t, Open(old).RefreshToken, s.Tokens().RefreshToken, "not rotated")

	// The shared pair's access token expires: a real deadline of a real
	// process's token, not an ordering of this test's goroutines.
	exp := s.Expires()
	require.False(t, exp.IsZero())
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	rs = c.burst(s, 4, old, "")
	allOK(t, rs) // a stale pair would have made these 401
	st := c.up.Stats()
	assert.Equal(t, 2, st.Refreshes, "one refresh per expiry")
	assert.Zero(t, st.Reuses)
	c.usable(t, s)
}

// readyz returns an instance's /readyz status and body.
func readyz(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	res, err := Client.Get(base + "/readyz")
	require.NoError(t, err)
	defer res.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	return res.StatusCode, body
}

// Redis killed in the middle: every call is still answered (each instance
// absorbs its own duplicates in process, and /readyz says the store is
// down); Redis back: absorption across instances again.
func TestRedisKilled(t *testing.T) {
	c := newCluster(t, demo.Config{}, 2)
	s, err := Login(context.Background(), c.lb.Next())
	require.NoError(t, err)
	allOK(t, c.burst(s, 8, s.Cookies(), ""))
	require.Equal(t, 1, c.up.Stats().Refreshes)

	c.redis.Kill()
	refreshes := 1
	for range 4 { // one expiry after another, each on the next instance
		r, err := s.DoWith(context.Background(), c.lb.Next(), "POST", "/api/auth/refresh", "", s.Cookies())
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, r.Status, r.Body)
		refreshes++
		assert.Equal(t, refreshes, c.up.Stats().Refreshes)
	}
	allOK(t, c.burst(s, 8, s.Cookies(), c.instances[0].Base)) // duplicates on one instance
	refreshes++
	assert.Equal(t, refreshes, c.up.Stats().Refreshes)
	status, body := readyz(t, c.instances[1].Base)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "ok", body["upstream"])
	assert.NotEqual(t, "ok", body["store"])

	require.NoError(t, c.redis.Start())
	require.Eventually(t, func() bool { // the instances reconnect by themselves
		res, err := Client.Get(c.instances[0].Base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond)
	allOK(t, c.burst(s, 8, s.Cookies(), ""))
	refreshes++
	assert.Equal(t, refreshes, c.up.Stats().Refreshes)
	assert.Zero(t, c.up.Stats().Reuses)
	c.usable(t, s)
}
