package session

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseExpires(t *testing.T) {
	exp := time.UnixMilli(1764316800000)
	tests := []struct {
		value        string
		wantOK       bool
		wantLifetime time.Duration
	}{
		{"1764316800000.60000", true, time.Minute},
		{"1764316800000", true, 0}, // set by a server before the lifetime was added
		{"1764316800000.", true, 0},
		{"1764316800000.x", true, 0},
		{"", false, 0},
		{"soon", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, lifetime, ok := ParseExpires(tt.value)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantLifetime, lifetime)
			if ok {
				assert.True(t, exp.Equal(got))
			}
		})
	}
	assert.Equal(t, "1764316800000.60000", FormatExpires(exp, time.Minute))
}

func TestSetStatesTheLifetime(t *testing.T) {
	w := httptest.NewRecorder()
	Cookies{}.Set(w, Tokens{AccessToken: "a", RefreshToken: "r", Expires: time.Now().Add(time.Hour)})
	res := w.Result()
	var value string
	for _, c := range res.Cookies() {
		if c.Name == ExpiresCookie {
			value = c.Value
		}
	}
	_, lifetime, ok := ParseExpires(value)
	assert.True(t, ok)
	assert.InDelta(t, time.Hour.Milliseconds(), lifetime.Milliseconds(), 1000)
	assert.NotEmpty(t, res.Header.Get(LifetimeHeader))
}
