package auth

import (
	"fmt"
	"testing"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/stretchr/testify/assert"
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
