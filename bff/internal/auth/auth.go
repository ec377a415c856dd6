// Package auth is the backend-for-frontend auth endpoints: login, refresh
// and logout, with the tokens kept in HttpOnly cookies (package cookies)
// and exchanged with the upstream through an authclient.Client: the JSON
// contract's /auth/login, /auth/refresh and /auth/logout by default, or an
// OpenID provider's token and revocation endpoints.
//
// Refresh tells a definite rejection (the session is over: 401, cookies
// cleared) from a transient failure (502/503/504, cookies untouched), so
// that an upstream hiccup never logs anyone out.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/observe"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// ErrRejected is the policy's refresh.ErrRejected: the upstream refused the
// credentials or the refresh token for good. Errors of ExchangeFor's refreshes wrap it.
var ErrRejected = refresh.ErrRejected

// LoginPagePath is where the browser goes to log in when the upstream has
// no password login (OpenID Connect mode's GET /auth/login).
const LoginPagePath = "/auth/login"

// Config configures a Handler. Client, or Upstream and Transport, are
// required.
type Config struct {
	// Client is the upstream's auth dialect. If nil, the JSON contract at
	// Upstream through Transport, with Timeout. A Client that is not an
	// authclient.PasswordLogin (an OpenID provider) turns POST
	// /api/auth/login into an error that points to LoginPagePath.
	Client authclient.Client
	// Upstream is the base URL of the API whose /auth/login,
	// /auth/refresh and /auth/logout are called when Client is nil.
	Upstream *url.URL
	// Transport makes the upstream calls. Required: a default would link
	// net/http's whole client into the Workers build, which brings its own.
	Transport http.RoundTripper
	// Timeout bounds each upstream call, the logout's revocation included,
	// and the whole of a refresh: its absorption's store waits and
	// write-back share it with the upstream call (absorb.Absorber.Rotate).
	// If zero, DefaultTimeout.
	Timeout time.Duration
	// Cookies sets the session cookies.
	Cookies cookies.Codec
	// Observer is told each outcome. If nil, nothing is.
	Observer observe.Observer
	// AbsorbWindow is how long a refresh's new pair is handed to duplicate
	// refreshes that present the same tokens. If zero,
	// DefaultAbsorbWindow; negative turns absorption off, so that every
	// duplicate reaches the upstream (which may revoke the session).
	AbsorbWindow time.Duration
	// Store is where duplicate refreshes coordinate (package absorb): a
	// store shared by every instance (Redis, a Durable Object) makes
	// duplicates share one refresh across instances. If nil, in process.
	Store absorb.Store
	// Logger logs what a response cannot say: a Store that fails, a
	// revocation that failed while the cookies were cleared anyway. If nil,
	// slog.Default().
	Logger *slog.Logger
}

// DefaultAbsorbWindow is how long a refresh's result is handed to
// duplicates of it when Config.AbsorbWindow is zero.
const DefaultAbsorbWindow = absorb.DefaultWindow

// Handler serves POST /api/auth/login, /api/auth/refresh and
// /api/auth/logout, GET /api/auth/config (the login mode, for the page),
// and a JSON 404 for the rest of /api/auth/. Create one with New.
type Handler struct {
	cookies cookies.Codec
	obs     observe.Observer
	client  authclient.Client
	log     *slog.Logger
	absorb  *absorb.Absorber // nil when absorption is off
	timeout time.Duration    // the budget of a whole refresh: Config.Timeout
	mux     *http.ServeMux
}

