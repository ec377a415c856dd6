// Package oidclogin is the server's OpenID Connect mode: the browser logs
// in at an OpenID provider with the authorization code flow and PKCE, and
// the BFF keeps the provider's tokens in the same cookies as a password
// login. Refresh and logout go through the authclient.OAuth that Discover
// returns (the provider's token and revocation endpoints), behind the same
// /api/auth endpoints as the JSON contract.
//
//	GET /auth/login?next=/path  302 to the provider's authorization endpoint, with PKCE (S256),
//	                            state and nonce in a short-lived sealed cookie
//	GET /auth/callback          checks state, redeems the code, verifies the ID token and its
//	                            nonce, sets the session cookies, 303 to next (same origin only);
//	                            anything wrong: a 400 page and no session cookies
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
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/fetch-with-refresh/fetch-with-refresh/cmd/internal/session"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/authclient"
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
	// PublicURL is the server's external base URL: the redirect URI is
	// {PublicURL}/auth/callback, and next must be on its origin.
	PublicURL *url.URL
	// Transport makes every call to the provider.
	Transport http.RoundTripper
	// Timeout bounds each call to the provider. If zero, 10 seconds.
	Timeout time.Duration
	// Cookies sets the session cookies, as the password login does.
	Cookies session.Cookies
	// Observe, if not nil, is told how long each token call took.
	Observe func(time.Duration)
	// Log receives what the pages cannot say. If nil, slog.Default().
	Log *slog.Logger
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Handler serves /auth/login, /auth/callback and /auth/logout. Create one
// with Discover.
type Handler struct {
	cfg        Config
	oauth      oauth2.Config // for the authorization URL only
	client     *authclient.OAuth
	verifier   *oidc.IDTokenVerifier
	endSession string // the provider's end_session_endpoint, or ""
	seal       *sealer
	flowName   string // the flow cookie's name
	mux        *http.ServeMux
}

// metadata is the part of the discovery document that go-oidc leaves out.
type metadata struct {
	RevocationEndpoint   string   `json:"revocation_endpoint"`
	EndSessionEndpoint   string   `json:"end_session_endpoint"`
	TokenAuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
}

// Discover reads the provider's discovery document and returns the
// Handler, whose Client refreshes and revokes at that provider.
func Discover(ctx context.Context, cfg Config) (*Handler, error) {
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
	// go-oidc fetches the discovery document and, later, the signing keys
	// with this client; the keys are fetched with no request's context.
	httpClient := &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, httpClient), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidclogin: discovery at %s: %w", cfg.Issuer, err)
	}
	var meta metadata
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidclogin: discovery document: %w", err)
	}
	if len(meta.CodeChallengeMethods) > 0 && !slices.Contains(meta.CodeChallengeMethods, "S256") {
		return nil, errors.New("oidclogin: the provider does not support PKCE with S256")
	}
	method, err := authMethod(cfg.ClientSecret, meta.TokenAuthMethods)
	if err != nil {
		return nil, err
	}
	seal, err := newSealer(cfg.ClientSecret)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: cfg,
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, Endpoint: provider.Endpoint(), Scopes: cfg.Scopes,
			RedirectURL: cfg.PublicURL.JoinPath("auth/callback").String(),
		},
		client: &authclient.OAuth{
			HTTP:     authclient.HTTP{Transport: cfg.Transport, Timeout: cfg.Timeout, Now: cfg.Now, Observe: cfg.Observe},
			TokenURL: provider.Endpoint().TokenURL, RevocationURL: meta.RevocationEndpoint,
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, AuthMethod: method,
		},
		verifier:   provider.VerifierContext(oidc.ClientContext(context.Background(), httpClient), &oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now}),
		endSession: meta.EndSessionEndpoint,
		seal:       seal,
		flowName:   "fwr-oidc-flow",
		mux:        http.NewServeMux(),
	}
	if !cfg.Cookies.Insecure {
		h.flowName = "__Host-" + h.flowName
	}
	h.mux.HandleFunc("GET /auth/login", h.login)
	h.mux.HandleFunc("GET /auth/callback", h.callback)
	h.mux.HandleFunc("GET /auth/logout", h.logout)
	return h, nil
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
// authclient.Client, for bff.Config.Client.
func (h *Handler) Client() authclient.Client { return h.client }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	f := flow{
		State:    random(32),
		Nonce:    random(32),
		Verifier: oauth2.GenerateVerifier(),
		Next:     safeNext(h.cfg.PublicURL, r.URL.Query().Get("next")),
		Expires:  h.cfg.Now().Add(flowTTL).Unix(),
	}
	http.SetCookie(w, flowCookie(h.flowName, h.seal.seal(h.flowName, f), int(flowTTL/time.Second), h.cfg.Cookies.Insecure))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, h.oauth.AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier), oidc.Nonce(f.Nonce)), http.StatusFound)
}

// callback finishes a login. Whatever happens, the flow cookie is spent:
// a state or a code is good for one try.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, flowCookie(h.flowName, "", -1, h.cfg.Cookies.Insecure))
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		h.fail(w, "the provider refused the login: "+e+" "+q.Get("error_description"), nil)
		return
	}
	ck, err := r.Cookie(h.flowName)
	if err != nil {
		h.fail(w, "no login in progress in this browser (start again)", errBadFlow)
		return
	}
	f, err := h.seal.open(h.flowName, ck.Value, h.cfg.Now())
	if err != nil {
		h.fail(w, "the login in progress is invalid or has expired (start again)", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		h.fail(w, "the state does not match the login in progress", errors.New("oidclogin: state mismatch"))
		return
	}
	tokens, rawID, err := h.client.Exchange(r.Context(), q.Get("code"), f.Verifier, h.oauth.RedirectURL)
	if err != nil {
		h.fail(w, "the provider did not accept the authorization code", err)
		return
	}
	id, err := h.verifier.Verify(r.Context(), rawID)
	if err != nil {
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
	h.cfg.Log.Info("oidc login", "sub", id.Subject)
	h.cfg.Cookies.Set(w, tokens)
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if token := session.Read(r, session.RefreshCookie); token != "" {
		if err := h.client.Revoke(r.Context(), token); err != nil {
			h.cfg.Log.Warn("logout: the provider did not revoke the session; the cookies are cleared anyway", "err", err)
		}
	}
	h.cfg.Cookies.Clear(w)
	w.Header().Set("Cache-Control", "no-store")
	target := "/"
	if h.endSession != "" {
		u, err := url.Parse(h.endSession)
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
// cookies. err, if any, is logged (it never holds a token).
func (h *Handler) fail(w http.ResponseWriter, reason string, err error) {
	h.cfg.Log.Warn("oidc callback refused", "reason", reason, "err", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
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
