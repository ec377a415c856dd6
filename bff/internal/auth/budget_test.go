package auth

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/storetest"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowRefreshes delays each upstream refresh by d, or until the call's
// context ends (then nothing is rotated).
type slowRefreshes struct {
	*countingUpstream
	d time.Duration
}

func (u slowRefreshes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/auth/refresh" {
		select {
		case <-time.After(u.d):
		case <-r.Context().Done():
			u.refreshes.Add(1)
			return
		}
	}
	u.countingUpstream.ServeHTTP(w, r)
}

// The refresh endpoint answers within the auth timeout whatever the shared
// store does (fails or hangs, at taking the lease or at storing the
// result): the upstream is still called once, and its new pair reaches
// the browser as cookies. An upstream slower than its share of the
// timeout is a 504 within it, the cookies untouched; a refresh of the
// same tokens on another instance that never ends is a 503 within it.
// Fake time (synctest): nothing sleeps for real.
func TestRefreshAnswersWithinTheAuthTimeout(t *testing.T) {
	const hang = time.Hour
	tests := []struct {
		acquire, complete storetest.Fault
		upstream          time.Duration // how long the upstream takes to refresh
		want              int
		calls             int64 // upstream refreshes
	}{
		{storetest.Works, storetest.Works, 2 * time.Second, http.StatusOK, 1},
		{storetest.Fails, storetest.Works, 2 * time.Second, http.StatusOK, 1},
		{storetest.Hangs, storetest.Works, 2 * time.Second, http.StatusOK, 1},
		{storetest.Works, storetest.Fails, 2 * time.Second, http.StatusOK, 1},
		{storetest.Works, storetest.Hangs, 2 * time.Second, http.StatusOK, 1},
		{storetest.Fails, storetest.Fails, 2 * time.Second, http.StatusOK, 1},
		{storetest.Hangs, storetest.Hangs, 2 * time.Second, http.StatusOK, 1},
		{storetest.Hangs, storetest.Hangs, DefaultTimeout / 3, http.StatusOK, 1}, // the upstream's whole share
		{storetest.Hangs, storetest.Works, hang, http.StatusGatewayTimeout, 1},
		{storetest.Works, storetest.Works, hang, http.StatusGatewayTimeout, 1},
		// Another instance's refresh of the same tokens never finishes: no
		// second upstream call (a reuse), a clean retry in time.
		{storetest.Held, storetest.Works, 2 * time.Second, http.StatusServiceUnavailable, 0},
	}
	for _, tt := range tests {
		name := "acquire " + tt.acquire.String() + ", complete " + tt.complete.String() + ", upstream " + tt.upstream.String()
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := &countingUpstream{Server: demo.New(demo.Config{})}
				store := &storetest.Broken{Store: absorb.NewMemory(0, nil), OnAcquire: tt.acquire, OnComplete: tt.complete}
				h := newBFF(t, slowRefreshes{up, tt.upstream}, 0, store)
				cookie := loginCookies(t, h)

				start := time.Now()
				w := send(h, "/api/auth/refresh", "", cookie...)
				took := time.Since(start)

				assert.Less(t, took, DefaultTimeout, "answered within the auth timeout")
				assert.Equal(t, tt.calls, up.refreshes.Load(), "upstream refreshes")
				require.Equal(t, tt.want, w.Code, w.Body.String())
				next := sessionCookies(w)
				if tt.want == http.StatusOK {
					require.NotNil(t, next, "the new pair reached the browser")
					assert.NotEqual(t, tokensIn(t, cookie).RefreshToken, tokensIn(t, next).RefreshToken, "rotated")
					assert.Zero(t, up.Stats().Reuses)
				} else {
					assert.Nil(t, next, "cookies untouched")
				}
				h.Wait() // the write-backs after the answer end
			})
		})
	}
}
