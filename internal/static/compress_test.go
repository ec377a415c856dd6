package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decode undoes a Content-Encoding.
func decode(t *testing.T, encoding string, body []byte) []byte {
	t.Helper()
	switch encoding {
	case "":
		return body
	case "br":
		out, err := io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
		require.NoError(t, err)
		return out
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(body))
		require.NoError(t, err)
		out, err := io.ReadAll(r)
		require.NoError(t, err)
		return out
	}
	t.Fatalf("unexpected encoding %q", encoding)
	return nil
}

func get(h http.Handler, path, acceptEncoding, ifNoneMatch string) *httptest.ResponseRecorder {
	return request(h, "GET", path, acceptEncoding, ifNoneMatch)
}

// request serves one method on path with the given Accept-Encoding and
// If-None-Match ("" for none).
func request(h http.Handler, method, path, acceptEncoding, ifNoneMatch string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if acceptEncoding != "" {
		r.Header.Set("Accept-Encoding", acceptEncoding)
	}
	if ifNoneMatch != "" {
		r.Header.Set("If-None-Match", ifNoneMatch)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A bundler's output has no .br/.gz siblings: compressible files are
// compressed on first request and served like siblings would be.
func TestCompressOnTheFly(t *testing.T) {
	mod := time.Unix(1700000000, 0)
	wasm := bytes.Repeat([]byte("\x00asm module body "), 4096)
	script := []byte(strings.Repeat("export const x = 1;\n", 200))
	fsys := fstest.MapFS{
		"app.wasm":   {Data: wasm, ModTime: mod},
		"index.mjs":  {Data: script, ModTime: mod},
		"tiny.js":    {Data: []byte("export {}"), ModTime: mod},
		"photo.png":  {Data: bytes.Repeat([]byte{1}, 4096), ModTime: mod},
		"pre.js":     {Data: script, ModTime: mod},
		"pre.js.br":  {Data: []byte("precompressed br"), ModTime: mod},
		"pre.js.gz":  {Data: []byte("precompressed gz"), ModTime: mod},
		"index.html": {Data: []byte("<!doctype html>" + strings.Repeat("<p>hi</p>", 200)), ModTime: mod},
	}
	h := New(fsys, "no-cache")
	tests := []struct {
		name, path, accept string
		wantEncoding       string
		wantVary           bool
		want               []byte
	}{
		{"wasm, brotli preferred", "/app.wasm", "gzip, deflate, br", "br", true, wasm},
		{"wasm, gzip only", "/app.wasm", "gzip", "gzip", true, wasm},
		{"wasm, brotli refused", "/app.wasm", "br;q=0, gzip", "gzip", true, wasm},
		{"wasm, no encoding accepted", "/app.wasm", "", "", true, wasm},
		{"module script", "/index.mjs", "br", "br", true, script},
		{"html", "/", "gzip", "gzip", true, fsys["index.html"].Data},
		{"too small to gain", "/tiny.js", "br", "", false, []byte("export {}")},
		{"not compressible", "/photo.png", "br", "", false, fsys["photo.png"].Data},
		{"a precompressed sibling wins", "/pre.js", "br", "br", true, []byte("precompressed br")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(h, tt.path, tt.accept, "")
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, tt.wantEncoding, w.Header().Get("Content-Encoding"))
			if tt.wantVary {
				assert.Equal(t, "Accept-Encoding", w.Header().Get("Vary"))
			} else {
				assert.Empty(t, w.Header().Values("Vary"))
			}
			body := w.Body.Bytes()
			if tt.path == "/pre.js" {
				assert.Equal(t, tt.want, body)
				return
			}
			assert.Equal(t, tt.want, decode(t, tt.wantEncoding, body))
			if tt.wantEncoding != "" {
				assert.Less(t, len(body), len(tt.want), "compressed")
			}
		})
	}
}

// Each encoding has its own strong ETag, which revalidates to a 304 in that
// encoding; a changed file gets new ones.
func TestCompressETagPerEncoding(t *testing.T) {
	fsys := fstest.MapFS{"app.wasm": {Data: bytes.Repeat([]byte("first "), 1000), ModTime: time.Unix(1, 0)}}
	h := New(fsys, "no-cache")
	tags := map[string]string{}
	for _, accept := range []string{"br", "gzip", ""} {
		w := get(h, "/app.wasm", accept, "")
		require.Equal(t, http.StatusOK, w.Code)
		tag := w.Header().Get("ETag")
		require.NotEmpty(t, tag)
		tags[accept] = tag

		again := get(h, "/app.wasm", accept, tag)
		assert.Equal(t, http.StatusNotModified, again.Code, accept)
		assert.Equal(t, "Accept-Encoding", again.Header().Get("Vary"), accept)
	}
	assert.Len(t, map[string]bool{tags["br"]: true, tags["gzip"]: true, tags[""]: true}, 3, "one ETag per encoding: %v", tags)
	assert.Equal(t, http.StatusOK, get(h, "/app.wasm", "gzip", tags["br"]).Code, "the brotli ETag does not match the gzip answer")

	fsys["app.wasm"] = &fstest.MapFile{Data: bytes.Repeat([]byte("second "), 1000), ModTime: time.Unix(2, 0)}
	w := get(h, "/app.wasm", "br", tags["br"])
	require.Equal(t, http.StatusOK, w.Code, "changed file")
	assert.NotEqual(t, tags["br"], w.Header().Get("ETag"))
	assert.Equal(t, fsys["app.wasm"].Data, decode(t, "br", w.Body.Bytes()))
}

// Concurrent first requests share the compression and get the same bytes.
func TestCompressConcurrentFirstRequests(t *testing.T) {
	data := bytes.Repeat([]byte("concurrent "), 10000)
	h := New(fstest.MapFS{"app.wasm": {Data: data, ModTime: time.Unix(1, 0)}}, "")
	const n = 20
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = get(h, "/app.wasm", "br", "").Body.Bytes()
		}()
	}
	wg.Wait()
	for i := range n {
		assert.Equal(t, bodies[0], bodies[i])
	}
	assert.Equal(t, data, decode(t, "br", bodies[0]))
}