// New returns a Handler for cfg, filling in the documented defaults.
func New(cfg Config) *Handler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Observer == nil {
		cfg.Observer = observe.Nop{}
	}
	if cfg.AbsorbWindow == 0 {
		cfg.AbsorbWindow = DefaultAbsorbWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Client == nil {
		cfg.Client = authclient.NewJSON(cfg.Upstream, authclient.HTTP{
			Transport: cfg.Transport, Timeout: cfg.Timeout,
			Observe: func(d time.Duration) { cfg.Observer.Upstream("auth", d) },
		})
	}
	h := &Handler{
		cookies: cfg.Cookies,
		obs:     cfg.Observer,
		client:  cfg.Client,
		log:     cfg.Logger,
		timeout: cfg.Timeout,
		mux:     http.NewServeMux(),
	}
	if cfg.AbsorbWindow > 0 {
		h.absorb = absorb.New(absorb.Config{
			Store: cfg.Store, Window: cfg.AbsorbWindow, LockTTL: cfg.Timeout,
			Logger: cfg.Logger, OnFallback: cfg.Observer.StoreFallback,
		})
	}
	h.mux.HandleFunc("/api/auth/login", post(h.login))
	h.mux.HandleFunc("/api/auth/refresh", post(h.refresh))
	h.mux.HandleFunc("/api/auth/logout", post(h.logout))
	h.mux.HandleFunc("/api/auth/config", h.config)
	h.mux.HandleFunc("/api/auth/session", h.session)
	h.mux.HandleFunc("/api/auth/", func(w http.ResponseWriter, r *http.Request) {
		reply.Error(w, http.StatusNotFound, "not_found", "no such auth endpoint")
	})
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// success is the body of a successful login or refresh.
type success struct {
	Success bool `json:"success"`
	// ExpiresAt is the access token's expiry in Unix milliseconds.
	ExpiresAt int64 `json:"expiresAt"`
	// User is the session's claims about the user, if any.
	User json.RawMessage `json:"user,omitempty"`
}

// authConfig is the answer of GET /api/auth/config: how the page logs in.
type authConfig struct {
	// Mode is "password" (POST /api/auth/login with JSON) or "oidc" (send
	// the browser to LoginURL).
	Mode     string `json:"mode"`
	LoginURL string `json:"loginURL,omitempty"`
}

// config tells the page how to log in.
func (h *Handler) config(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		reply.MethodNotAllowed(w, "GET, HEAD")
		return
	}
	if _, ok := h.client.(authclient.PasswordLogin); ok {
		reply.JSON(w, http.StatusOK, authConfig{Mode: "password"})
		return
	}
	reply.JSON(w, http.StatusOK, authConfig{Mode: "oidc", LoginURL: LoginPagePath})
}

// loginElsewhere is the answer to a password login in OpenID Connect mode.
type loginElsewhere struct {
	reply.ErrorBody
	// LoginURL is where to send the browser instead.
	LoginURL string `json:"loginURL"`
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	password, ok := h.client.(authclient.PasswordLogin)
	if !ok {
		h.obs.Auth("login", "bad_request")
		reply.JSON(w, http.StatusBadRequest, loginElsewhere{
			ErrorBody: reply.ErrorBody{Error: "password_login_disabled",
				Message: "this server logs in through OpenID Connect: send the browser to " + LoginPagePath},
			LoginURL: LoginPagePath,
		})
		return
	}
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !reply.Decode(w, r, &in) {
		h.obs.Auth("login", "bad_request")
		return
	}
	if in.Username == "" || in.Password == "" {
		h.obs.Auth("login", "bad_request")
		reply.Error(w, http.StatusBadRequest, "invalid_request", "username and password are required")
		return
	}
	t, err := password.Login(r.Context(), in.Username, in.Password)
	if errors.Is(err, ErrRejected) {
		h.obs.Auth("login", "rejected")
		reply.Error(w, http.StatusUnauthorized, "invalid_credentials", "unknown user or wrong password")
		return
	}
	if err != nil {
		h.fail(w, "login", err)
		return
	}
	h.open(w, r, "login", "ok", h.cookies.NewSession(t, ""))
}

