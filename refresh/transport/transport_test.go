package transport

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/testclock"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upstream is a hand-written fake of the upstream contract: one valid
// access token at a time, refresh tokens that rotate, and reuse detection.
type upstream struct {
	mu        sync.Mutex
	gen       int
	revoked   bool
	refreshes atomic.Int64
	hold      chan struct{} // when set, refreshes wait for it
	status    int           // when set, refreshes answer it

	// piled, when set, is closed by the piledAt-th 401 a resource answers.
	piled   chan struct{}
	piledAt int
	denied  int // 401s answered by resources
}

func (u *upstream) access() string  { return fmt.Sprintf("a%d", u.gen) }
func (u *upstream) refresh() string { return fmt.Sprintf("r%d", u.gen) }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch r.URL.Path {
	case "/auth/refresh":
		u.refreshes.Add(1)
		if u.hold != nil {
			u.mu.Unlock()
			<-u.hold
			u.mu.Lock()
		}
		if u.status != 0 {
			w.WriteHeader(u.status)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		var in struct{ RefreshToken string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.RefreshToken != u.refresh() || u.revoked {
			u.revoked = true // reuse: the family is revoked
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		u.gen++
		_ = json.NewEncoder(w).Encode(map[string]any{"accessToken": u.access(), "refreshToken": u.refresh(), "expiresIn": 60})
	default:
		if r.Header.Get("Authorization") != "Bearer "+u.access() || u.revoked {
			u.denied++
			if u.piled != nil && u.denied == u.piledAt {
				close(u.piled)
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%s %s", r.Method, body)
	}
}

// stale is a pair whose access token the upstream no longer accepts.
func (u *upstream) stale() authclient.Tokens {
	u.mu.Lock()
	defer u.mu.Unlock()
	return authclient.Tokens{AccessToken: "stale", RefreshToken: u.refresh()}
}

func newUpstream(t *testing.T) (*upstream, *httptest.Server) {
	u := &upstream{}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return u, srv
}

func session(srv *httptest.Server, tokens authclient.Tokens) *Session {
	return New(Config{Base: http.DefaultTransport, RefreshURL: srv.URL + "/auth/refresh"}, tokens)
}

func TestExpiredTokenRefreshesOnceAndRotates(t *testing.T) {
	u, srv := newUpstream(t)
	s := session(srv, u.stale())
	client := &http.Client{Transport: s}
	res, err := client.Post(srv.URL+"/echo", "text/plain", strings.NewReader("body kept"))
	require.NoError(t, err)
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "POST body kept", string(got), "the body arrives on the replay")
	assert.EqualValues(t, 1, u.refreshes.Load())
	tokens, rotated := s.Tokens()
	assert.True(t, rotated)
	assert.Equal(t, "a1", tokens.AccessToken)
	assert.Equal(t, "r1", tokens.RefreshToken)
	assert.False(t, tokens.Expires.IsZero())
}

func TestValidTokenDoesNotRotate(t *testing.T) {
	u, srv := newUpstream(t)
	s := session(srv, authclient.Tokens{AccessToken: u.access(), RefreshToken: u.refresh()})
	res, err := (&http.Client{Transport: s}).Get(srv.URL + "/departments")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	_, rotated := s.Tokens()
	assert.False(t, rotated)
	assert.Zero(t, u.refreshes.Load())
}

// 100 concurrent calls for one user, all answered 401 while the refresh
// is held: one refresh, no reuse, every call replayed once.
func TestConcurrentCallsShareOneRefresh(t *testing.T) {
	const n = 100
	u, srv := newUpstream(t)
	s := session(srv, u.stale())
	u.hold = make(chan struct{})
	u.piled, u.piledAt = make(chan struct{}), n
	client := &http.Client{Transport: s}
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range n {
		wg.Go(func() {
			res, err := client.Get(srv.URL + "/departments")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					ok.Add(1)
				}
			}
		})
	}
	<-u.piled // every call has met a 401 before the refresh may finish
	close(u.hold)
	wg.Wait()
	assert.EqualValues(t, n, ok.Load())
	assert.EqualValues(t, 1, u.refreshes.Load())
	assert.False(t, u.revoked, "no reuse")
	stats := s.policy.Stats()
	assert.EqualValues(t, n, stats.Unauthorized)
	assert.EqualValues(t, n, stats.Replays)
}

func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		down       bool
		want       error
		wantDetail int // the upstream's status, kept as the cause (*authclient.Error)
	}{
		{"401: rejected", 401, false, refresh.ErrRejected, 401},
		{"400 invalid_grant: rejected", 400, false, refresh.ErrRejected, 400},
		{"503: unavailable", 503, false, refresh.ErrUnavailable, 0},
		{"unreachable: unavailable", 0, true, refresh.ErrUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, srv := newUpstream(t)
			u.status = tt.status
			refreshURL := srv.URL + "/auth/refresh"
			if tt.down {
				dead := httptest.NewServer(http.NotFoundHandler())
				dead.Close()
				refreshURL = dead.URL + "/auth/refresh"
			}
			s := New(Config{Base: http.DefaultTransport, RefreshURL: refreshURL}, authclient.Tokens{AccessToken: "stale", RefreshToken: "r0"})
			_, err := (&http.Client{Transport: s}).Get(srv.URL + "/departments")
			require.ErrorIs(t, err, tt.want)
			if tt.wantDetail != 0 {
				var detail *authclient.Error
				require.ErrorAs(t, err, &detail, "the upstream's rejection is the cause")
				assert.Equal(t, tt.wantDetail, detail.Status)
			}
			_, rotated := s.Tokens()
			assert.False(t, rotated)
		})
	}
}

// Ahead is capped by the token's lifetime, as the module's and the proxy's
// are: a token with 10 s left under Ahead 30 s is used until a quarter of
// that is left, then refreshed ahead, with no 401 on the way; the new one
// (60 s) is not refreshed again at once.
func TestRefreshAhead(t *testing.T) {
	u, srv := newUpstream(t)
	clock := testclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	s := New(Config{Base: http.DefaultTransport, RefreshURL: srv.URL + "/auth/refresh", Ahead: 30 * time.Second, Now: clock.Now},
		authclient.Tokens{AccessToken: u.access(), RefreshToken: u.refresh(), Expires: clock.Now().Add(10 * time.Second)})
	var unauthorized atomic.Int64
	base := s.cfg.Base
	s.cfg.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		res, err := base.RoundTrip(r)
		if err == nil && res.StatusCode == 401 {
			unauthorized.Add(1)
		}
		return res, err
	})
	get := func() {
		t.Helper()
		res, err := (&http.Client{Transport: s}).Get(srv.URL + "/departments")
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, 200, res.StatusCode)
	}
	get()
	assert.Zero(t, u.refreshes.Load(), "10 s left: not due (30 s capped to 2.5 s)")
	clock.Advance(8 * time.Second)
	get()
	assert.EqualValues(t, 1, u.refreshes.Load(), "refreshed ahead")
	get()
	assert.EqualValues(t, 1, u.refreshes.Load(), "the new token is not due")
	assert.Zero(t, unauthorized.Load(), "no 401 on the way")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
