package bff

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two instances of the handler sharing one Store (as two processes share
// Redis): a refresh on one and its duplicate on the other share one
// upstream refresh, and the duplicate gets the same pair.
func TestInstancesShareTheStore(t *testing.T) {
	up := demo.New(demo.Config{})
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	store := absorb.NewMemory(0, nil)
	one := newHandler(t, srv.URL, func(c *Config) { c.Store = store })
	two := newHandler(t, srv.URL, func(c *Config) { c.Store = store })
	jar := login(t, one)

	first := serve(one, request("POST", "/api/auth/refresh", "", jar...))
	dup := serve(two, request("POST", "/api/auth/refresh", "", jar...))
	require.Equal(t, http.StatusOK, first.StatusCode)
	require.Equal(t, http.StatusOK, dup.StatusCode)
	assert.Equal(t, open(t, live(first)).RefreshToken, open(t, live(dup)).RefreshToken)
	assert.Equal(t, 1, up.Stats().Refreshes)
	assert.Zero(t, up.Stats().Reuses)

	// Without the shared store the second instance would have refreshed
	// again: a reuse.
	alone := newHandler(t, srv.URL)
	next := live(first)
	third := serve(one, request("POST", "/api/auth/refresh", "", next...))
	require.Equal(t, http.StatusOK, third.StatusCode)
	late := serve(alone, request("POST", "/api/auth/refresh", "", next...))
	assert.Equal(t, http.StatusUnauthorized, late.StatusCode)
	assert.Equal(t, 1, up.Stats().Reuses)
}