func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) {
	s := cookies.From(r)
	if s == nil || s.RefreshToken == "" {
		h.obs.Auth("refresh", "rejected")
		h.cookies.Clear(w) // cookies that do not open (a key rotated out, a restart without keys) go too
		reply.Error(w, http.StatusUnauthorized, "no_session", "no session: log in")
		return
	}
	// The whole refresh, store waits and write-back included, answers
	// within the auth timeout: the browser module gives up soon after it.
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	t, shared, err := h.rotate(ctx, s.Presented(), false)
	if errors.Is(err, ErrRejected) {
		h.obs.Auth("refresh", "rejected")
		h.cookies.Clear(w)
		reply.Error(w, http.StatusUnauthorized, "refresh_rejected", "the session has ended: log in again")
		return
	}
	if err != nil {
		h.fail(w, "refresh", err)
		return
	}
	ok := "ok"
	if shared {
		ok = "absorbed" // another request's refresh, not a call upstream
	}
	h.open(w, r, "refresh", ok, h.cookies.Renew(*s, t))
}

// absorbs reports whether a refresh presenting p goes through the
// absorber: absorption is on and p is bound to its browser (a session
// opened without its binding cookie, or upgraded from the legacy cookies,
// is refreshed on its own, so that the upstream sees a copy's reuse).
func (h *Handler) absorbs(p absorb.Presented) bool { return h.absorb != nil && p.Binding != "" }

// rotate exchanges p's refresh token upstream, through the absorber when
// it absorbs p; a refresh ahead (skippable) runs only through the shared
// store (absorb.Absorber.RotateShared: absorb.ErrStoreDown when it is
// down). shared reports that another caller's result was used.
func (h *Handler) rotate(ctx context.Context, p absorb.Presented, skippable bool) (t authclient.Tokens, shared bool, err error) {
	exchange := func(ctx context.Context) (authclient.Tokens, error) {
		return h.client.Refresh(ctx, p.RefreshToken)
	}
	switch {
	case !h.absorbs(p):
		t, err := exchange(ctx)
		return t, false, err
	case skippable:
		return h.absorb.RotateShared(ctx, p, exchange)
	}
	return h.absorb.Rotate(ctx, p, exchange)
}

// ExchangeFor returns the refresh for a server-side caller that serves r
// (a page rendered with the user's cookies, behind the codec's Guard):
// it refreshes as the refresh endpoint does, through the absorber under
// the binding of r's session, so that its refreshes and the browser's
// share one. Without a session on r it refreshes on its own. The error
// wraps ErrRejected for a refused token.
func (h *Handler) ExchangeFor(r *http.Request) func(ctx context.Context, token, access string) (authclient.Tokens, error) {
	var binding string
	if s := cookies.From(r); s != nil {
		binding = s.Binding
	}
	return func(ctx context.Context, token, access string) (authclient.Tokens, error) {
		t, _, err := h.rotate(ctx, absorb.Presented{RefreshToken: token, AccessToken: access, Binding: binding}, false)
		return t, err
	}
}

// StoreDown reports whether refreshes skip the shared store because it is
// known to be down (absorb.Absorber.Down); false without absorption.
func (h *Handler) StoreDown() bool { return h.absorb != nil && h.absorb.Down() }

// Forget drops the absorbed result that made s (its Predecessor): the
// session ends, and a copy of its cookies from before its last refresh
// must not get its pair. Within a short bound; a failure is logged.
func (h *Handler) Forget(ctx context.Context, s *cookies.Session) {
	if h.absorb == nil || s == nil || s.Predecessor == "" {
		return
	}
	if err := h.absorb.Forget(ctx, s.Predecessor); err != nil {
		h.log.Warn("logout: the absorbed result of the last refresh was not dropped; it lapses with its window", "err", err)
	}
}

// Wait waits for the absorber's refreshes and write-backs still under
// way, those whose caller left included (absorb.Absorber.Wait): call it
// at shutdown, before closing the Store.
func (h *Handler) Wait() {
	if h.absorb != nil {
		h.absorb.Wait()
	}
}

// Cookies returns how the handler sets the session cookies.
func (h *Handler) Cookies() cookies.Codec { return h.cookies }

