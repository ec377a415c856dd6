// Package site is what a native host serves on its public listener: the
// BFF's paths (/api/, /auth/, /healthz, /readyz), the page's files at /
// and the js/ bundle at /js/, and in demo mode the demo's
// server-rendered pages. Workers serve the files as static assets and
// leave this package (and html/template) out of their upload.
package site

import (
	"io/fs"
	"net/http"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/static"
)

// Files are the site's static files.
type Files struct {
	WWW, JS fs.FS // served at / and /js/
	// SPA makes WWW a single-page app's: a deep link gets its index.html
	// (static.Handler.SPA).
	SPA bool
	// CSP is the Content-Security-Policy of WWW's pages: static.CSP when
	// the host says nothing, empty for none (the app sets its own).
	CSP string
}

// New returns the site: app at the BFF's paths, the files at / and /js/,
// and demo (GET /departments and GET /login), when it is not nil, behind
// the pages' headers. Without demo those paths are files of www like any
// other (a 404 when www has none).
func New(app, demo http.Handler, f Files) http.Handler {
	mux := http.NewServeMux()
	www := static.New(f.WWW, "no-cache")
	www.SPA, www.CSP = f.SPA, f.CSP
	mux.Handle("/", www)
	mux.Handle("/js/", http.StripPrefix("/js", static.New(f.JS, "no-cache")))
	mux.Handle("/api/", app)
	mux.Handle("/auth/", app)
	mux.Handle("/healthz", app)
	mux.Handle("/readyz", app)
	if demo != nil {
		demo = static.Pages(demo)
		mux.Handle("GET /departments", demo)
		mux.Handle("GET /login", demo)
	}
	return mux
}
