// Package oidclogin is the server's OpenID Connect mode: the browser logs
// in at an OpenID provider with the authorization code flow and PKCE, and
// the BFF keeps the provider's tokens in the same cookies as a password
// login. Refresh and logout go through the authclient.OAuth that Discover
// returns (the provider's token and revocation endpoints), behind the same
// /api/auth endpoints as the JSON contract.
//
//	GET /auth/login?next=/path  302 to the provider's authorization endpoint, with PKCE (S256),
//	                            state and nonce in a short-lived sealed cookie of its own (one
//	                            per login in progress, named after its state, 5 at most)
//	GET /auth/callback          finds the login by its state, redeems the code, verifies the ID
//	                            token and its nonce, sets the session cookies, 303 to next (same
//	                            origin only); anything wrong: a 400 page and no session cookies
//	GET /auth/logout            revokes the refresh token, clears the cookies, and sends the
//	                            browser to the provider's end_session_endpoint when it has one
//
// It imports go-oidc and x/oauth2, and only the native server imports it:
// the Workers build stays without them.
package oidclogin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"golang.org/x/oauth2"
)

// DefaultScopes are the scopes asked for when Config.Scopes is empty:
// offline_access is what most providers want before they issue a refresh
// token.
var DefaultScopes = []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}

// Config configures a Handler. Issuer, ClientID, PublicURL and Transport
// are required.
type Config struct {
	// Issuer is the provider's issuer URL; discovery reads
	// {Issuer}/.well-known/openid-configuration.
	Issuer string
	// ClientID and ClientSecret are the client's credentials at the
	// provider; without a secret the client is public.
	ClientID, ClientSecret string
	// Scopes are asked for at login. If empty, DefaultScopes.
	Scopes []string
	// Audience, if not empty, is sent as the authorization request's
	// audience parameter: Auth0 issues a JWT access token for the API it
	// names (without it, an opaque token for its userinfo endpoint).
	Audience string
	// PublicURL is the server's external base URL: the redirect URI is
	// {PublicURL}/auth/callback, and next must be on its origin.
	PublicURL *url.URL
	// Transport makes every call to the provider.
	Transport http.RoundTripper
	// Timeout bounds each call to the provider. If zero, 10 seconds.
	Timeout time.Duration
	// Cookies sets the session cookies, as the password login does.
	Cookies cookies.Codec
	// Observe, if not nil, is told how long each token call took.
	Observe func(time.Duration)
	// Log receives what the pages cannot say. If nil, slog.Default().
	Log *slog.Logger
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Ended, if not nil, is told of a session that a logout ends, before
	// its refresh token is revoked.
	Ended func(context.Context, *cookies.Session)
}

// Handler serves /auth/login, /auth/callback and /auth/logout. Create one
// with New or Discover.
type Handler struct {
	cfg         Config
	redirectURI string
	seal        *sealer
	flowPrefix  string // the start of every flow cookie's name
	mux         *http.ServeMux

	mu sync.Mutex // protects p; held during discovery
	p  *provider  // nil until discovered
}

