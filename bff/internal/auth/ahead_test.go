package auth

import (
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The server's window is never more than an eighth of the token's life,
// half the module's, so the module refreshes first where it runs: the TTL
// table of issue 12 (2 s, 10 s, 60 s, 1 h).
func TestAheadWindow(t *testing.T) {
	tests := []struct{ lifetime, want time.Duration }{
		{2 * time.Second, 250 * time.Millisecond},
		{10 * time.Second, 1250 * time.Millisecond},
		{time.Minute, 2 * time.Second},
		{time.Hour, 2 * time.Second},
		{0, 2 * time.Second}, // unknown: a cookie set before the lifetime was stated
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.lifetime), func(t *testing.T) {
			got := AheadWindow(DefaultAheadWindow, tt.lifetime)
			assert.Equal(t, tt.want, got)
			if tt.lifetime > 0 {
				assert.Less(t, got, refresh.Window(30*time.Second, tt.lifetime), "the module's window is wider")
			}
		})
	}
}

// expiring returns the cookies of the session in jar as they would be
// sealed at its access token's expiry: a proxied call is then due for a
// refresh ahead.
func expiring(t *testing.T, jar []*http.Cookie) []*http.Cookie {
	t.Helper()
	s, err := codec.Open(jar)
	require.NoError(t, err)
	s.Expires = time.Now()
	sealed, err := codec.Seal(*s)
	require.NoError(t, err)
	return sealed
}

// A proxied call waits for its refresh ahead AheadWait at most: with a
// hanging auth server it is sent with the token it came with, and the
// refresh goes on, so that the browser's refresh of the same session gets
// its result when it comes. Without absorption nothing would keep that
// result: the call waits for the refresh.
func TestAheadWaitsABoundedShare(t *testing.T) {
	tests := []struct {
		name     string
		window   time.Duration // the absorption window; -1: off
		wantWait time.Duration
		wantNew  bool // the call went with the new access token
	}{
		{"absorbed", 0, AheadWait(DefaultTimeout), false},
		{"absorption off", -1, 3 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := &countingUpstream{Server: demo.New(demo.Config{})}
				h := newBFF(t, up, tt.window)
				login := loginCookies(t, h)
				old := tokensIn(t, login).AccessToken
				jar := expiring(t, login)

				up.hold = make(chan struct{})
				time.AfterFunc(3*time.Second, func() { close(up.hold) }) // the auth server answers after 3 s
				var sent string
				next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent = cookies.From(r).AccessToken })
				start := time.Now()
				send(h.Ahead(DefaultAheadWindow, next), "/api/departments", "", jar...)
				assert.Equal(t, tt.wantWait, time.Since(start), "how long the call waited")
				assert.Equal(t, tt.wantNew, sent != old, "sent with the new token")

				synctest.Wait() // the refresh has ended
				assert.EqualValues(t, 1, up.refreshes.Load())
				if tt.window < 0 {
					return
				}
				w := send(h, "/api/auth/refresh", "", jar...)
				require.Equal(t, http.StatusOK, w.Code, "the browser's refresh gets the result")
				assert.EqualValues(t, 1, up.refreshes.Load(), "absorbed: no second upstream refresh")
				assert.Zero(t, up.Stats().Reuses)
			})
		})
	}
}
