package lease_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/lease"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// contract is the loader's CONTRACT object.
type contract struct {
	Hooks      []string       `json:"hooks"`
	TabNews    map[string]int `json:"tabNews"`
	Here       map[string]int `json:"here"`
	Withdrawn  *int           `json:"withdrawn"`
	Stats      []string       `json:"stats"`
	Idempotent []string       `json:"idempotent"`
	AheadMs    *int           `json:"aheadMs"`
}

// loaderContract reads the CONTRACT object of the loader's source.
func loaderContract(t *testing.T, path string) contract {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)\nconst CONTRACT = Object\.freeze\((\{.*?\n\})\);`).FindSubmatch(src)
	require.NotNil(t, m, "%s: no `const CONTRACT = Object.freeze({...});`", path)
	var c contract
	dec := json.NewDecoder(bytes.NewReader(m[1]))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&c), "%s: CONTRACT must be plain JSON", path)
	return c
}

// The names and numbers the module and its loader share are defined once,
// in package lease; the loader's copy must say the same.
func TestLoaderContract(t *testing.T) {
	c := loaderContract(t, "../../js/fetch-with-refresh.mjs")
	assert.Equal(t, lease.Hooks, c.Hooks, "hook names")
	assert.Equal(t, map[string]int{"login": lease.TabLogin, "refresh": lease.TabRefresh, "end": lease.TabEnded, "logout": lease.TabLogout}, c.TabNews, "news from other tabs")
	assert.Equal(t, map[string]int{"login": lease.HereLogin, "logout": lease.HereLogout}, c.Here, "news from this tab")
	require.NotNil(t, c.Withdrawn)
	assert.Equal(t, lease.Withdrawn, *c.Withdrawn, "the status of a withdrawn attempt")
	assert.Equal(t, lease.Stats, c.Stats, "the order of stats()")
	assert.Equal(t, lease.Idempotent, c.Idempotent, "withdrawable methods")
	require.NotNil(t, c.AheadMs)
	assert.Equal(t, lease.DefaultAheadMs, *c.AheadMs, "the default refresh-ahead window")
}

// Every hook the contract names is one the loader hands the module.
func TestLoaderProvidesEveryHook(t *testing.T) {
	src, err := os.ReadFile("../../js/fetch-with-refresh.mjs")
	require.NoError(t, err)
	for _, name := range lease.Hooks {
		provided := regexp.MustCompile(`(?m)^\s+` + name + `[:,]|hooks\.` + name + ` = `)
		assert.True(t, provided.Match(src), "the loader provides no hook %q", name)
	}
}
