package static

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
)

// The handler cleans paths itself: it must not rely on a ServeMux in front.
func TestServeHTTPNeverLeavesTheFS(t *testing.T) {
	h := New(fstest.MapFS{"index.html": {Data: []byte("home")}, "a/b.txt": {Data: []byte("b")}}, "")
	tests := []struct {
		path string
		want int
	}{
		{"/../../etc/passwd", 404},
		{"/a/../../../etc/passwd", 404},
		{"/a/../index.html", 200},
		{"/a/b.txt", 200},
		{"/a", 404},
		{"/a/", 404},
		{"/", 200},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = tt.path
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, tt.want, w.Code, tt.path)
	}
	r := httptest.NewRequest("POST", "/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
}

func TestAccepts(t *testing.T) {
	tests := []struct {
		header, coding string
		want           bool
	}{
		{"br", "br", true},
		{"gzip, deflate, br, zstd", "br", true},
		{"BR;q=0.5", "br", true},
		{"br;q=0", "br", false},
		{"br; q=0.000", "br", false},
		{"gzip", "br", false},
		{"", "gzip", false},
		{"*", "gzip", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", tt.header)
		assert.Equal(t, tt.want, accepts(r, tt.coding), tt.header)
	}
}
