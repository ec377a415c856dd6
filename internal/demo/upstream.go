// Package upstream is the embedded demo upstream: an API with its own auth
// server that implements the upstream contract (README, "Upstream
// contract"), so that the demo needs nothing else running.
//
//	POST /auth/login    {username, password} -> 200 {accessToken, refreshToken, expiresIn}
//	POST /auth/refresh  {refreshToken}       -> 200 {...}, or 401 {"error": "invalid_grant"}
//	POST /auth/logout   {refreshToken}       -> 204: the token's family is revoked (also
//	                                            when the token is unknown or already spent)
//	GET  /departments   (Bearer)             -> [{id, name}]
//	POST /echo          (Bearer)             -> the request body and content type back
//	                                            (any method; X-Echo-Method names it)
//	POST /demo/expire   (Bearer, expired ok) -> 204: the session's access tokens expire now
//	POST /demo/revoke   (Bearer, expired ok) -> 204: the session is revoked
//	GET  /demo/stats                         -> the token store's counters
//
// Access tokens are random and short-lived; refresh tokens rotate on every
// use, and a reused one revokes its whole family (RFC 9700 §4.14.2) unless
// it comes within the grace window. Everything is in memory and safe for
// concurrent use.
package demo

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
)

// Config configures a Server.
type Config struct {
	// AccessTTL is the access tokens' lifetime. If zero, one minute.
	AccessTTL time.Duration
	// RefreshTTL is the refresh tokens' lifetime. If zero, 24 hours.
	RefreshTTL time.Duration
	// Grace is how long a rotated refresh token may be used again and get
	// the same successor pair. Zero: any reuse revokes the family.
	Grace time.Duration
	// NoRotate hands the same refresh token back on refresh, with a new
	// access token, as an upstream without rotation does (Keycloak's
	// default). Reuse is then not detected.
	NoRotate bool
	// Users maps user names to passwords. If nil, demo / demo.
	Users map[string]string
	// AccessTokenBytes and RefreshTokenBytes are the tokens' sizes. If
	// zero, 43 bytes (256 random bits); larger tokens are padded, as an
	// identity provider's JWTs with many claims are (4–8 KB).
	AccessTokenBytes, RefreshTokenBytes int
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Server is the demo upstream; it is an http.Handler.
type Server struct {
	users  map[string]string
	tokens *store
	mux    *http.ServeMux
}

// New returns a Server for cfg, filling in the documented defaults.
func New(cfg Config) *Server {
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = time.Minute
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 24 * time.Hour
	}
	if cfg.Users == nil {
		cfg.Users = map[string]string{"demo": "demo"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		users:  cfg.Users,
		tokens: newStore(cfg.AccessTTL, cfg.RefreshTTL, cfg.Grace, cfg.Now),
		mux:    http.NewServeMux(),
	}
	s.tokens.noRotate = cfg.NoRotate
	s.tokens.accessBytes, s.tokens.refreshBytes = cfg.AccessTokenBytes, cfg.RefreshTokenBytes
	s.mux.HandleFunc("POST /auth/login", s.login)
	s.mux.HandleFunc("POST /auth/refresh", s.refresh)
	s.mux.HandleFunc("POST /auth/logout", s.logout)
	s.mux.HandleFunc("GET /departments", s.authorized(s.departments))
	s.mux.HandleFunc("/echo", s.authorized(s.echo))
	s.mux.HandleFunc("POST /demo/expire", s.session(s.tokens.expireAccess))
	s.mux.HandleFunc("POST /demo/revoke", s.session(s.tokens.revoke))
	s.mux.HandleFunc("GET /demo/stats", func(w http.ResponseWriter, r *http.Request) {
		reply.JSON(w, http.StatusOK, s.tokens.snapshot())
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Stats returns the token store's counters.
func (s *Server) Stats() Stats { return s.tokens.snapshot() }

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !reply.Decode(w, r, &in) {
		return
	}
	if pw, ok := s.users[in.Username]; !ok || in.Username == "" || pw != in.Password {
		reply.Error(w, http.StatusUnauthorized, "invalid_credentials", "unknown user or wrong password")
		return
	}
	t := s.tokens.login(in.Username)
	// The contract's optional user object: the BFF keeps the claims it is
	// told to (-session-claims) for GET /api/auth/session.
	t.User = map[string]any{"sub": in.Username, "name": "Demo User (" + in.Username + ")", "email": in.Username + "@example.com"}
	reply.JSON(w, http.StatusOK, t)
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RefreshToken string `json:"refreshToken"`
	}
	if !reply.Decode(w, r, &in) {
		return
	}
	t, err := s.tokens.rotate(in.RefreshToken)
	if err != nil {
		reply.Error(w, http.StatusUnauthorized, "invalid_grant", err.Error())
		return
	}
	reply.JSON(w, http.StatusOK, t)
}

// logout revokes the family of a refresh token: its access tokens stop
// working and none of its refresh tokens refreshes again. Like RFC 7009, it
// answers the same whether the token was known or not.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RefreshToken string `json:"refreshToken"`
	}
	if !reply.Decode(w, r, &in) {
		return
	}
	s.tokens.logout(in.RefreshToken)
	w.WriteHeader(http.StatusNoContent)
}

// Department is one row of GET /departments.
type Department struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

var departments = []Department{
	{1, "Engineering"}, {2, "Design"}, {3, "Sales"}, {4, "Support"}, {5, "Finance"},
}

func (s *Server) departments(w http.ResponseWriter, r *http.Request, user string) {
	reply.JSON(w, http.StatusOK, departments)
}

// echo answers with the request's body and content type, read in full
// first (a body streamed into the response fails on Workers).
func (s *Server) echo(w http.ResponseWriter, r *http.Request, user string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, reply.MaxBody))
	if err != nil {
		reply.BodyError(w, err, "the body could not be read")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("X-Echo-Method", r.Method)
	_, _ = w.Write(body)
}

// authorized wraps a resource: a valid bearer token or 401.
func (s *Server) authorized(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, err := s.tokens.user(bearer(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			reply.Error(w, http.StatusUnauthorized, "invalid_token", err.Error())
			return
		}
		h(w, r, user)
	}
}

// session wraps a demo action on the bearer token's session, expired or not.
func (s *Server) session(action func(token string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := action(bearer(r)); err != nil {
			reply.Error(w, http.StatusUnauthorized, "invalid_token", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return h[len(prefix):]
}
