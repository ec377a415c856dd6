package bff

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
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
