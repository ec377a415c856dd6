package bff

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pingStore is a Store whose Ping answers err.
type pingStore struct {
	absorb.Store
	err error
}

func (s pingStore) Ping(context.Context) error { return s.err }

// /readyz reports the upstream and the shared store; /healthz stays
// liveness whatever they do.
func TestReadyz(t *testing.T) {
	live := httptest.NewServer(demo.New(demo.Config{}))
	t.Cleanup(live.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	tests := []struct {
		name     string
		upstream string
		store    absorb.Store
		want     int
		body     readiness
	}{
		{"in process", live.URL, nil, 200, readiness{true, "ok", "in-process"}},
		{"store up", live.URL, pingStore{absorb.NewMemory(0, nil), nil}, 200, readiness{true, "ok", "ok"}},
		{"store down", live.URL, pingStore{absorb.NewMemory(0, nil), errors.New("connection refused")}, 503, readiness{false, "ok", "unreachable"}},
		{"store without ping", live.URL, absorb.NewMemory(0, nil), 200, readiness{true, "ok", "unchecked"}},
		{"upstream down", dead.URL, nil, 503, readiness{false, "unreachable", "in-process"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, tt.upstream, func(c *Config) { c.Store = tt.store; c.AuthTimeout = time.Second })
			res := serve(h, httptest.NewRequest("GET", "/readyz", nil))
			assert.Equal(t, tt.want, res.StatusCode)
			var got readiness
			require.NoError(t, json.NewDecoder(res.Body).Decode(&got))
			assert.Equal(t, tt.body, got)
			assert.Equal(t, 200, serve(h, httptest.NewRequest("GET", "/healthz", nil)).StatusCode)
		})
	}
}

// Security round 3's hardening: anyone may call /readyz, but it checks the
// upstream at most once per probeTTL; the answers in between are the last
// check's.
func TestReadyzProbesTheUpstreamAtMostOncePerTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hits atomic.Int64
		up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
		u, _ := url.Parse("http://upstream.test")
		h, err := New(Config{Upstream: u, Transport: handlerTransport{up}})
		require.NoError(t, err)
		for range 20 {
			assert.Equal(t, 200, serve(h, httptest.NewRequest("GET", "/readyz", nil)).StatusCode)
		}
		assert.EqualValues(t, 1, hits.Load(), "one check for 20 probes")
		time.Sleep(probeTTL)
		serve(h, httptest.NewRequest("GET", "/readyz", nil))
		assert.EqualValues(t, 2, hits.Load(), "checked again once the answer is old")
	})
}

// handlerTransport serves requests with h, in memory.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}
