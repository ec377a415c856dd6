package csrf

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProtectOrigins(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name    string
		allowed []string
		header  string
		origin  string
		want    int
	}{
		{"no header", nil, "", "", http.StatusForbidden},
		{"header, no Origin", nil, "1", "", http.StatusNoContent},
		{"same host", nil, "1", "http://api.test", http.StatusNoContent},
		{"other host", nil, "1", "http://evil.test", http.StatusForbidden},
		{"a front's origin, listed", []string{"http://127.0.0.1:3000"}, "1", "http://127.0.0.1:3000", http.StatusNoContent},
		{"a listed origin, case and slash", []string{"HTTP://App.Test/"}, "1", "http://app.test", http.StatusNoContent},
		{"another port than the listed", []string{"http://127.0.0.1:3000"}, "1", "http://127.0.0.1:3001", http.StatusForbidden},
		{"another scheme than the listed", []string{"https://app.test"}, "1", "http://app.test", http.StatusForbidden},
		{"listed origin without the header", []string{"http://127.0.0.1:3000"}, "", "http://127.0.0.1:3000", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://api.test/api/auth/login", nil)
			if tt.header != "" {
				r.Header.Set(Header, tt.header)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			w := httptest.NewRecorder()
			ProtectOrigins(tt.allowed, ok).ServeHTTP(w, r)
			assert.Equal(t, tt.want, w.Code)
		})
	}
}
