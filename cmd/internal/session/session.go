// Package session keeps a user's tokens in cookies: the access and refresh
// tokens HttpOnly, where page scripts cannot read them, and the access
// token's expiry (not secret) where they can.
package session

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/authclient"
)

// Cookie names.
const (
	AccessCookie  = "accessToken"
	RefreshCookie = "refreshToken"
	// ExpiresCookie holds the access token's expiry in Unix milliseconds
	// and, after a dot, its lifetime in milliseconds ("1764316800000.60000";
	// see FormatExpires). It is readable by scripts and lives as long as the
	// refresh cookie, so that a page can tell whether a session exists and
	// when to refresh ahead; it carries no secret.
	ExpiresCookie = "accessExpires"
)

// ExpiresHeader carries the access token's expiry, in Unix milliseconds, on
// login and refresh answers. The browser module reads it.
const ExpiresHeader = "X-Access-Expires"

// LifetimeHeader carries the access token's lifetime in milliseconds next
// to ExpiresHeader, so that refresh-ahead windows can be sized to it.
const LifetimeHeader = "X-Access-Lifetime"

// FormatExpires is the value of ExpiresCookie for a token that expires at
// expires and lives lifetime from now: "<expires ms>.<lifetime ms>".
func FormatExpires(expires time.Time, lifetime time.Duration) string {
	return strconv.FormatInt(expires.UnixMilli(), 10) + "." + strconv.FormatInt(lifetime.Milliseconds(), 10)
}

// ParseExpires reads a value of ExpiresCookie: the expiry, and the
// lifetime (zero when the value has none, as cookies set before it did).
func ParseExpires(v string) (expires time.Time, lifetime time.Duration, ok bool) {
	exp, life, _ := strings.Cut(v, ".")
	ms, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return time.Time{}, 0, false
	}
	if l, err := strconv.ParseInt(life, 10, 64); err == nil && l > 0 {
		lifetime = time.Duration(l) * time.Millisecond
	}
	return time.UnixMilli(ms), lifetime, true
}

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

// Set writes the Set-Cookie headers, ExpiresHeader and LifetimeHeader for
// t. The lifetime is the time from now to t.Expires: the token's whole life
// when it was just issued.
func (c Cookies) Set(w http.ResponseWriter, t Tokens) {
	lifetime := max(time.Until(t.Expires), 0)
	http.SetCookie(w, c.cookie(AccessCookie, t.AccessToken, c.accessMaxAge(), true))
	http.SetCookie(w, c.cookie(RefreshCookie, t.RefreshToken, c.refreshMaxAge(), true))
	http.SetCookie(w, c.cookie(ExpiresCookie, FormatExpires(t.Expires, lifetime), c.refreshMaxAge(), false))
	w.Header().Set(ExpiresHeader, strconv.FormatInt(t.Expires.UnixMilli(), 10))
	w.Header().Set(LifetimeHeader, strconv.FormatInt(lifetime.Milliseconds(), 10))
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
