//go:build workers

package workertest

import (
	"crypto/rand"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/browsertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Security round 3 and bounded waits on the Worker: what the native tests
// cover, again under the Workers runtime.

// A hanging auth server through the Worker: every call made after the
// token expired settles within the module's refresh timeout with
// RefreshUnavailableError, one call, 50 at once, or in two tabs; the
// session is kept (browsertest.HangingAuth; natively in e2e).
func TestHangingAuthServerBoundsEveryWait(t *testing.T) {
	browser, stop, err := browsertest.Start()
	require.NoError(t, err)
	defer stop()
	for _, tt := range []struct {
		name        string
		tabs, calls int
	}{{"one call", 1, 1}, {"50 calls", 1, 50}, {"two tabs", 2, 10}} {
		t.Run(tt.name, func(t *testing.T) { browsertest.HangingAuth(t, browser, worker, setHang, tt.tabs, tt.calls) })
	}
}

// Findings 1 and 2: a `next` that leaves the site lands on the site's "/"
// after a password login through the Worker (its page is the demo's).
func TestLoginNextStaysOnTheOrigin(t *testing.T) {
	browser, stop, err := browsertest.Start()
	require.NoError(t, err)
	defer stop()
	for _, tt := range browsertest.OffSite {
		t.Run(tt.Name, func(t *testing.T) {
			got := browsertest.LoginWithNext(t, browser, worker, "/?next=", tt.Next, browsertest.Dashboard)
			assert.Equal(t, worker, got.Origin, "the browser stayed on the site")
			assert.Equal(t, "/", got.Path)
			assert.NotEqual(t, "pwned", got.Title, "no script ran from next")
		})
	}
}

// Finding 4: a copy of the session cookies without the browser's binding,
// replayed after the browser's refresh, is not handed the new pair: it
// goes upstream, which sees the reuse. Neither is the browser's own copy
// after a logout.
func TestCopiedCookiesAreNotAbsorbed(t *testing.T) {
	t.Run("without the binding", func(t *testing.T) {
		c := login(t)
		require.Equal(t, http.StatusOK, call(t, "POST", "/api/auth/refresh", "", browser(c)...).StatusCode)
		before := demoAPI.Stats()
		res := call(t, "POST", "/api/auth/refresh", "", c[chunk])
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
		assert.Equal(t, 1, demoAPI.Stats().Reuses-before.Reuses, "the upstream saw the copy")
	})
	t.Run("after logout", func(t *testing.T) {
		c := login(t)
		first := call(t, "POST", "/api/auth/refresh", "", browser(c)...)
		require.Equal(t, http.StatusOK, first.StatusCode)
		require.Equal(t, http.StatusNoContent, call(t, "POST", "/api/auth/logout", "", browser(cookieMap(first))...).StatusCode)
		res := call(t, "POST", "/api/auth/refresh", "", browser(c)...)
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "the pair after logout is not handed out")
	})
}

// objectDatabases counts the Durable Objects' databases in the Worker's
// local state.
func objectDatabases(t *testing.T) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(workerState, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".sqlite") && strings.Contains(path, "AbsorbObject") {
			n++
		}
		return err
	}))
	return n
}

// Finding 6: refreshes with made-up cookies under the session's names
// (sealed chunks, a binding, the legacy token cookies) reach no Durable
// Object, and neither does a refresh of a session copied without its
// binding: none of them can be absorbed.
func TestStrangersReachNoObject(t *testing.T) {
	c := login(t)
	require.Equal(t, http.StatusOK, call(t, "POST", "/api/auth/refresh", "", browser(c)...).StatusCode, "one object for the real session")
	before := objectDatabases(t)
	require.Positive(t, before, "the count sees the real session's object")
	for range 10 {
		for _, jar := range [][]*http.Cookie{
			{{Name: cookies.HTTPOnlyPrefix + chunk, Value: rand.Text()}, {Name: cookies.HTTPOnlyPrefix + cookies.BindCookie, Value: rand.Text()}},
			{{Name: cookies.HostPrefix + cookies.LegacyRefreshCookie, Value: rand.Text()}, {Name: cookies.HostPrefix + cookies.LegacyAccessCookie, Value: rand.Text()}},
			sealed(t, rand.Text(), rand.Text(), time.Time{})[:1], // a session that opens, without its binding
		} {
			res := call(t, "POST", "/api/auth/refresh", "", jar...)
			assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
		}
	}
	assert.Equal(t, before, objectDatabases(t), "no object made for a refresh that cannot be absorbed")
}
