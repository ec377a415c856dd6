package oidclogin

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/cookies"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeProvider is go-oidc's test server (discovery and keys) with a token
// endpoint that checks PKCE and the client's credentials, and signs an ID
// token with the claims the test chooses, for each authorization code.
type fakeProvider struct {
	*httptest.Server
	key *rsa.PrivateKey

	mu     sync.Mutex        // protects the fields below
	grants map[string]*grant // by authorization code
	form   url.Values        // the last token request
}

// grant is what the fake provider knows of an authorization code.
type grant struct {
	challenge string // the authorization request's code_challenge
	claims    map[string]any
}

// signingKey is the fake providers' key: one per test binary, since
// generating one takes seconds under -race.
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

func newFakeProvider(t *testing.T, discovery ...map[string]any) *fakeProvider {
	key := signingKey()
	f := &fakeProvider{key: key, grants: map[string]*grant{}}
	disco := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: "RS256"}}}
	mux := http.NewServeMux()
	mux.Handle("/", disco)
	if len(discovery) > 0 { // more fields in the discovery document
		mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			disco.ServeHTTP(rec, r)
			doc := map[string]any{}
			_ = json.Unmarshal(rec.Body.Bytes(), &doc)
			maps.Copy(doc, discovery[0])
			_ = json.NewEncoder(w).Encode(doc)
		})
	}
	mux.HandleFunc("POST /token", f.token)
	f.Server = httptest.NewServer(mux)
	disco.SetIssuer(f.URL)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.form = r.PostForm
	user, pass, _ := r.BasicAuth()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	code := r.PostForm.Get("code")
	g := f.grants[code]
	if user != "app" || pass != "secret" || g == nil || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	}
	delete(f.grants, code) // a code is good once
	claims, _ := json.Marshal(g.claims)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "access-" + code, "refresh_token": "refresh-" + code, "expires_in": 60, "token_type": "Bearer",
		"id_token": oidctest.SignIDToken(f.key, "k1", "RS256", string(claims)),
	})
}

var public, _ = url.Parse("https://app.example")

// wire is a session cookie's name on the wire in secure mode, the tests'.
var wire = cookies.Codec{}.Name

// sessionIn opens the session that jar (cookies by name) holds; nil when
// none opens.
func sessionIn(jar map[string]*http.Cookie) *cookies.Session {
	var cs []*http.Cookie
	for _, c := range jar {
		cs = append(cs, c)
	}
	s, _ := cookies.Codec{}.Open(cs)
	return s
}

// sealed returns the session cookie of a session holding refresh.
func sealed(t *testing.T, refresh string) *http.Cookie {
	t.Helper()
	c := cookies.Codec{}
	jar, err := c.Seal(c.NewSession(authclient.Tokens{RefreshToken: refresh}, ""))
	require.NoError(t, err)
	return jar[0]
}

// guarded is h behind the session codec's Guard, as bff.New serves it.
func guarded(h http.Handler) http.Handler { return cookies.Codec{}.Guard(h) }

