// Package static serves files from an fs.FS: the demo page and the js/
// bundle. It serves a precompressed sibling (name.br, name.gz) to clients
// that accept it (or, for a compressible file without siblings, a copy
// compressed on first request: compress.go), sets strong ETags from the
// content, answers conditional and range requests through
// http.ServeContent, and never lists a directory.
//
// Every regular file is served, with the web's type for its extension
// (fonts, images, JSON, manifests, source maps, the module), except
// dotfiles and dot-directories and the sources and configuration a
// project keeps beside its build (TypeScript and Go sources and
// declarations, package.json, tsconfig.json, lock files). HTML answers carry the page headers (PageHeaders:
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

// types of the files a web app's build holds: the standard library's own
// table knows only some, and /etc/mime.types may be missing (or know
// neither .webmanifest nor .map). Other extensions take
// mime.TypeByExtension, else application/octet-stream.
var types = map[string]string{
	".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8",
	".mjs": "text/javascript; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm",
	".json": "application/json", ".map": "application/json", ".webmanifest": "application/manifest+json",
	".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".otf": "font/otf",
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
	".avif": "image/avif", ".svg": "image/svg+xml", ".ico": "image/x-icon",
	".xml": "application/xml", ".pdf": "application/pdf", ".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg",
}

// sources are the extensions never served: TypeScript (and its
// declarations, .d.ts, .d.mts) and Go sources.
var sources = map[string]bool{".ts": true, ".tsx": true, ".mts": true, ".cts": true, ".go": true}

// projectFiles are the configuration and lock files never served
// (tsconfig*.json and jsconfig*.json too: servable).
var projectFiles = map[string]bool{
	"package.json": true, "package-lock.json": true, "npm-shrinkwrap.json": true, "yarn.lock": true,
	"pnpm-lock.yaml": true, "bun.lock": true, "bun.lockb": true, "deno.json": true, "deno.lock": true,
	"go.mod": true, "go.sum": true,
}

// CSP is the Content-Security-Policy of the pages: scripts and styles from
// this origin only, none inline; WebAssembly compilation
// ('wasm-unsafe-eval', which instantiateStreaming needs); calls to this
// origin; no framing.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// PageHeaders sets the security headers of an HTML answer, with csp as
// its Content-Security-Policy (none when csp is empty: the page sets its
// own).
func PageHeaders(h http.Header, csp string) {
	if csp != "" {
		h.Set("Content-Security-Policy", csp)
	}
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
	// package's CSP; empty sends none (the app sets its own). (Test pages
	// with inline scripts set their own.)
	CSP string
	// SPA: a GET for a path with no file and no extension that accepts
	// text/html gets /index.html (a single-page app's deep link, reloaded),
	// never under /api/ or /auth/.
	SPA bool

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
	if h.deepLink(r, name) {
		name = "index.html"
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
	switch {
	case hashed(name):
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	case h.cacheControl != "":
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

// deepLink reports whether r, for name, gets the app's index.html (SPA):
// a GET or HEAD that accepts HTML, for a path without an extension,
// outside the BFF's paths, with no file of that name.
func (h *Handler) deepLink(r *http.Request, name string) bool {
	p := path.Clean("/" + r.URL.Path)
	if !h.SPA || path.Ext(p) != "" || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/auth/") ||
		!strings.Contains(r.Header.Get("Accept"), "text/html") {
		return false
	}
	info, err := fs.Stat(h.fsys, name)
	return err != nil || !info.Mode().IsRegular()
}

// hashed reports whether name is content-hashed, as bundlers name their
// output: a last part before the extension (after "-" or ".") of 8 to 64
// letters, digits or "_" with a digit in it (main.3f2a1b4c.css,
// chunk-3f2a1b4c5d6e7f80.js); under an assets/ folder, Vite's
// [name]-[hash] with its 8 base64url characters (index-CwOiCjlA.js,
// main-2__R8R-n.js); anything under _next/static/. Such a file never
// changes: it may be cached for a year.
func hashed(name string) bool {
	if strings.HasPrefix(name, "_next/static/") {
		return true
	}
	base := strings.TrimSuffix(path.Base(name), path.Ext(name))
	if i := strings.LastIndexAny(base, "-."); i >= 0 {
		if h := base[i+1:]; len(h) >= 8 && len(h) <= 64 && hashChars(h, "_") && strings.ContainsAny(h, "0123456789") {
			return true
		}
	}
	assets := strings.HasPrefix(name, "assets/") || strings.Contains(name, "/assets/")
	if !assets || len(base) < 10 || base[len(base)-9] != '-' {
		return false
	}
	h := base[len(base)-8:]
	// A word is no hash: one has a digit, "_" or "-", or capitals past its
	// first letter.
	return hashChars(h, "_-") && (strings.ContainsAny(h, "0123456789_-") || strings.ContainsAny(h[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
}

// hashChars reports whether h holds only ASCII letters, digits and the
// bytes of extra.
func hashChars(h, extra string) bool {
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
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

// servable reports whether name may be served: no segment starting with a
// dot (.env, .git/), no source and no project file.
func servable(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return false
		}
	}
	base := path.Base(name)
	config := path.Ext(base) == ".json" && (strings.HasPrefix(base, "tsconfig") || strings.HasPrefix(base, "jsconfig"))
	return !sources[path.Ext(base)] && !projectFiles[base] && !config
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
