package static

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// Finding 6: only what pages and the bundle need is served, and pages
// carry the security headers.
func TestServesOnlyTheBundle(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":               {Data: []byte("<!doctype html>")},
		"app.mjs":                  {Data: []byte("export {}")},
		"style.css":                {Data: []byte("body{}")},
		"m.wasm":                   {Data: []byte("\x00asm")},
		"shot.png":                 {Data: []byte("png")},
		".env":                     {Data: []byte("SECRET=1")},
		".git/config":              {Data: []byte("[core]")},
		"a/.hidden.js":             {Data: []byte("x")},
		"tsconfig.json":            {Data: []byte("{}")},
		"types-check.ts":           {Data: []byte("x")},
		"fetch-with-refresh.d.ts":  {Data: []byte("x")},
		"fetch-with-refresh.d.mts": {Data: []byte("x")},
		"app.mjs.map":              {Data: []byte("{}")},
		"notes.md":                 {Data: []byte("x")},
		"package.json":             {Data: []byte("{}")},
		"package-lock.json":        {Data: []byte("{}")},
		"tsconfig.node.json":       {Data: []byte("{}")},
		"src/main.tsx":             {Data: []byte("x")},
		"main.go":                  {Data: []byte("x")},
		"assets/font-3f2a1b.woff2": {Data: []byte("wOF2")},
		"assets/hero.jpg":          {Data: []byte("jpg")},
		"photo.avif":               {Data: []byte("avif")},
		"data.json":                {Data: []byte("{}")},
		"site.webmanifest":         {Data: []byte("{}")},
	}
	h := New(fsys, "no-cache")
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/", 200}, {"/index.html", 200}, {"/app.mjs", 200}, {"/style.css", 200}, {"/m.wasm", 200}, {"/shot.png", 200},
		{"/app.mjs.map", 200}, {"/notes.md", 200}, {"/assets/font-3f2a1b.woff2", 200}, {"/assets/hero.jpg", 200},
		{"/photo.avif", 200}, {"/data.json", 200}, {"/site.webmanifest", 200},
		{"/.env", 404}, {"/.git/config", 404}, {"/a/.hidden.js", 404}, {"/tsconfig.json", 404}, {"/types-check.ts", 404},
		{"/fetch-with-refresh.d.ts", 404}, {"/fetch-with-refresh.d.mts", 404}, {"/package.json", 404},
		{"/package-lock.json", 404}, {"/tsconfig.node.json", 404}, {"/src/main.tsx", 404}, {"/main.go", 404},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
		assert.Equal(t, tt.want, w.Code, tt.path)
	}

	for file, want := range map[string]string{ // the web's types, on any machine
		"/assets/font-3f2a1b.woff2": "font/woff2", "/assets/hero.jpg": "image/jpeg", "/photo.avif": "image/avif",
		"/data.json": "application/json", "/site.webmanifest": "application/manifest+json", "/app.mjs.map": "application/json",
		"/m.wasm": "application/wasm", "/app.mjs": "text/javascript; charset=utf-8",
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", file, nil))
		assert.Equal(t, want, w.Header().Get("Content-Type"), file)
	}

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	csp := w.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self' 'wasm-unsafe-eval'", "the module may compile")
	assert.NotContains(t, csp, "unsafe-inline", "nothing inline")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.Equal(t, "same-origin", w.Header().Get("Referrer-Policy"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/app.mjs", nil))
	assert.Empty(t, w.Header().Get("Content-Security-Policy"), "a policy is for documents")
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))

	w = httptest.NewRecorder()
	Pages(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).ServeHTTP(w, httptest.NewRequest("GET", "/departments", nil))
	assert.Equal(t, CSP, w.Header().Get("Content-Security-Policy"), "rendered pages too")
}

// Workers serve the same files as static assets, with the headers of
// cmd/worker/_headers: the same policy.
func TestWorkerAssetHeadersMatch(t *testing.T) {
	data, err := os.ReadFile("../../cmd/worker/_headers")
	require.NoError(t, err)
	assert.Contains(t, string(data), "Content-Security-Policy: "+CSP+"\n")
	assert.Contains(t, string(data), "Referrer-Policy: same-origin")
	assert.Contains(t, string(data), "X-Content-Type-Options: nosniff")
}

// countingFS counts the reads of its files' content.
type countingFS struct {
	fs.FS
	reads *atomic.Int64
}

func (c countingFS) Open(name string) (fs.File, error) {
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return countingFile{f.(readSeekFile), c.reads}, nil
}

type readSeekFile interface {
	fs.File
	io.Seeker
}

type countingFile struct {
	readSeekFile
	reads *atomic.Int64
}

func (c countingFile) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.readSeekFile.Read(p)
}

