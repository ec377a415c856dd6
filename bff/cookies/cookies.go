// Package cookies keeps a user's session in cookies, as RFC 10017 (OAuth
// 2.0 for Browser-Based Applications) has a BFF do: the upstream's tokens
// and what the BFF knows of the session (Session) sealed with AES-256-GCM
// under the server's keys (Keys) into one HttpOnly cookie, split over as
// many cookies as it needs (each well under the 4,096 bytes a browser keeps
// of a cookie) and reassembled on read; and, readable by scripts, the
// access token's expiry (no secret), which the browser module needs.
//
// In secure mode (the default) the sealed cookies are named with the
// __Host-Http- prefix (__Host-Http-fwr-session.0, ...): a browser keeps
// such a cookie only from this host, over HTTPS, with Path=/, no Domain,
// HttpOnly and set by a server, so neither a sibling subdomain nor a page
// script can plant one. The expiry cookie is __Host-accessExpires. With
// Insecure they keep their plain names.
//
// Guard opens the session of each request once and hands it to the
// handlers (From); anything that does not open (tampered, truncated,
// reordered or missing chunks, an unknown key, an expired session) is no
// session. A browser that still holds the cookies of the previous format
// (__Host-accessToken, __Host-refreshToken) keeps its session: Guard reads
// them once and answers with the sealed session in their place.
package cookies

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Cookie names, without their prefixes.
const (
	// SessionCookie is the sealed session's name: its chunks are
	// SessionCookie+".0", ".1", ...
	SessionCookie = "fwr-session"
	// ExpiresCookie holds the access token's expiry in Unix milliseconds
	// and, after a dot, its lifetime in milliseconds ("1764316800000.60000";
	// see FormatExpires). It is readable by scripts and lives as long as the
	// session, so that a page can tell whether a session exists and when
	// to refresh ahead; it carries no secret.
	ExpiresCookie = "accessExpires"
	// BindCookie holds the session's Binding: HttpOnly, named with
	// HTTPOnlyPrefix in secure mode, set and cleared with the session.
	BindCookie = "fwr-bind"
	// LegacyAccessCookie and LegacyRefreshCookie are the cookies of the
	// previous format (fetch-with-refresh 0.2 and before), which held the
	// raw tokens: Guard upgrades them.
	LegacyAccessCookie  = "accessToken"
	LegacyRefreshCookie = "refreshToken"
)

// Prefixes of the cookies' names in secure mode.
const (
	// HostPrefix starts the expiry cookie's (and the legacy cookies') name.
	HostPrefix = "__Host-"
	// HTTPOnlyPrefix starts the sealed session's chunks' names.
	HTTPOnlyPrefix = "__Host-Http-"
)

// Sizes of the sealed session.
const (
	// MaxSealed is the largest sealed session, in bytes: an 8 KB access
	// token, a 2 KB refresh token and the claims fit.
	MaxSealed = 16 << 10
	// ChunkSize is the most base64 characters one cookie carries: with its
	// name and attributes a Set-Cookie stays well under 4,096 bytes. A
	// multiple of 4, so that each chunk decodes on its own.
	ChunkSize = 3800
	// MaxChunks is how many cookies a sealed session of MaxSealed bytes
	// (base64: 4 characters per 3 bytes) takes.
	MaxChunks = ((MaxSealed+2)/3*4 + ChunkSize - 1) / ChunkSize
)

// ExpiresHeader carries the access token's expiry, in Unix milliseconds, on
// login and refresh answers. The browser module reads it.
const ExpiresHeader = "X-Access-Expires"

// LifetimeHeader carries the access token's lifetime in milliseconds next
// to ExpiresHeader, so that refresh-ahead windows can be sized to it.
const LifetimeHeader = "X-Access-Lifetime"

// Errors of Codec.Read and Codec.Set.
var (
	// ErrNoSession: the request carries no session cookie.
	ErrNoSession = errors.New("cookies: no session")
	// ErrBadSession: the session cookies do not open (see the package
	// comment); the request has no session.
	ErrBadSession = errors.New("cookies: the session cookies do not open")
	// ErrDuplicate: a session cookie came twice (a sibling domain planted
	// one): the request is refused rather than one of them chosen.
	ErrDuplicate = errors.New("cookies: a session cookie came twice")
	// ErrTooLarge: the session does not fit in MaxSealed (see
	// *TooLargeError).
	ErrTooLarge = errors.New("cookies: the session is too large for its cookies")
)

// TooLargeError is Set's error for a session larger than MaxSealed: the
// sizes of what it holds, to log (never the values).
type TooLargeError struct {
	Sealed, AccessToken, RefreshToken, User int
}

// Error implements error.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%v: %d bytes sealed (at most %d): access token %d bytes, refresh token %d, user claims %d",
		ErrTooLarge, e.Sealed, MaxSealed, e.AccessToken, e.RefreshToken, e.User)
}

// Unwrap returns ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// FormatExpires is the value of ExpiresCookie for a token that expires at
// expires and lives lifetime: "<expires ms>.<lifetime ms>".
func FormatExpires(expires time.Time, lifetime time.Duration) string {
	return strconv.FormatInt(millis(expires), 10) + "." + strconv.FormatInt(lifetime.Milliseconds(), 10)
}

// ParseExpires reads a value of ExpiresCookie: the expiry, and the
// lifetime (zero when the value has none).
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

