//go:build js && wasm

// Command worker serves the fetch-with-refresh backend on Cloudflare
// Workers: the same handler as cmd/server (auth endpoints, /api proxy,
// CSRF), with outbound calls made by the Workers fetch API. Static files are
// Workers static assets (see wrangler.toml), so the Go program only runs
// for what they do not match: /api/*, /healthz and, in OpenID Connect
// mode, /auth/*.
//
// Configuration comes from the Worker's variables, with the native flags'
// names and defaults: FWR_UPSTREAM (required: a Worker keeps no state
// between requests, so the embedded demo upstream cannot run here),
// FWR_ACCESS_COOKIE_MAX_AGE, FWR_REFRESH_COOKIE_MAX_AGE,
// FWR_INSECURE_COOKIES, FWR_AUTH_TIMEOUT, FWR_PROXY_TIMEOUT,
// FWR_SESSION_KEYS (required, a secret: every request runs a fresh
// instance, which must open the sessions another sealed),
// FWR_SESSION_CLAIMS, FWR_FORWARD_HEADERS (every flag has its FWR_
// variable), and the
// OpenID Connect mode's FWR_OIDC_ISSUER, FWR_OIDC_CLIENT_ID,
// FWR_OIDC_CLIENT_SECRET (a secret), FWR_OIDC_SCOPES, FWR_PUBLIC_URL.
//
// Each request runs in a fresh Go instance, so duplicate refreshes of one
// session meet outside it: in a Durable Object per session key (the ABSORB
// binding, class AbsorbObject in absorb-object.mjs, reached through
// package dostore).
package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/config"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/deadline"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"
	"github.com/syumai/workers/cloudflare/fetch"
)

// errNoUpstream is the configuration error of a Worker without FWR_UPSTREAM.
var errNoUpstream = errors.New("FWR_UPSTREAM is not set: a Worker needs an external upstream URL")

// errOIDCSecret is the configuration error of an OpenID Connect Worker
// without a client secret: the login's flow cookie is sealed with a key
// derived from it, and every request runs in a fresh instance, which must
// open the cookie that another one sealed.
var errOIDCSecret = errors.New("FWR_OIDC_ISSUER needs FWR_OIDC_CLIENT_SECRET on a Worker (set it with `wrangler secret put FWR_OIDC_CLIENT_SECRET`)")

func main() {
	h := handler()
	workers.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil { // syumai/workers leaves it nil on GET; net/http promises non-nil
			r.Body = http.NoBody
		}
		h.ServeHTTP(w, r)
	}))
}

// handler builds the app from the Worker's variables, or a handler that
// explains what is wrong with them.
func handler() http.Handler {
	cfg, err := config.Parse(nil, cloudflare.Getenv, io.Discard)
	if err == nil && cfg.Upstream == nil {
		err = errNoUpstream
	}
	if err == nil && cfg.OIDC.Issuer != "" && cfg.OIDC.ClientSecret == "" {
		err = errOIDCSecret
	}
	if err == nil && cfg.SessionKeys == nil { // each request runs a fresh instance: the key must be shared
		err = config.ErrNoSessionKeys
	}
	if err != nil {
		return misconfigured(err)
	}
	b := cfg.BFF()
	b.Transport = deadline.Transport(fetch.NewClient().HTTPClient(fetch.RedirectModeManual).Transport)
	store, err := absorbStore()
	if err != nil {
		slog.Warn("duplicate refreshes are not absorbed", "err", err)
	}
	b.Store = store // OpenID Connect mode: discovery waits for the first request that needs the provider
	h, err := bff.New(b)
	if err != nil {
		return misconfigured(err)
	}
	return h
}

// misconfigured answers every request with a configuration error.
func misconfigured(err error) http.Handler {
	msg := "worker configuration: " + err.Error()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply.Error(w, http.StatusInternalServerError, "misconfigured", msg)
	})
}
