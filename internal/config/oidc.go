package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
)

// OIDC is the OpenID Connect mode's settings; Issuer is "" when the mode
// is off (the JSON contract).
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// Audience, if not empty, is the authorization request's audience
	// parameter (Auth0: the API its access tokens are for).
	Audience string
	// PublicURL is the server's external base URL (for the redirect URI).
	PublicURL *url.URL
}

// oidcFlags registers the OpenID Connect flags; finish reads them into c
// once the flags are parsed.
func oidcFlags(fs *flag.FlagSet, c *OIDC) (finish func() error) {
	var scopes, public string
	fs.StringVar(&c.Issuer, "oidc-issuer", "", "OpenID Connect mode: the provider's issuer `URL` (empty: the JSON upstream contract)")
	fs.StringVar(&c.ClientID, "oidc-client-id", "", "OpenID Connect mode: the client ID")
	fs.StringVar(&c.ClientSecret, "oidc-client-secret", "", "OpenID Connect mode: the client secret (prefer FWR_OIDC_CLIENT_SECRET: a flag shows in the process list)")
	fs.StringVar(&scopes, "oidc-scopes", "openid offline_access", "OpenID Connect mode: the scopes, separated by spaces")
	fs.StringVar(&c.Audience, "oidc-audience", "", "OpenID Connect mode: the authorization request's audience parameter, sent only when set (Auth0: the API `identifier` to issue JWT access tokens for)")
	fs.StringVar(&public, "public-url", "", "OpenID Connect mode: the server's external base `URL`; the redirect URI is {public-url}/auth/callback")
	return func() error {
		c.Scopes = strings.Fields(scopes)
		if c.Issuer == "" {
			return nil
		}
		if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("-oidc-issuer %q: want an absolute http(s) URL", c.Issuer)
		}
		if c.ClientID == "" {
			return errors.New("-oidc-issuer needs -oidc-client-id")
		}
		u, err := url.Parse(public)
		if public == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("-oidc-issuer needs -public-url, the server's absolute http(s) base URL (got %q)", public)
		}
		c.PublicURL = u
		if len(c.Scopes) == 0 {
			return errors.New("-oidc-scopes is empty")
		}
		return nil
	}
}