// Codec seals, sets, opens and clears the session cookies. Its zero value
// works, with secure cookies and a random key of its process.
type Codec struct {
	// Keys seal and open the sessions. If nil, a random key made once per
	// process: a restart ends every session, and no other instance can
	// open them (several instances need the same Keys).
	Keys *Keys
	// Claims names the claims about the user that a session keeps (from
	// the ID token, or the JSON upstream's "user" object). If nil,
	// DefaultClaims.
	Claims []string
	// RefreshMaxAge is the session cookies' Max-Age, and how long a sealed
	// session opens. If zero, seven days.
	RefreshMaxAge time.Duration
	// Insecure drops the Secure attribute and the prefixes, for plain-http
	// development only.
	Insecure bool
}

// Name returns the name on the wire of the cookie named plain: with its
// prefix in secure mode (HTTPOnlyPrefix for the sealed chunks and
// BindCookie, HostPrefix for the others), plain with Insecure.
func (c Codec) Name(plain string) string {
	switch {
	case c.Insecure:
		return plain
	case strings.HasPrefix(plain, SessionCookie+"."), plain == BindCookie:
		return HTTPOnlyPrefix + plain
	default:
		return HostPrefix + plain
	}
}

// chunkName is the plain name of chunk i.
func chunkName(i int) string { return SessionCookie + "." + strconv.Itoa(i) }

// NewSession returns the session a login with the pair t opens: id is the
// provider's session id ("" for a random one); of t.User, the claims that
// c.Claims names are kept.
func (c Codec) NewSession(t authclient.Tokens, id string) Session {
	return newSession(t, id, c.Claims)
}

// Renew returns s with the new pair t of a refresh.
func (c Codec) Renew(s Session, t authclient.Tokens) Session { return s.renew(t, c.Claims) }

// Set seals s into the session cookies on w, with BindCookie, ExpiresCookie,
// ExpiresHeader and LifetimeHeader, and deletes the other chunk names
// (a larger session's, whichever answer set them: two answers may cross)
// and, when r (the request, behind Guard) carried them, the legacy
// cookies. A session that does not fit is a *TooLargeError, and nothing
// is set.
func (c Codec) Set(w http.ResponseWriter, r *http.Request, s Session) error {
	s.NotAfter = time.Now().Add(c.refreshMaxAge())
	plain := s.encode()
	if n := len(plain) + sealOverhead; n > MaxSealed {
		return &TooLargeError{Sealed: n, AccessToken: len(s.AccessToken), RefreshToken: len(s.RefreshToken), User: len(s.User)}
	}
	value := base64.RawURLEncoding.EncodeToString(c.keys().seal(plain))
	n := 0
	for ; len(value) > 0; n++ {
		part := value[:min(ChunkSize, len(value))]
		value = value[len(part):]
		w.Header().Add("Set-Cookie", c.chunkLine(n, part)) // base64url: nothing for http.SetCookie to sanitize
	}
	for i := n; i < MaxChunks; i++ {
		http.SetCookie(w, c.cookie(chunkName(i), "", -1, true))
	}
	if st := stateOf(r); st == nil || st.legacy {
		c.clearLegacy(w)
	}
	bindAge := c.refreshMaxAge()
	if s.Binding == "" {
		bindAge = -1
	}
	http.SetCookie(w, c.cookie(BindCookie, s.Binding, bindAge, true))
	http.SetCookie(w, c.cookie(ExpiresCookie, FormatExpires(s.Expires, s.Lifetime), c.refreshMaxAge(), false))
	w.Header().Set(ExpiresHeader, strconv.FormatInt(millis(s.Expires), 10))
	w.Header().Set(LifetimeHeader, strconv.FormatInt(s.Lifetime.Milliseconds(), 10))
	return nil
}

// Clear deletes every session cookie: all chunks, the binding, the expiry
// cookie and the legacy cookies.
func (c Codec) Clear(w http.ResponseWriter) {
	for i := range MaxChunks {
		http.SetCookie(w, c.cookie(chunkName(i), "", -1, true))
	}
	http.SetCookie(w, c.cookie(BindCookie, "", -1, true))
	http.SetCookie(w, c.cookie(ExpiresCookie, "", -1, false))
	c.clearLegacy(w)
}

func (c Codec) clearLegacy(w http.ResponseWriter) {
	for _, name := range []string{LegacyAccessCookie, LegacyRefreshCookie} {
		http.SetCookie(w, c.cookie(name, "", -1, true))
	}
}

// chunkLine is the Set-Cookie line of chunk i, whose value is base64url:
// what http.SetCookie writes for it, without checking every byte of it.
func (c Codec) chunkLine(i int, value string) string {
	var b strings.Builder
	b.Grow(len(value) + 96)
	b.WriteString(c.Name(chunkName(i)))
	b.WriteByte('=')
	b.WriteString(value)
	b.WriteString("; Path=/; Max-Age=")
	b.WriteString(strconv.Itoa(int(c.refreshMaxAge() / time.Second)))
	b.WriteString("; HttpOnly")
	if !c.Insecure {
		b.WriteString("; Secure")
	}
	b.WriteString("; SameSite=Strict")
	return b.String()
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

func (c Codec) keys() *Keys {
	if c.Keys == nil || len(c.Keys.keys) == 0 { // an empty Keys is not one ParseKeys makes
		return processKeys()
	}
	return c.Keys
}

func (c Codec) refreshMaxAge() time.Duration {
	if c.RefreshMaxAge <= 0 {
		return 7 * 24 * time.Hour
	}
	return c.RefreshMaxAge
}
