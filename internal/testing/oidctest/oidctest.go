// Package oidctest runs a real OpenID Provider, oidc-provider from npm
// (provider/provider.mjs), on a free loopback port for the OIDC-mode tests,
// and speaks to it as a test needs: token introspection, revocation, and
// the provider's own count of token-endpoint grants.
//
// The tests (build tag oidc: `make test-oidc`) drive the server's OIDC mode
// in headless Chromium against it.
package oidctest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/fetch-with-refresh/fetch-with-refresh/internal/testing/syncbuf"
)

// Client credentials of the provider's one client.
const (
	ClientID     = "fwr"
	ClientSecret = "fwr-secret"
)

// Provider is a running oidc-provider.
type Provider struct {
	// Issuer is its issuer URL, http://127.0.0.1:port.
	Issuer string

	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
}

// Config configures StartProvider.
type Config struct {
	// Dir is the folder of provider.mjs, with its node_modules installed.
	Dir string
	// Servers are the base URLs of the servers the client logs in to: each
	// one's /auth/callback and / are registered as the client's redirect
	// and post-logout redirect URIs.
	Servers []string
	// AccessTTL is the access tokens' lifetime.
	AccessTTL time.Duration
	// JWTClaimsBytes, if not zero, makes the access tokens JWTs carrying
	// that many bytes of claims (JWT_CLAIMS_BYTES).
	JWTClaimsBytes int
}

// ErrNotInstalled says how to install the provider.
var ErrNotInstalled = errors.New("oidctest: oidc-provider is not installed: run `make test-oidc` (it runs npm ci in internal/testing/oidctest/provider)")

// StartProvider starts the provider and waits until it listens.
func StartProvider(cfg Config) (*Provider, error) {
	if _, err := os.Stat(filepath.Join(cfg.Dir, "node_modules", "oidc-provider")); err != nil {
		return nil, ErrNotInstalled
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("oidctest: node is missing: %w", err)
	}
	p := &Provider{stderr: &syncbuf.Buffer{}}
	p.cmd = exec.Command(node, "provider.mjs")
	p.cmd.Dir = cfg.Dir
	var redirects, logouts []string
	for _, s := range cfg.Servers {
		redirects, logouts = append(redirects, s+"/auth/callback"), append(logouts, s+"/")
	}
	p.cmd.Env = append(os.Environ(),
		"REDIRECT_URI="+strings.Join(redirects, " "),
		"POST_LOGOUT_REDIRECT_URI="+strings.Join(logouts, " "),
		"CLIENT_ID="+ClientID, "CLIENT_SECRET="+ClientSecret,
		fmt.Sprintf("ACCESS_TTL=%d", int(cfg.AccessTTL/time.Second)),
		fmt.Sprintf("JWT_CLAIMS_BYTES=%d", cfg.JWTClaimsBytes),
	)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		if err != nil {
			ready <- fmt.Errorf("oidctest: the provider exited before listening: %w\n%s", err, p.stderr.String())
			return
		}
		var out struct{ Issuer string }
		if err := json.Unmarshal(line, &out); err != nil || out.Issuer == "" {
			ready <- fmt.Errorf("oidctest: unexpected first line %q", line)
			return
		}
		p.Issuer = out.Issuer
		ready <- nil
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = errors.New("oidctest: the provider did not start within 30 s\n" + p.stderr.String())
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// Stats is the provider's count of token-endpoint grants, from its
// grant.success and grant.error events.
type Stats struct {
	Refresh      int `json:"refresh"`      // successful refresh_token grants
	RefreshError int `json:"refreshError"` // refused ones
	Code         int `json:"code"`         // successful authorization_code grants
	CodeError    int `json:"codeError"`    // refused ones
}

// Stats returns the provider's counts.
func (p *Provider) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Issuer+"/_test/stats", nil)
	if err != nil {
		return s, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	return s, json.NewDecoder(res.Body).Decode(&s)
}

// Active asks the introspection endpoint (RFC 7662) whether token is
// active, as the client.
func (p *Provider) Active(ctx context.Context, token string) (bool, error) {
	res, err := p.post(ctx, "/token/introspection", url.Values{"token": {token}})
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection: %s", res.Status)
	}
	err = json.NewDecoder(res.Body).Decode(&out)
	return out.Active, err
}

func (p *Provider) post(ctx context.Context, path string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(ClientID, ClientSecret)
	return http.DefaultClient.Do(req)
}

// API is a resource server for the tests: GET /departments answers 200
// to a bearer token that the provider's introspection calls active and
// that Expire has not expired, 401 otherwise. Create one with
// Provider.API.
type API struct {
	p    *Provider
	keys *oidc.RemoteKeySet // the provider's signing keys, for its JWT access tokens

	mu      sync.Mutex // protects expired
	expired map[string]bool
}

// API returns a resource server that trusts p: its opaque access tokens by
// introspection, its JWT access tokens by their signature and expiry.
func (p *Provider) API() *API {
	return &API{p: p, keys: oidc.NewRemoteKeySet(context.Background(), p.Issuer+"/jwks"), expired: map[string]bool{}}
}

// active reports whether token is a live access token of the provider.
func (a *API) active(ctx context.Context, token string) (bool, error) {
	if strings.Count(token, ".") != 2 {
		return a.p.Active(ctx, token)
	}
	payload, err := a.keys.VerifySignature(ctx, token)
	if err != nil {
		return false, nil // not signed by the provider
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return false, nil
	}
	return time.Now().Unix() < claims.Exp, nil
}

// Expire makes the API answer 401 to token from now on, as to an expired
// token. (Revoking an access token at oidc-provider would revoke its
// whole grant, refresh tokens included.)
func (a *API) Expire(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expired[token] = true
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/departments" {
		http.NotFound(w, r)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.mu.Lock()
	expired := a.expired[token]
	a.mu.Unlock()
	active := false
	if ok && token != "" && !expired {
		var err error
		if active, err = a.active(r.Context(), token); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	if !active {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`[{"id":1,"name":"Engineering"},{"id":2,"name":"Design"},{"id":3,"name":"Sales"},{"id":4,"name":"Support"},{"id":5,"name":"Finance"}]`))
}
