//go:build workers

package workertest

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each request to the Worker runs in a fresh Go instance: duplicate
// refreshes of one session are absorbed only by the Durable Object. The
// demo upstream rotates strictly (no grace): a second refresh with the
// same token would be a reuse and revoke the session.

// answer is what one concurrent call got.
type answer struct {
	status  int
	cookies map[string]*http.Cookie
	err     error
}

// concurrently sends n copies of the request at once (they start together
// behind a barrier) and returns their answers.
func concurrently(n int, method, path string, cookies ...*http.Cookie) []answer {
	out := make([]answer, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range out {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			req, err := http.NewRequest(method, worker+path, http.NoBody)
			if err != nil {
				out[i].err = err
				ready.Done()
				return
			}
			req.Header.Set("X-CSRF", "1")
			for _, c := range cookies {
				req.AddCookie(c)
			}
			ready.Done()
			<-start
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				out[i].err = err
				return
			}
			res.Body.Close()
			out[i] = answer{status: res.StatusCode, cookies: cookieMap(res)}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}

// expireSoon expires the session's access token upstream and returns the
// session as it would be sealed at its expiry: proxied calls are then
// inside the server's refresh-ahead window, as they are just before
// expiry.
func expireSoon(t *testing.T, c map[string]*http.Cookie) []*http.Cookie {
	t.Helper()
	res := call(t, "POST", "/api/demo/expire", "", browser(c)...)
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	s := open(c)
	require.NotNil(t, s)
	s.Expires = time.Now()
	jar, err := codec.Seal(*s)
	require.NoError(t, err)
	return jar
}

// sameNewPair asserts that every answer succeeded with the same new pair
// of cookies, other than the old one, and returns it.
func sameNewPair(t *testing.T, got []answer, old map[string]*http.Cookie) map[string]*http.Cookie {
	t.Helper()
	before, first := open(old), open(got[0].cookies)
	require.NotNil(t, before)
	for i, a := range got {
		require.NoError(t, a.err, "call %d", i)
		assert.Equal(t, http.StatusOK, a.status, "call %d", i)
		s := open(a.cookies)
		require.NotNil(t, s, "call %d: a new session", i)
		require.NotNil(t, first)
		assert.NotEqual(t, before.RefreshToken, s.RefreshToken, "call %d: rotated", i)
		assert.Equal(t, first.AccessToken, s.AccessToken, "call %d: the same access token", i)
		assert.Equal(t, first.RefreshToken, s.RefreshToken, "call %d: the same refresh token", i)
	}
	return got[0].cookies
}

// usable asserts that the session works with the new pair: a proxied call
// and a refresh.
func usable(t *testing.T, pair map[string]*http.Cookie) {
	t.Helper()
	res := call(t, "GET", "/api/departments", "", browser(pair)...)
	assert.Equal(t, http.StatusOK, res.StatusCode, "the new access token works")
	res = call(t, "POST", "/api/auth/refresh", "", browser(pair)...)
	assert.Equal(t, http.StatusOK, res.StatusCode, "the session was not revoked")
}

// A burst of proxied calls made without the browser module, near expiry:
// each Worker instance refreshes ahead, and the object lets one of them
// reach the upstream.
func TestBurstNearExpiryRefreshesOnce(t *testing.T) {
	c := login(t)
	expires := expireSoon(t, c)
	before := demoAPI.Stats()
	got := concurrently(8, "GET", "/api/departments", expires...)
	after := demoAPI.Stats()
	pair := sameNewPair(t, got, c)
	assert.Equal(t, 1, after.Refreshes-before.Refreshes, "upstream refreshes")
	assert.Zero(t, after.Reuses-before.Reuses, "reuse detections")
	usable(t, pair)
}

// Two refreshes of one session at once (two tabs that could not
// coordinate): both get the same new pair from one upstream refresh.
func TestConcurrentRefreshesShareOne(t *testing.T) {
	c := login(t)
	before := demoAPI.Stats()
	got := concurrently(2, "POST", "/api/auth/refresh", browser(c)...)
	after := demoAPI.Stats()
	pair := sameNewPair(t, got, c)
	assert.Equal(t, 1, after.Refreshes-before.Refreshes, "upstream refreshes")
	assert.Zero(t, after.Reuses-before.Reuses, "reuse detections")
	usable(t, pair)
}
