// Package ssr is the demo's server-rendered page: GET /departments renders
// the list that it fetches from the upstream with the user's cookies,
// through a transport.Session. If the access token has expired, the Session
// refreshes on the server (through the BFF's absorber, so a browser
// refreshing at the same moment shares the refresh) and the HTML answer
// carries the rotated cookies. A definite auth failure redirects (303) to
// /login?next=/departments; a transient one renders a 503 page with a retry
// link. GET /login sends the browser to the demo's login form.
package ssr

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/localpath"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/transport"
)

// Config configures the page. Every field is required.
type Config struct {
	// Upstream is the API's base URL.
	Upstream *url.URL
	// Transport sends the upstream calls.
	Transport http.RoundTripper
	// Auth refreshes (ExchangeFor) and sets the cookies (Cookies).
	Auth *bff.BFF
}

// New returns the handler of GET /departments and GET /login.
func New(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /departments", cfg.departments)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		to := "/"
		if next, ok := localpath.Of(r.URL.Query().Get("next")); ok {
			to += "?next=" + url.QueryEscape(next)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
	return cfg.Auth.Cookies().Guard(mux)
}

// Department is one row of the upstream's /departments.
type Department struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func (cfg Config) departments(w http.ResponseWriter, r *http.Request) {
	session := cookies.From(r)
	if session == nil || session.RefreshToken == "" {
		toLogin(w, r)
		return
	}
	s := transport.New(transport.Config{
		Base:     cfg.Transport,
		Ahead:    bff.AheadWindow(bff.DefaultRefreshAhead, session.Lifetime),
		Exchange: cfg.Auth.ExchangeFor(r),
	}, session.Tokens())

	list, status, err := fetch(r.Context(), s, cfg.Upstream.JoinPath("departments").String())
	t, rotated := s.Tokens()
	if rotated {
		codec := cfg.Auth.Cookies()
		if err := codec.Set(w, r, codec.Renew(*session, t)); err != nil {
			rotated = false // too large for the cookies: the page renders; the next refresh says so
		}
	}
	switch {
	case errors.Is(err, refresh.ErrRejected) || status == http.StatusUnauthorized:
		cfg.Auth.Cookies().Clear(w)
		toLogin(w, r)
	case err != nil || status != http.StatusOK:
		render(w, http.StatusServiceUnavailable, page{Unavailable: true, Refreshed: rotated})
	default:
		render(w, http.StatusOK, page{Departments: list, Refreshed: rotated})
	}
}

// fetch GETs the departments through the cookies.
func fetch(ctx context.Context, s *transport.Session, u string) ([]Department, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := s.RoundTrip(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, res.StatusCode, nil
	}
	var list []Department
	err = json.NewDecoder(io.LimitReader(res.Body, maxList)).Decode(&list)
	return list, res.StatusCode, err
}

// maxList bounds the upstream answer the page reads.
const maxList = 1 << 20

func toLogin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login?next=/departments", http.StatusSeeOther)
}

type page struct {
	Departments []Department
	Unavailable bool
	Refreshed   bool // the access token was refreshed on the server for this page
}

var tmpl = template.Must(template.New("departments").Parse(`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Departments (server-rendered) · fetch-with-refresh</title>
  <link rel="stylesheet" href="/style.css">
</head>
<body>
  <header>
    <h1>Departments</h1>
    <p>Rendered on the server with your cookies.
    {{- if .Refreshed}} <span id="refreshed">The access token was due, so it was refreshed on the server, and this answer carried the new cookies.</span>
    {{- else}} <span id="refreshed">The access token was still good: no refresh was needed.</span>{{end}}</p>
  </header>
  <main>
    <section class="card">
    {{- if .Unavailable}}
      <h2>The API is unavailable right now</h2>
      <p class="bad">Your session is kept. <a href="/departments">Try again</a>.</p>
    {{- else}}
      <ul id="departments" class="departments">
      {{- range .Departments}}
        <li>{{.Name}}</li>
      {{- end}}
      </ul>
    {{- end}}
    </section>
    <p><a href="/">Back to the demo</a></p>
  </main>
</body>
</html>
`))

func render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = tmpl.Execute(w, p) // the status is out: a failed write has no one to tell
}