// New returns the Handler for cfg without calling the provider: discovery
// happens at first use, and again after a failure. (On Workers every
// request runs a fresh instance; only those that need the provider pay
// for discovery.)
func New(cfg Config) (*Handler, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.PublicURL == nil || cfg.Transport == nil {
		return nil, errors.New("oidclogin: Issuer, ClientID, PublicURL and Transport are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seal, err := newSealer(cfg.ClientSecret)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg:         cfg,
		redirectURI: cfg.PublicURL.JoinPath("auth/callback").String(),
		seal:        seal,
		flowPrefix:  flowPrefix,
		mux:         http.NewServeMux(),
	}
	if !cfg.Cookies.Insecure {
		h.flowPrefix = "__Host-" + h.flowPrefix
	}
	h.mux.HandleFunc("GET /auth/login", h.login)
	h.mux.HandleFunc("GET /auth/callback", h.callback)
	h.mux.HandleFunc("GET /auth/logout", h.logout)
	return h, nil
}

// Discover reads the provider's discovery document now (New leaves it
// to the first use), so that a server fails at start-up when the provider
// is wrong or unreachable.
func (h *Handler) Discover(ctx context.Context) error {
	_, err := h.provider(ctx)
	return err
}

// provider returns what discovery found, discovering first if needed.
func (h *Handler) provider(ctx context.Context) (*provider, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.p == nil {
		p, err := h.discover(ctx)
		if err != nil {
			return nil, err
		}
		h.p = p
	}
	return h.p, nil
}

// authMethod picks how the client authenticates at the token endpoint:
// client_secret_basic (the default when the provider lists none), else
// client_secret_post; none for a public client.
func authMethod(secret string, supported []string) (string, error) {
	if secret == "" {
		return authclient.AuthNone, nil
	}
	for _, m := range []string{authclient.AuthBasic, authclient.AuthPost} {
		if len(supported) == 0 || slices.Contains(supported, m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("oidclogin: the provider supports none of client_secret_basic, client_secret_post (it lists %v)", supported)
}

// Client returns the provider's token and revocation endpoints as an
// authclient.Client, for bff.Config.Client. A discovery that fails is an
// *authclient.Error of kind refresh.ErrUnavailable: the session is kept.
func (h *Handler) Client() authclient.Client { return client{h} }

// client is Handler.Client.
type client struct{ h *Handler }

func (c client) Refresh(ctx context.Context, refreshToken string) (authclient.Tokens, error) {
	p, err := c.h.provider(ctx)
	if err != nil {
		return authclient.Tokens{}, &authclient.Error{Kind: refresh.ErrUnavailable, Err: err}
	}
	return p.client.Refresh(ctx, refreshToken)
}

func (c client) Revoke(ctx context.Context, refreshToken string) error {
	p, err := c.h.provider(ctx)
	if err != nil {
		return &authclient.Error{Kind: refresh.ErrUnavailable, Err: err}
	}
	return p.client.Revoke(ctx, refreshToken)
}

// errorCode reports whether s looks like an OAuth error code (RFC 6749
// §4.1.2.1: printable ASCII; in practice lower case and underscores).
func errorCode(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	p, err := h.provider(r.Context())
	if err != nil {
		h.page(w, http.StatusBadGateway, "the identity provider could not be reached; try again", err)
		return
	}
	now := h.cfg.Now()
	for _, name := range stale(h.seal.flowCookies(r, h.flowPrefix, now)) {
		http.SetCookie(w, flowCookie(name, "", -1, h.cfg.Cookies.Insecure))
	}
	f := flow{
		State:    random(32),
		Nonce:    random(32),
		Verifier: oauth2.GenerateVerifier(),
		Next:     safeNext(r.URL.Query().Get("next")),
		Expires:  now.Add(flowTTL).Unix(),
	}
	name := flowName(h.flowPrefix, f.State)
	http.SetCookie(w, flowCookie(name, h.seal.seal(name, f), int(flowTTL/time.Second), h.cfg.Cookies.Insecure))
	w.Header().Set("Cache-Control", "no-store")
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier), oidc.Nonce(f.Nonce)}
	if h.cfg.Audience != "" {
		opts = append(opts, oauth2.SetAuthURLParam("audience", h.cfg.Audience))
	}
	http.Redirect(w, r, p.oauth.AuthCodeURL(f.State, opts...), http.StatusFound)
}

// callback finishes the login whose state the provider sent back; other
// logins in progress in the browser keep their flow cookies. Whatever
// happens, this login's flow cookie is spent: a state or a code is good
// for one try.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := flowName(h.flowPrefix, q.Get("state"))
	ck, noFlow := r.Cookie(name)
	if noFlow == nil {
		http.SetCookie(w, flowCookie(name, "", -1, h.cfg.Cookies.Insecure))
	}
	if e := q.Get("error"); e != "" {
		// Only a well-formed code reaches the page: anyone can send a
		// browser here with any text in error_description.
		if !errorCode(e) {
			e = "invalid error code"
		}
		h.fail(w, "the provider refused the login: "+e, fmt.Errorf("oidclogin: %.200q", q.Get("error_description")))
		return
	}
	if noFlow != nil {
		if len(h.seal.flowCookies(r, h.flowPrefix, h.cfg.Now())) > 0 {
			h.fail(w, "the state does not match any login in progress", errors.New("oidclogin: state mismatch"))
			return
		}
		h.fail(w, "no login in progress in this browser (start again)", errBadFlow)
		return
	}
	f, err := h.seal.open(name, ck.Value, h.cfg.Now())
	if err != nil {
		h.fail(w, "the login in progress is invalid or has expired (start again)", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		h.fail(w, "the state does not match the login in progress", errors.New("oidclogin: state mismatch"))
		return
	}
	p, err := h.provider(r.Context())
	if err != nil {
		h.page(w, http.StatusBadGateway, "the identity provider could not be reached; log in again", err)
		return
	}
	// RFC 9207 (mix-up defence): a provider that says it sends iss is held
	// to it, and a present iss must be this provider's.
	if iss, sent := q["iss"]; (p.issParam || sent) && (len(iss) != 1 || iss[0] != p.issuer) {
		h.fail(w, "the authorization response names another issuer", errors.New("oidclogin: iss mismatch"))
		return
	}
	tokens, rawID, err := p.client.Exchange(r.Context(), q.Get("code"), f.Verifier, h.redirectURI)
	if err != nil {
		h.fail(w, "the provider did not accept the authorization code", err)
		return
	}
	id, err := p.verifier.Verify(r.Context(), rawID)
	if err != nil {
		h.fail(w, "the ID token is not valid", err)
		return
	}
	if err := h.checkIDToken(id); err != nil {
		h.fail(w, "the ID token is not valid", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(f.Nonce)) != 1 {
		h.fail(w, "the ID token's nonce does not match the login in progress", errors.New("oidclogin: nonce mismatch"))
		return
	}
	if id.AccessTokenHash != "" {
		if err := id.VerifyAccessToken(tokens.AccessToken); err != nil {
			h.fail(w, "the access token does not match the ID token", err)
			return
		}
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		h.fail(w, "the ID token's claims do not decode", err)
		return
	}
	tokens.User = claims
	sid, _ := claims["sid"].(string) // the provider's session: back-channel logout names it
	if err := h.cfg.Cookies.Set(w, r, h.cfg.Cookies.NewSession(tokens, sid)); err != nil {
		h.page(w, http.StatusBadGateway, "the provider's tokens are too large for the session cookies", err)
		return
	}
	h.cfg.Log.Info("oidc login", "sub", id.Subject)
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// logout ends the session here and at the provider. Only a navigation
// from this origin or by the user (Sec-Fetch-Site same-origin or none, or
// a browser that does not send it) logs out: a link on another site would
// otherwise end anyone's session (logout CSRF), since a top-level
// navigation may clear SameSite=Strict cookies.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p, err := h.provider(r.Context())
	if s := cookies.From(r); s != nil && s.RefreshToken != "" {
		if h.cfg.Ended != nil {
			h.cfg.Ended(r.Context(), s)
		}
		if err == nil {
			// Bounded: a provider that does not answer must not hold the
			// browser's navigation (on Workers a request has no deadline).
			ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
			err = p.client.Revoke(ctx, s.RefreshToken)
			cancel()
		}
		if err != nil {
			h.cfg.Log.Warn("logout: the provider did not revoke the session; the cookies are cleared anyway", "err", err)
		}
	}
	h.cfg.Cookies.Clear(w)
	w.Header().Set("Cache-Control", "no-store")
	target := "/"
	if p != nil && p.endSession != "" {
		u, err := url.Parse(p.endSession)
		if err == nil {
			q := u.Query()
			q.Set("client_id", h.cfg.ClientID)
			q.Set("post_logout_redirect_uri", h.cfg.PublicURL.JoinPath("/").String())
			u.RawQuery = q.Encode()
			target = u.String()
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// fail answers a callback that cannot log in: a 400 page, no session
// cookies.
func (h *Handler) fail(w http.ResponseWriter, reason string, err error) {
	h.page(w, http.StatusBadRequest, reason, err)
}

// page answers status with the failure page. err, if any, is logged (it
// never holds a token).
func (h *Handler) page(w http.ResponseWriter, status int, reason string, err error) {
	h.cfg.Log.Warn("oidc login failed", "status", status, "reason", reason, "err", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, strings.Replace(failPage, "{{reason}}", html.EscapeString(reason), 1)) // the status is out: a failed write has no one to tell
}

// failPage is the 400 page of a refused callback.
const failPage = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Login failed · fetch-with-refresh</title>
  <link rel="stylesheet" href="/style.css">
</head>
<body>
  <main>
    <section class="card">
      <h1>Login failed</h1>
      <p class="bad" id="reason">{{reason}}</p>
      <p><a href="/auth/login">Log in again</a></p>
    </section>
  </main>
</body>
</html>
`

// iatLeeway is how far in the future an ID token's iat may be: clocks
// differ a little, not more.
const iatLeeway = time.Minute

// checkIDToken applies what go-oidc's verifier leaves to the client: an
// iat not in the future (beyond iatLeeway), and the azp rule of OpenID
// Connect Core 3.1.3.7 (several audiences need azp; a present azp must be
// this client).
func (h *Handler) checkIDToken(id *oidc.IDToken) error {
	if id.IssuedAt.After(h.cfg.Now().Add(iatLeeway)) {
		return errors.New("oidclogin: the ID token was issued in the future")
	}
	var claims struct {
		Azp string `json:"azp"`
	}
	if err := id.Claims(&claims); err != nil {
		return err
	}
	if (len(id.Audience) > 1 || claims.Azp != "") && claims.Azp != h.cfg.ClientID {
		return errors.New("oidclogin: the ID token's azp is not this client")
	}
	return nil
}