// open finishes a login or refresh that opened s: its cookies and 200
// (reported as ok), or 502 session_too_large when it does not fit in them.
func (h *Handler) open(w http.ResponseWriter, r *http.Request, endpoint, ok string, s cookies.Session) {
	if err := h.cookies.Set(w, r, s); err != nil {
		// The cookies held are spent (a refresh rotated them) or another
		// session's (a login): neither may go on.
		h.cookies.Clear(w)
		h.obs.Auth(endpoint, "too_large")
		var large *cookies.TooLargeError
		if errors.As(err, &large) {
			h.log.Error(endpoint+": the upstream's tokens do not fit in the session cookies; the session is lost",
				"sealed_bytes", large.Sealed, "max_bytes", cookies.MaxSealed, "access_token_bytes", large.AccessToken,
				"refresh_token_bytes", large.RefreshToken, "user_bytes", large.User)
		}
		reply.Error(w, http.StatusBadGateway, "session_too_large", "the upstream's tokens are too large for the session cookies")
		return
	}
	h.obs.Auth(endpoint, ok)
	reply.JSON(w, http.StatusOK, success{Success: true, ExpiresAt: unixMilli(s.Expires), User: s.User})
}

// fail answers a login or refresh that failed with err (not a rejection).
func (h *Handler) fail(w http.ResponseWriter, endpoint string, err error) {
	status, code, message := failure(err)
	if status == http.StatusBadRequest {
		h.obs.Auth(endpoint, "bad_request")
	} else {
		h.obs.Auth(endpoint, "unavailable")
	}
	reply.Error(w, status, code, message)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if s := cookies.From(r); s != nil {
		h.Forget(r.Context(), s)
		h.Revoke(r.Context(), s.RefreshToken)
	}
	h.obs.Auth("logout", "ok")
	h.cookies.Clear(w)
	w.WriteHeader(http.StatusNoContent)
}

// Revoke ends token's session upstream (POST /auth/logout, or the
// provider's revocation endpoint) within the auth timeout, for the logout
// endpoints. A failure is logged, not returned: logging out must clear
// the cookies whatever the upstream says. An empty token does nothing.
func (h *Handler) Revoke(ctx context.Context, token string) {
	if token == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if err := h.client.Revoke(ctx, token); err != nil {
		var e *authclient.Error
		status, code := 0, ""
		if errors.As(err, &e) {
			status, code = e.Status, e.Code
		}
		h.log.Warn("logout: the upstream did not revoke the session; the cookies are cleared anyway",
			"status", status, "error_code", code, "err", err)
	}
}

// post answers 405 with Allow: POST to other methods.
func post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			reply.MethodNotAllowed(w, http.MethodPost)
			return
		}
		h(w, r)
	}
}

// sessionInfo is the answer of GET /api/auth/session.
type sessionInfo struct {
	Authenticated bool `json:"authenticated"`
	// ExpiresAt is the access token's expiry (Unix ms); LifetimeMs its
	// lifetime.
	ExpiresAt  int64 `json:"expiresAt,omitempty"`
	LifetimeMs int64 `json:"lifetimeMs,omitempty"`
	// SessionExpiresAt is when the session cookie expires (Unix ms).
	SessionExpiresAt int64 `json:"sessionExpiresAt,omitempty"`
	// User is the session's claims about the user ({} when none).
	User json.RawMessage `json:"user,omitempty"`
}

// session answers GET /api/auth/session: who is logged in, never a token;
// 200 {"authenticated": false} without a session, so that a page that
// merely asks sees no error.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		reply.MethodNotAllowed(w, "GET, HEAD")
		return
	}
	s := cookies.From(r)
	if s == nil {
		reply.JSON(w, http.StatusOK, sessionInfo{})
		return
	}
	user := s.User
	if user == nil {
		user = json.RawMessage("{}")
	}
	reply.JSON(w, http.StatusOK, sessionInfo{
		Authenticated: true, ExpiresAt: unixMilli(s.Expires), LifetimeMs: s.Lifetime.Milliseconds(),
		SessionExpiresAt: unixMilli(s.NotAfter), User: user,
	})
}

// unixMilli is t in Unix milliseconds, 0 for the zero time (an upstream
// that did not say when its token expires).
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