func newHandler(t *testing.T, f *fakeProvider) *Handler {
	h, err := discover(Config{
		Issuer: f.URL, ClientID: "app", ClientSecret: "secret", PublicURL: public,
		Transport: http.DefaultTransport, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return h
}

func serve(h http.Handler, target string, cookies ...*http.Cookie) *http.Response {
	r := httptest.NewRequest("GET", target, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// login starts a login and returns the flow cookie and the authorization
// request's parameters, and has f issue the code c1 for it.
func login(t *testing.T, f *fakeProvider, h *Handler, next string) (*http.Cookie, url.Values) {
	t.Helper()
	res := serve(h, "/auth/login?next="+url.QueryEscape(next))
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Len(t, res.Cookies(), 1)
	return res.Cookies()[0], f.authorize(t, "c1", res)
}

// authorize plays the provider's part for the authorization request that
// res redirects to: it will issue code for it, with the ID token claims
// that idClaims sets (by default valid ones with the request's nonce). It
// returns the request's parameters.
func (f *fakeProvider) authorize(t *testing.T, code string, res *http.Response) url.Values {
	t.Helper()
	loc, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, f.URL+"/auth", loc.Scheme+"://"+loc.Host+loc.Path)
	f.mu.Lock()
	f.grants[code] = &grant{challenge: loc.Query().Get("code_challenge")}
	f.mu.Unlock()
	f.idClaims(code, loc.Query().Get("nonce"), nil)
	return loc.Query()
}

// idClaims sets the claims of the ID token for code: valid ones with
// nonce, then change.
func (f *fakeProvider) idClaims(code, nonce string, change func(map[string]any)) {
	c := map[string]any{
		"iss": f.URL, "aud": "app", "sub": "alice", "nonce": nonce,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	if change != nil {
		change(c)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.grants[code]; g != nil {
		g.claims = c
	}
}

func TestLoginRedirect(t *testing.T) {
	f := newFakeProvider(t)
	h := newHandler(t, f)
	res := serve(h, "/auth/login?next=/departments")
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	flow, q := login(t, f, h, "/departments")
	assert.Equal(t, "code", q.Get("response_type"))
	assert.Equal(t, "app", q.Get("client_id"))
	assert.Equal(t, "https://app.example/auth/callback", q.Get("redirect_uri"))
	assert.Equal(t, "openid offline_access", q.Get("scope"))
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.Len(t, q.Get("code_challenge"), 43)
	assert.Len(t, q.Get("state"), 43)
	assert.Len(t, q.Get("nonce"), 43)

	assert.Equal(t, flowName("__Host-fwr-oidc-flow-", q.Get("state")), flow.Name)
	assert.Regexp(t, `^__Host-fwr-oidc-flow-[A-Za-z0-9_-]{16}$`, flow.Name)
	assert.NotContains(t, q, "audience", "only when configured")
	assert.True(t, flow.HttpOnly)
	assert.True(t, flow.Secure)
	assert.Equal(t, http.SameSiteLaxMode, flow.SameSite, "sent on the provider's redirect back")
	assert.Equal(t, "/", flow.Path)
	assert.Equal(t, int(flowTTL/time.Second), flow.MaxAge)
	assert.NotContains(t, flow.Value, q.Get("state"), "the cookie is sealed")
}

func TestCallback(t *testing.T) {
	tests := []struct {
		name     string
		next     string
		claims   func(map[string]any)
		wantNext string // "" when the callback must fail
	}{
		{"logs in", "/departments?x=1", nil, "/departments?x=1"},
		{"next on another origin", "//evil.example/x", nil, "/"},
		{"next with a backslash", `/\evil.example`, nil, "/"},
		{"ID token for another client", "/", func(c map[string]any) { c["aud"] = "other" }, ""},
		{"ID token from another issuer", "/", func(c map[string]any) { c["iss"] = "https://evil.example" }, ""},
		{"expired ID token", "/", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, ""},
		{"wrong nonce", "/", func(c map[string]any) { c["nonce"] = "other" }, ""},
		{"at_hash of another access token", "/", func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }, ""},
		{"issued in the future", "/", func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }, ""},
		{"issued a moment ahead (clock skew)", "/", func(c map[string]any) { c["iat"] = time.Now().Add(30 * time.Second).Unix() }, "/"},
		{"several audiences, no azp", "/", func(c map[string]any) { c["aud"] = []string{"app", "other"} }, ""},
		{"several audiences, azp another client", "/", func(c map[string]any) { c["aud"] = []string{"app", "other"}; c["azp"] = "other" }, ""},
		{"several audiences, azp this client", "/", func(c map[string]any) { c["aud"] = []string{"app", "other"}; c["azp"] = "app" }, "/"},
		{"azp another client", "/", func(c map[string]any) { c["azp"] = "other" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeProvider(t)
			h := newHandler(t, f)
			flow, q := login(t, f, h, tt.next)
			f.idClaims("c1", q.Get("nonce"), tt.claims)
			res := serve(h, "/auth/callback?code=c1&state="+url.QueryEscape(q.Get("state")), flow)

			f.mu.Lock()
			assert.Equal(t, "authorization_code", f.form.Get("grant_type"))
			assert.Equal(t, "c1", f.form.Get("code"))
			assert.Equal(t, "https://app.example/auth/callback", f.form.Get("redirect_uri"))
			f.mu.Unlock()
			jar := map[string]*http.Cookie{}
			for _, c := range res.Cookies() {
				jar[c.Name] = c
			}
			require.Contains(t, jar, flow.Name)
			assert.Negative(t, jar[flow.Name].MaxAge, "the flow is spent")
			if tt.wantNext == "" {
				assert.Equal(t, http.StatusBadRequest, res.StatusCode)
				assert.Nil(t, sessionIn(jar), "no session")
				return
			}
			assert.Equal(t, http.StatusSeeOther, res.StatusCode)
			assert.Equal(t, tt.wantNext, res.Header.Get("Location"))
			s := sessionIn(jar)
			require.NotNil(t, s, "the session is set")
			assert.Equal(t, "access-c1", s.AccessToken)
			assert.Equal(t, "refresh-c1", s.RefreshToken)
			assert.Equal(t, "alice", s.Subject, "the ID token's sub")
			assert.Contains(t, string(s.User), `"sub":"alice"`, "its claims")
		})
	}
}

// An error from the provider shows its code, never the description that
// anyone can put in a link.
func TestCallbackWithProviderError(t *testing.T) {
	f := newFakeProvider(t)
	h := newHandler(t, f)
	flow, q := login(t, f, h, "/")
	for _, tt := range []struct{ code, want string }{
		{"access_denied", "access_denied"},
		{"<script>", "invalid error code"},
	} {
		res := serve(h, "/auth/callback?error="+url.QueryEscape(tt.code)+"&error_description=Call+0800+now&state="+q.Get("state"), flow)
		body, _ := io.ReadAll(res.Body)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode)
		assert.Contains(t, string(body), tt.want)
		assert.NotContains(t, string(body), "0800")
		assert.NotContains(t, string(body), "<script>")
	}
}

// A link on another site does not log anyone out.
func TestLogoutFromAnotherSite(t *testing.T) {
	f := newFakeProvider(t)
	h := newHandler(t, f)
	for site, clears := range map[string]bool{"cross-site": false, "same-site": false, "same-origin": true, "none": true, "": true} {
		r := httptest.NewRequest("GET", "/auth/logout", nil)
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		r.AddCookie(sealed(t, "r"))
		w := httptest.NewRecorder()
		guarded(h).ServeHTTP(w, r)
		assert.Equal(t, http.StatusSeeOther, w.Code, site)
		assert.Equal(t, clears, len(w.Result().Cookies()) > 0, "Sec-Fetch-Site %q", site)
	}
}

func TestLogoutWithoutEndSession(t *testing.T) {
	f := newFakeProvider(t) // no revocation or end_session endpoint
	h := newHandler(t, f)
	res := serve(guarded(h), "/auth/logout", sealed(t, "r"))
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/", res.Header.Get("Location"))
	for _, c := range res.Cookies() {
		assert.Negative(t, c.MaxAge, c.Name)
	}
}

func TestDiscoveryFailure(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	defer dead.Close()
	_, err := discover(Config{Issuer: dead.URL, ClientID: "app", PublicURL: public, Transport: http.DefaultTransport})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "discovery")
	_, err = discover(Config{Issuer: dead.URL})
	require.Error(t, err)
}

// Security round 3's hardening (RFC 9207, the mix-up defence): a callback
// whose iss is not the provider's is refused with no session, and so is one
// without iss from a provider that says it sends it.
func TestCallbackIssuerParameter(t *testing.T) {
	tests := []struct {
		name      string
		advertise bool
		iss       func(f *fakeProvider) string // "": no iss parameter
		ok        bool
	}{
		{"not advertised, absent", false, nil, true},
		{"not advertised, this issuer", false, func(f *fakeProvider) string { return f.URL }, true},
		{"not advertised, another issuer", false, func(*fakeProvider) string { return "https://evil.example" }, false},
		{"advertised, this issuer", true, func(f *fakeProvider) string { return f.URL }, true},
		{"advertised, absent", true, nil, false},
		{"advertised, another issuer", true, func(*fakeProvider) string { return "https://evil.example" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeProvider(t, map[string]any{"authorization_response_iss_parameter_supported": tt.advertise})
			h := newHandler(t, f)
			flow, q := login(t, f, h, "/")
			target := "/auth/callback?code=c1&state=" + url.QueryEscape(q.Get("state"))
			if tt.iss != nil {
				target += "&iss=" + url.QueryEscape(tt.iss(f))
			}
			res := serve(h, target, flow)
			jar := map[string]*http.Cookie{}
			for _, c := range res.Cookies() {
				jar[c.Name] = c
			}
			if tt.ok {
				assert.Equal(t, http.StatusSeeOther, res.StatusCode)
				assert.NotNil(t, sessionIn(jar))
				return
			}
			assert.Equal(t, http.StatusBadRequest, res.StatusCode)
			assert.Nil(t, sessionIn(jar), "no session cookies")
		})
	}
}