// Security round 3, finding 3: a file is served from the file, read as
// the answer is written: a HEAD and a 304 do not read it at all, and a GET
// does not hold it in memory (200 connections that never read the 2.9 MB
// module raised the RSS by hundreds of MB).
func TestServedFromTheFile(t *testing.T) {
	var reads atomic.Int64
	big := bytes.Repeat([]byte("wasm"), 1<<20) // 4 MB
	fsys := countingFS{fstest.MapFS{
		"m.wasm":    {Data: big, ModTime: time.Unix(1_700_000_000, 0)},
		"m.wasm.br": {Data: []byte("br"), ModTime: time.Unix(1_700_000_000, 0)},
	}, &reads}
	h := New(fsys, "no-cache")
	get := func(method, enc, inm string) *httptest.ResponseRecorder {
		return request(h, method, "/m.wasm", enc, inm)
	}
	head := get("HEAD", "", "")
	assert.Equal(t, 200, head.Code)
	assert.Equal(t, strconv.Itoa(len(big)), head.Header().Get("Content-Length"))
	assert.Zero(t, reads.Load(), "a HEAD reads nothing")

	tag := head.Header().Get("ETag")
	require.NotEmpty(t, tag)
	assert.Equal(t, http.StatusNotModified, get("GET", "", tag).Code)
	assert.Zero(t, reads.Load(), "a 304 reads nothing")

	assert.Equal(t, "br", get("GET", "br", "").Body.String(), "the precompressed sibling")
	full := get("GET", "", "")
	assert.Equal(t, len(big), full.Body.Len())
	assert.Greater(t, reads.Load(), int64(1), "read in pieces as it is written")
}

// The cache of files compressed on the fly is bounded: past maxCompressed
// the oldest entries go.
func TestCompressedCacheIsBounded(t *testing.T) {
	var c compressed
	for i := range 5 {
		c.keep(strconv.Itoa(i), encoded{data: make([]byte, maxCompressed/3)})
	}
	assert.LessOrEqual(t, c.bytes, maxCompressed)
	assert.Len(t, c.entries, 3)
	assert.NotContains(t, c.entries, "0", "the oldest went first")
	assert.Contains(t, c.entries, "4")
}

// A file compressed on the fly is revalidated without being read or
// compressed again: a 304 from a process whose cache is cold (a restart,
// an eviction) reads nothing.
func TestRevalidatedWithoutCompressing(t *testing.T) {
	files := fstest.MapFS{"app.js": {Data: bytes.Repeat([]byte("let a = 1;\n"), 1000), ModTime: time.Unix(1_700_000_000, 0)}}
	first := request(New(files, "no-cache"), "GET", "/app.js", "br", "")
	require.Equal(t, "br", first.Header().Get("Content-Encoding"))
	tag := first.Header().Get("ETag")
	require.NotEmpty(t, tag)

	var reads atomic.Int64
	cold := New(countingFS{files, &reads}, "no-cache")
	for _, inm := range []string{tag, `"other", ` + tag, "W/" + tag, "*"} {
		w := request(cold, "GET", "/app.js", "br", inm)
		assert.Equal(t, http.StatusNotModified, w.Code, inm)
		assert.Equal(t, tag, w.Header().Get("ETag"), inm)
	}
	assert.Zero(t, reads.Load(), "a 304 reads and compresses nothing")
	assert.Equal(t, http.StatusOK, request(cold, "GET", "/app.js", "br", `"other"`).Code)
	assert.Positive(t, reads.Load())
}

// With SPA, a deep link that accepts HTML (a reload of /orders/42) gets
// index.html; a path with an extension, one under /api/ or /auth/, or a
// request that does not accept HTML is a 404 as without it; a real file
// is itself.
func TestSPAFallback(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html><title>app</title>")},
		"about/x.html":  {Data: []byte("x")},
		"assets/app.js": {Data: []byte("js")},
	}
	tests := []struct {
		path, accept string
		spa          bool
		want         int
		body         string
	}{
		{"/orders/42", "text/html,application/xhtml+xml", true, 200, "app"},
		{"/orders/42", "text/html", false, 404, ""},
		{"/orders/42", "application/json", true, 404, ""},
		{"/missing.js", "text/html", true, 404, ""},
		{"/api/orders", "text/html", true, 404, ""},
		{"/auth/callback", "text/html", true, 404, ""},
		{"/assets/app.js", "text/html", true, 200, "js"},
		{"/about/x.html", "text/html", true, 200, "x"},
	}
	for _, tt := range tests {
		h := New(fsys, "no-cache")
		h.SPA = tt.spa
		r := httptest.NewRequest("GET", tt.path, nil)
		r.Header.Set("Accept", tt.accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, tt.want, w.Code, "%s (spa %t, accept %s)", tt.path, tt.spa, tt.accept)
		if tt.body != "" {
			assert.Contains(t, w.Body.String(), tt.body, tt.path)
		}
	}
}

// Content-hashed names, as bundlers emit them, may be cached for a year;
// the rest is revalidated.
func TestHashedNamesAreImmutable(t *testing.T) {
	tests := map[string]bool{}
	for _, name := range []string{"assets/index-B7x2kQ9a.js", "static/js/main.3f2a1b4c.js", "assets/font-3f2a1b9e.woff2",
		"assets/main-CwOiCjlA.js", "assets/main-2__R8R-n.js", "assets/index-By0LVbdq.wasm", "_next/static/chunks/webpack.js"} {
		tests[name] = true
	}
	for _, name := range []string{"index.html", "app.mjs", "assets/Dropdown-Component.js", "fetch-with-refresh.wasm",
		"js/fetch-with-refresh.min.mjs", "logo-2024.png", "views/app.MainView.js", "assets/hero-illustration.png",
		"assets/app-settings.js", "assets/Dropdown-Component.css"} {
		tests[name] = false
	}
	fsys := fstest.MapFS{}
	for name := range tests {
		fsys[name] = &fstest.MapFile{Data: []byte("x")}
	}
	h := New(fsys, "no-cache")
	for name, immutable := range tests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/"+name, nil))
		require.Equal(t, 200, w.Code, name)
		want := "no-cache"
		if immutable {
			want = "public, max-age=31536000, immutable"
		}
		assert.Equal(t, want, w.Header().Get("Cache-Control"), name)
	}
}
