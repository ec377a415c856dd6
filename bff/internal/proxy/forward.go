package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/internal/csrf"
)

// ErrForwardHeader is wrapped by CheckForwardHeaders' error: a name that
// is not a header field name, or a header that the BFF owns and a
// browser's value must not reach the upstream.
var ErrForwardHeader = errors.New("proxy: a header that cannot be forwarded")

// owned are the headers the BFF sets or keeps to itself: the session's
// cookies and bearer token, the addressing it derives from the connection
// and the CSRF header it checks.
var owned = map[string]bool{
	"Cookie": true, "Authorization": true, "Host": true, "Forwarded": true,
	"X-Real-Ip": true, http.CanonicalHeaderKey(csrf.Header): true,
}

// CheckForwardHeaders returns an error wrapping ErrForwardHeader for the
// first of names (Config.ForwardHeaders) that is not an RFC 9110 field
// name, or that names a hop-by-hop header, Cookie, Authorization, Host,
// Forwarded, X-Forwarded-* or the CSRF header.
func CheckForwardHeaders(names []string) error {
	for _, name := range names {
		if name == "" || strings.IndexFunc(name, notTchar) >= 0 {
			return fmt.Errorf("%w: %q is not a header name", ErrForwardHeader, name)
		}
		k := http.CanonicalHeaderKey(name)
		if owned[k] || strings.HasPrefix(k, "X-Forwarded-") || slices.Contains(hopHeaders, k) {
			return fmt.Errorf("%w: %s is set by the BFF or kept to it", ErrForwardHeader, k)
		}
	}
	return nil
}

// notTchar reports whether c may not appear in a field name (RFC 9110
// §5.6.2's tchar).
func notTchar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return false
	}
	return !strings.ContainsRune("!#$%&'*+-.^_`|~", c)
}
