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

// New returns the site: app at the BFF's paths, www at /, js at /js/, and
// demo (GET /departments and GET /login), when it is not nil, behind the
// pages' headers. Without demo those paths are files of www like any
// other (a 404 when www has none). spa makes www a single-page app's:
// a deep link gets its index.html (static.Handler.SPA).
func New(app, demo http.Handler, www, js fs.FS, spa bool) http.Handler {
	mux := http.NewServeMux()
	files := static.New(www, "no-cache")
	files.SPA = spa
	mux.Handle("/", files)
	mux.Handle("/js/", http.StripPrefix("/js", static.New(js, "no-cache")))
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
