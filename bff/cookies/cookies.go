// Package cookies keeps a user's tokens in cookies: the access and refresh
// tokens HttpOnly, where page scripts cannot read them, and the access
// token's expiry (not secret) where they can.
//
// In secure mode (the default) the cookies are named with the __Host-
// prefix (__Host-accessToken, ...): a browser accepts such a cookie only
// from this host, over HTTPS, with Path=/ and no Domain, so a sibling
// subdomain cannot plant one. With Insecure they keep their plain names.
//
// Handlers read the cookies by their plain names with Read, behind Guard,
// which maps the prefixed names to the plain ones, drops plain-named
// session cookies in secure mode (anyone on a sibling domain can set those)
// and refuses a request that carries one session cookie twice.
package cookies

import (
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/internal/reply"
	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Cookie names as handlers read them (Read). On the wire, in secure mode,
// they carry HostPrefix.
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

// HostPrefix starts the cookies' names in secure mode.
const HostPrefix = "__Host-"

// names are the session cookies' plain names.
var names = [...]string{AccessCookie, RefreshCookie, ExpiresCookie}

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

// Codec sets, reads and clears the session cookies.
type Codec struct {
	// AccessMaxAge is the access cookie's Max-Age. It is meant to outlive the
	// token, so that an expired token still reaches the upstream, which
	// answers 401. If zero, one hour.
	AccessMaxAge time.Duration
	// RefreshMaxAge is the refresh cookie's Max-Age. If zero, seven days.
	RefreshMaxAge time.Duration
	// Insecure drops the Secure attribute and the __Host- prefix, for
	// plain-http development only.
	Insecure bool
}

// Name returns the name on the wire of the session cookie named plain:
// HostPrefix+plain in secure mode, plain with Insecure.
func (c Codec) Name(plain string) string {
	if c.Insecure {
		return plain
	}
	return HostPrefix + plain
}

// Set writes the Set-Cookie headers, ExpiresHeader and LifetimeHeader for
// t. The lifetime is the time from now to t.Expires: the token's whole life
// when it was just issued.
func (c Codec) Set(w http.ResponseWriter, t authclient.Tokens) {
	lifetime := max(time.Until(t.Expires), 0)
	http.SetCookie(w, c.cookie(AccessCookie, t.AccessToken, c.accessMaxAge(), true))
	http.SetCookie(w, c.cookie(RefreshCookie, t.RefreshToken, c.refreshMaxAge(), true))
	http.SetCookie(w, c.cookie(ExpiresCookie, FormatExpires(t.Expires, lifetime), c.refreshMaxAge(), false))
	w.Header().Set(ExpiresHeader, strconv.FormatInt(t.Expires.UnixMilli(), 10))
	w.Header().Set(LifetimeHeader, strconv.FormatInt(lifetime.Milliseconds(), 10))
}

// Clear writes Set-Cookie headers that delete every session cookie.
func (c Codec) Clear(w http.ResponseWriter) {
	for _, name := range names {
		http.SetCookie(w, c.cookie(name, "", -1, name != ExpiresCookie))
	}
}

// Read returns the value of the cookie named name, or "" when it is absent
// or present more than once. Session cookies are read by their plain names
// behind Guard.
func Read(r *http.Request, name string) string {
	cs := r.CookiesNamed(name)
	if len(cs) != 1 {
		return ""
	}
	return cs[0].Value
}

// Guard hands next the request with the session cookies under their plain
// names, as Read expects them: in secure mode it takes the __Host- ones and
// drops plain-named session cookies. A request that carries a session
// cookie twice is refused with 400 JSON: the browser sends both when a
// sibling domain planted one, and taking the first would let it choose the
// session.
func (c Codec) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lines := r.Header["Cookie"]
		if len(lines) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		out, changed, dup := c.rewrite(lines)
		if dup != "" {
			reply.Error(w, http.StatusBadRequest, "duplicate_cookie", "the request carries the cookie "+dup+" twice: clear this site's cookies")
			return
		}
		if changed {
			r2 := *r // a shallow copy: only the Cookie entry of the header map is replaced
			r2.Header = maps.Clone(r.Header)
			r2.Header["Cookie"] = []string{out}
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

// rewrite maps the Cookie header lines to one line with the session
// cookies under their plain names. changed reports that it differs from
// the request's; dup names a session cookie that came twice.
func (c Codec) rewrite(lines []string) (out string, changed bool, dup string) {
	var seen [len(names)]bool
	var b strings.Builder
	changed = len(lines) > 1
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				changed = true
				continue
			}
			name, _, _ := strings.Cut(part, "=")
			plain, isSession, prefixed := c.sessionName(name)
			if isSession {
				if !prefixed && !c.Insecure {
					changed = true // a plain-named session cookie in secure mode: not ours
					continue
				}
				i := index(plain)
				if seen[i] {
					return "", false, name
				}
				seen[i] = true
				if prefixed {
					part = plain + part[len(name):]
					changed = true
				}
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
	}
	return b.String(), changed, ""
}

// sessionName reports whether a cookie name on the wire is a session
// cookie, its plain name, and whether it carried HostPrefix. With Insecure
// a prefixed name is not a session cookie.
func (c Codec) sessionName(name string) (plain string, ok, prefixed bool) {
	if !c.Insecure {
		if p, found := strings.CutPrefix(name, HostPrefix); found && index(p) >= 0 {
			return p, true, true
		}
	}
	if index(name) >= 0 {
		return name, true, false
	}
	return "", false, false
}

func index(plain string) int {
	for i, n := range names {
		if n == plain {
			return i
		}
	}
	return -1
}

func (c Codec) cookie(name, value string, maxAge time.Duration, httpOnly bool) *http.Cookie {
	seconds := int(maxAge / time.Second)
	if maxAge < 0 {
		seconds = -1 // Max-Age=0: delete now
	}
	return &http.Cookie{
		Name: c.Name(name), Value: value, Path: "/", MaxAge: seconds,
		HttpOnly: httpOnly, Secure: !c.Insecure, SameSite: http.SameSiteStrictMode,
	}
}

func (c Codec) accessMaxAge() time.Duration {
	if c.AccessMaxAge <= 0 {
		return time.Hour
	}
	return c.AccessMaxAge
}

func (c Codec) refreshMaxAge() time.Duration {
	if c.RefreshMaxAge <= 0 {
		return 7 * 24 * time.Hour
	}
	return c.RefreshMaxAge
}
