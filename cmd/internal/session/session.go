// Package session keeps a user's tokens in cookies: the access and refresh
// tokens HttpOnly, where page scripts cannot read them, and the access
// token's expiry (not secret) where they can.
package session

import (
	"net/http"
	"strconv"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/authclient"
)

// Cookie names.
const (
	AccessCookie  = "accessToken"
	RefreshCookie = "refreshToken"
	// ExpiresCookie holds the access token's expiry in Unix milliseconds. It
	// is readable by scripts and lives as long as the refresh cookie, so that
	// a page can tell whether a session exists and when to refresh ahead; it
	// carries no secret.
	ExpiresCookie = "accessExpires"
)

// ExpiresHeader carries the access token's expiry, in Unix milliseconds, on
// login and refresh answers. The browser module reads it.
const ExpiresHeader = "X-Access-Expires"

// Tokens is a new pair from the upstream: the project's one Tokens type,
// which authclient owns with the rest of the upstream contract.
type Tokens = authclient.Tokens

// Cookies sets and clears the session cookies.
type Cookies struct {
	// AccessMaxAge is the access cookie's Max-Age. It is meant to outlive the
	// token, so that an expired token still reaches the upstream, which
	// answers 401. If zero, one hour.
	AccessMaxAge time.Duration
	// RefreshMaxAge is the refresh cookie's Max-Age. If zero, seven days.
	RefreshMaxAge time.Duration
	// Insecure drops the Secure attribute, for plain-http development only.
	Insecure bool
}

// Set writes the Set-Cookie headers and ExpiresHeader for t.
func (c Cookies) Set(w http.ResponseWriter, t Tokens) {
	ms := strconv.FormatInt(t.Expires.UnixMilli(), 10)
	http.SetCookie(w, c.cookie(AccessCookie, t.AccessToken, c.accessMaxAge(), true))
	http.SetCookie(w, c.cookie(RefreshCookie, t.RefreshToken, c.refreshMaxAge(), true))
	http.SetCookie(w, c.cookie(ExpiresCookie, ms, c.refreshMaxAge(), false))
	w.Header().Set(ExpiresHeader, ms)
}

// Clear writes Set-Cookie headers that delete every session cookie.
func (c Cookies) Clear(w http.ResponseWriter) {
	for _, name := range []string{AccessCookie, RefreshCookie, ExpiresCookie} {
		http.SetCookie(w, c.cookie(name, "", -1, name != ExpiresCookie))
	}
}

// Read returns the value of the named cookie, or "" when it is absent.
func Read(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

func (c Cookies) cookie(name, value string, maxAge time.Duration, httpOnly bool) *http.Cookie {
	seconds := int(maxAge / time.Second)
	if maxAge < 0 {
		seconds = -1 // Max-Age=0: delete now
	}
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: seconds,
		HttpOnly: httpOnly, Secure: !c.Insecure, SameSite: http.SameSiteStrictMode,
	}
}

func (c Cookies) accessMaxAge() time.Duration {
	if c.AccessMaxAge <= 0 {
		return time.Hour
	}
	return c.AccessMaxAge
}

func (c Cookies) refreshMaxAge() time.Duration {
	if c.RefreshMaxAge <= 0 {
		return 7 * 24 * time.Hour
	}
	return c.RefreshMaxAge
}
