// Package static serves files from an fs.FS: the demo page and the js/
// bundle. It serves a precompressed sibling (name.br, name.gz) to clients
// that accept it (or, for a compressible file without siblings, a copy
// compressed on first request: compress.go), sets strong ETags from the
// content, answers conditional and range requests through
// http.ServeContent, and never lists a directory.
//
// Only what a page and the bundle need is served: files whose extension is
// in Served, outside dotfiles and dot-directories, and never tsconfig.json
// or TypeScript sources. HTML answers carry the page headers (PageHeaders:
// a Content-Security-Policy that allows the module and nothing inline,
// frame-ancestors 'none', Referrer-Policy, nosniff).
package static

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// encodings in order of preference: the sibling's suffix and the
// Content-Encoding it is served with.
var encodings = []struct{ suffix, name string }{{".br", "br"}, {".gz", "gzip"}}

// types the standard library may not know on every machine.
var types = map[string]string{
	".wasm": "application/wasm",
	".mjs":  "text/javascript; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".ts":   "text/plain; charset=utf-8",
	".map":  "application/json",
}

// Served lists the extensions of the files that are served: pages,
// scripts, styles, images, the module. Type declarations (.ts, .d.mts),
// source maps and JSON (tsconfig.json) are not.
var Served = map[string]bool{
	".html": true, ".mjs": true, ".js": true, ".css": true, ".wasm": true,
	".png": true, ".svg": true, ".ico": true, ".webp": true, ".txt": true,
}

// CSP is the Content-Security-Policy of the pages: scripts and styles from
// this origin only, none inline; WebAssembly compilation
// ('wasm-unsafe-eval', which instantiateStreaming needs); calls to this
// origin; no framing.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// PageHeaders sets the security headers of an HTML answer, with csp as
// its Content-Security-Policy.
func PageHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
}

// Pages returns next with the page headers (CSP) set on every answer: for
// pages rendered by a handler rather than served from files.
func Pages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		PageHeaders(w.Header(), CSP)
		next.ServeHTTP(w, r)
	})
}

// Handler serves files from an fs.FS. Create one with New.
type Handler struct {
	// CSP is the Content-Security-Policy of HTML answers; New sets the
	// package's CSP. (Test pages with inline scripts set their own.)
	CSP string

	fsys         fs.FS
	cacheControl string

	gen compressed // files compressed on the fly (compress.go)
}

// New returns a Handler for fsys. Every answer carries cacheControl
// (for example "no-cache": revalidate with the ETag each time).
func New(fsys fs.FS, cacheControl string) *Handler {
	return &Handler{CSP: CSP, fsys: fsys, cacheControl: cacheControl}
}

// ServeHTTP serves r.URL.Path from the FS: "/" and paths ending in "/" as
// their index.html, anything else as a file or 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || strings.HasSuffix(r.URL.Path, "/") {
		name = path.Join(name, "index.html")
	}
	if !fs.ValidPath(name) || hasSibling(name) || !servable(name) {
		http.NotFound(w, r)
		return
	}
	ctype, ok := types[path.Ext(name)]
	if !ok {
		ctype = mime.TypeByExtension(path.Ext(name))
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}

	served, encoding := name, ""
	variants := false
	for _, e := range encodings {
		if _, err := fs.Stat(h.fsys, name+e.suffix); err != nil {
			continue
		}
		variants = true
		if encoding == "" && accepts(r, e.name) {
			served, encoding = name+e.suffix, e.name
		}
	}
	// From the file, read as the answer is written: a HEAD, a 304 or a
	// client that does not read costs an open file, not the file in
	// memory. The FileInfo is the open file's: the ETag names its bytes.
	f, info, err := h.open(served)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	content, ok := f.(io.ReadSeeker)
	if !variants { // no precompressed sibling
		var coded []byte // the content compressed on the fly, shared by every answer; nil: the file's
		served, encoding, coded, variants = h.compress(r, name, info, func() ([]byte, error) { return io.ReadAll(f) })
		if coded != nil {
			content, ok = bytes.NewReader(coded), true
		}
	}
	if !ok { // an fs.FS whose files cannot seek: read it (none of the server's)
		data, err := io.ReadAll(f)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		content = bytes.NewReader(data)
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("X-Content-Type-Options", "nosniff")
	if h.cacheControl != "" {
		hd.Set("Cache-Control", h.cacheControl)
	}
	if variants {
		hd.Add("Vary", "Accept-Encoding")
	}
	if encoding != "" {
		hd.Set("Content-Encoding", encoding)
	}
	if strings.HasPrefix(ctype, "text/html") {
		PageHeaders(hd, h.CSP)
	}
	hd.Set("ETag", etag(served, info))
	http.ServeContent(w, r, name, info.ModTime(), content)
}

// open opens a regular file and returns its FileInfo; directories are
// not found.
func (h *Handler) open(name string) (fs.File, fs.FileInfo, error) {
	f, err := h.fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = errors.New("static: not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// etag returns the strong ETag of a file (served: its name, a sibling's
// for an encoding), from what identifies its content without reading it:
// its name, size and modification time, as nginx's are. Each encoding has
// its own.
func etag(served string, info fs.FileInfo) string {
	sum := sha256.Sum256([]byte(served + "\x00" + strconv.FormatInt(info.Size(), 10) + "\x00" + strconv.FormatInt(info.ModTime().UnixNano(), 10)))
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// servable reports whether name is a file that pages and the bundle need:
// a served extension, no segment starting with a dot, no tsconfig.json and
// no TypeScript source or declaration.
func servable(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return false
		}
	}
	base := path.Base(name)
	return Served[path.Ext(base)] && !strings.HasSuffix(base, ".d.ts") && base != "tsconfig.json"
}

// hasSibling reports whether name is itself a precompressed sibling, which
// is only served through content negotiation.
func hasSibling(name string) bool {
	for _, e := range encodings {
		if strings.HasSuffix(name, e.suffix) {
			return true
		}
	}
	return false
}

// accepts reports whether the request's Accept-Encoding allows coding
// (listed without q=0).
func accepts(r *http.Request, coding string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
